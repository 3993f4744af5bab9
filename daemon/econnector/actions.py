"""What a drop needs next: a pure function of its state, ``now`` and whether its
doctor's identity can sign.

The pipeline runs a drop by asking :func:`next_action` until the answer is to
wait. Hold and wait reasons are classified once (:func:`hold_kind`) instead of
comparing reason strings in several places. An action marked ``gated`` needs
the vault gate's admission first (the pipeline asks the gate, which may park
the document instead).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .identities import IDENTITY_HOLDS
from .states import State
from .statestore import Drop
from .vault_gate import GATE_HOLDS, GATE_WAITS


class Do(enum.StrEnum):
    RECEIVE = "receive"    # validate, check for duplicates, sign
    UPLOAD = "upload"      # to 'delivering', then upload the signed bytes
    DELIVER = "deliver"    # upload again what 'delivering' may have sent (same bytes, same key)
    RESUME = "resume"      # back from 'waiting-retry' to what the disk allows
    RELEASE = "release"    # out of 'held' to what the disk allows
    FINALIZE = "finalize"  # the practice's files, then the originals away
    SLEEP = "sleep"        # due again at ``until``
    IDLE = "idle"          # nothing until something outside changes (a rescan, the gate)


class Reason(enum.StrEnum):
    NEW = "new"                            # claimed, not signed yet
    SIGNED = "signed"                      # signed bytes committed, not uploaded
    UPLOAD_UNCONFIRMED = "upload-unconfirmed"  # 'delivering' when the daemon stopped
    BACKING_OFF = "backing-off"            # waiting-retry before its time
    RETRY_DUE = "retry-due"                # waiting-retry whose time has come
    VAULT_OUTAGE = "vault-outage"          # signed, waiting on the vault: the gate decides
    IDENTITY_READY = "identity-ready"      # held for an identity that can sign now
    IDENTITY_HOLD = "identity-hold"        # held until the doctor's identity can sign
    VAULT_HOLD = "vault-hold"              # held until the vault gate opens (token, TLS)
    PERSON_HOLD = "person-hold"            # held until a person looks (a repeated internal error)
    OUTCOME_PENDING = "outcome-pending"    # decided; its files are not all written yet
    FINISHED = "finished"                  # decided and finalized


@dataclass(frozen=True, slots=True)
class Action:
    do: Do
    reason: Reason
    gated: bool = False  # the vault gate must admit it first
    until: float | None = None  # SLEEP: the wall time it is due again


def hold_kind(reason: str | None) -> Reason:
    """What a ``held`` drop waits for, by its reason code."""
    if reason in IDENTITY_HOLDS:
        return Reason.IDENTITY_HOLD
    if reason in GATE_HOLDS:
        return Reason.VAULT_HOLD
    return Reason.PERSON_HOLD


def next_action(d: Drop, now: float, identity_ready: bool) -> Action:
    """The next step of ``d`` at ``now``; ``identity_ready``: its doctor can sign now."""
    state = d.state
    if state is State.RECEIVED:
        return Action(Do.RECEIVE, Reason.NEW)
    if state is State.SIGNED:
        return Action(Do.UPLOAD, Reason.SIGNED, gated=True)
    if state is State.DELIVERING:
        # The upload may have happened: same bytes, same key again; the vault replays.
        return Action(Do.DELIVER, Reason.UPLOAD_UNCONFIRMED, gated=True)
    if state is State.WAITING_RETRY:
        return _after_wait(d, now)
    if state is State.HELD:
        kind = hold_kind(d.reason)
        if kind is Reason.IDENTITY_HOLD and identity_ready:
            return Action(Do.RELEASE, Reason.IDENTITY_READY)
        if kind is Reason.VAULT_HOLD:
            return Action(Do.RELEASE, kind, gated=True)
        return Action(Do.IDLE, kind)
    if d.finalized_at is None:
        return Action(Do.FINALIZE, Reason.OUTCOME_PENDING)
    return Action(Do.IDLE, Reason.FINISHED)


def _after_wait(d: Drop, now: float) -> Action:
    # Waits on the vault follow the gate, not the document's own time.
    on_vault = d.signed and d.reason in GATE_WAITS
    if not on_vault and (d.next_attempt_at or 0) > now:
        return Action(Do.SLEEP, Reason.BACKING_OFF, until=d.next_attempt_at)
    if not d.signed:
        return Action(Do.RESUME, Reason.RETRY_DUE)
    return Action(Do.UPLOAD, Reason.VAULT_OUTAGE if on_vault else Reason.RETRY_DUE, gated=True)
