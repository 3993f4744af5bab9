"""The vault gate: one outage or authorization state for all documents.

When an upload fails for a reason that is not the document's (the vault is
down, overloaded, refuses our credentials, or cannot prove its identity over
TLS), every other document would fail the same way. So the gate closes: one
document at a time probes the vault on a capped exponential backoff with full
jitter, the others wait, and when a probe gets an answer the gate opens and the
waiting documents go in the order they were dropped. Pure state and decisions;
the pipeline does the I/O.

The gate also answers the pipeline's scheduling questions: may this document
upload now (:meth:`VaultGate.admit`), how does a document that may not wait
(:meth:`VaultGate.hold_back`), what follows an upload's failure
(:meth:`VaultGate.upload_failed`) or an answer (:meth:`VaultGate.answered`),
and which waiting documents become due, and when (:class:`Wake`): while the
gate is closed only the first of them is due, at the next probe, so thousands
of waiting documents do not churn at every probe.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field
from typing import Any

from .backoff import compute_backoff
from .states import Event, State


class GateState(enum.StrEnum):
    OPEN = "open"
    OUTAGE = "outage"  # transient failures: retry by backoff
    UNAUTHORIZED = "unauthorized"  # 401/403: wait for IT, probe slowly
    TLS = "tls"  # the vault's certificate does not verify: wait for IT, probe slowly


# Hold reasons that belong to the gate (not to the document): released when it opens.
GATE_HOLDS: frozenset[str] = frozenset({"vault-unauthorized", "vault-tls"})
# A wait of signed bytes with this reason follows the gate, not the document's own time.
GATE_WAITS: frozenset[str] = frozenset({"vault-unavailable"})

# Closed for a misconfiguration: documents wait ``held`` (reason: the gate's
# code) for IT, not ``waiting-retry``; retrying faster would change nothing.
MISCONFIGURED = frozenset({GateState.UNAUTHORIZED, GateState.TLS})


class Waiters:
    """Documents waiting for the gate, lowest drop id (first dropped) first."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._members: set[int] = set()

    def add(self, drop_id: int) -> None:
        if drop_id not in self._members:
            self._members.add(drop_id)
            heapq.heappush(self._heap, drop_id)

    def discard(self, drop_id: int) -> None:
        self._members.discard(drop_id)  # the heap entry is dropped lazily

    def first(self) -> int | None:
        while self._heap and self._heap[0] not in self._members:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def drain(self) -> list[int]:
        out = sorted(self._members)
        self._heap.clear()
        self._members.clear()
        return out

    def __contains__(self, drop_id: object) -> bool:
        return drop_id in self._members

    def __len__(self) -> int:
        return len(self._members)


@dataclass(frozen=True, slots=True)
class Wake:
    """What the pipeline schedules after a gate decision: ``due`` (drop id, wall time)
    pairs; ``rescan`` when a document was parked at the gate (it frees room for new
    claims); ``now`` to wake the loop at once."""

    due: tuple[tuple[int, float], ...] = ()
    rescan: bool = False
    now: bool = False


@dataclass(frozen=True, slots=True)
class Parking:
    """How a document the gate did not admit waits: the transition to apply, if any
    (``hold`` while the gate waits for IT, ``retry-later`` through an outage), with
    its reason; ``unschedule``: drop its own due time (the gate wakes it)."""

    event: Event | None
    reason: str | None
    params: dict[str, Any]
    next_attempt_at: float | None
    unschedule: bool
    wake: Wake


@dataclass
class VaultGate:
    base: float
    cap: float
    state: GateState = GateState.OPEN
    failures: int = 0
    next_probe: float = 0.0
    probe: int | None = None
    reason: str | None = None
    message: str = ""  # English, for logs and the health file
    params: dict[str, Any] = field(default_factory=dict)  # to render it in any language
    waiters: Waiters = field(default_factory=Waiters)

    def admit(self, drop_id: int, now: float) -> bool:
        """May this document upload now?

        While the gate is closed only one probe may, and it is the first dropped
        of the waiting documents, so that the queue resumes in drop order.
        """
        if self.state is GateState.OPEN or self.probe == drop_id:
            return True
        self.waiters.add(drop_id)
        if self.probe is None and now >= self.next_probe and self.waiters.first() == drop_id:
            self.probe = drop_id
            self.waiters.discard(drop_id)
            return True
        return False

    def answered(self) -> bool:
        """The vault answered (a success, or a verdict on the document): open the gate.

        Returns True when it was closed.
        """
        was_closed = self.state is not GateState.OPEN
        self.state, self.failures, self.probe = GateState.OPEN, 0, None
        self.reason, self.message, self.params = None, "", {}
        return was_closed

    @property
    def misconfigured(self) -> bool:
        """Closed until IT changes something (token, CA bundle), not by an outage."""
        return self.state in MISCONFIGURED

    def failed(
        self, now: float, rand: float, *, reason: str, message: str,
        retry_after: float | None = None, unauthorized: bool = False,
        state: GateState | None = None, params: dict[str, Any] | None = None,
    ) -> float:
        """Close (or keep closed) after a failure; returns the next probe time.

        ``state`` says why (default: an outage; ``unauthorized=True`` is
        :attr:`GateState.UNAUTHORIZED`)."""
        self.failures += 1
        delay = compute_backoff(self.failures, base=self.base, cap=self.cap, rand=rand,
                                retry_after=retry_after)
        if state is None:
            state = GateState.UNAUTHORIZED if unauthorized else GateState.OUTAGE
        if state in MISCONFIGURED:
            # Nothing changes until IT fixes the token or the CA bundle; the
            # pipeline probes at once when one of those files changes.
            delay = max(delay, self.cap)
        self.state = state
        self.reason, self.message, self.params = reason, message, dict(params or {})
        self.next_probe = now + delay
        self.probe = None
        return self.next_probe

    def drop_probe(self, drop_id: int) -> None:
        """The probing document ended without asking the vault (e.g. shutdown)."""
        if self.probe == drop_id:
            self.probe = None

    def probe_now(self, now: float) -> None:
        if self.state is not GateState.OPEN:
            self.next_probe = now

    # -- scheduling: the pipeline asks, the gate decides -----------------------------------
    @property
    def waiting(self) -> int:
        """Documents parked at the gate (signed: they cost nothing until it opens)."""
        return len(self.waiters)

    def probe_wake(self) -> Wake:
        """The first waiting document is due at the next probe (while closed)."""
        first = self.waiters.first()
        due = ((first, self.next_probe),) if first is not None and (
            self.state is not GateState.OPEN) else ()
        return Wake(due=due, rescan=True)

    def hold_back(self, drop_id: int, state: State) -> Parking:
        """``admit`` said no: the document waits for the gate, in drop order.

        Held by the gate already: it stays held (released when the gate opens).
        Otherwise it is held while the gate waits for IT (token, CA bundle), or
        waits to retry through an outage until the next probe."""
        self.waiters.add(drop_id)
        if state is State.HELD:
            wake = Wake() if self.misconfigured else self.probe_wake()
            return Parking(None, None, {}, None, False, wake)
        event: Event | None = None
        if self.misconfigured:
            event = Event.HOLD
        elif state is not State.WAITING_RETRY:
            event = Event.RETRY_LATER
        return Parking(event, self.reason, dict(self.params),
                       self.next_probe if event is Event.RETRY_LATER else None,
                       True, self.probe_wake())

    def upload_failed(
        self, drop_id: int, now: float, rand: float, *, reason: str, message: str,
        params: dict[str, Any], retry_after: float | None = None,
        state: GateState | None = None,
    ) -> float:
        """An upload failed for a reason that is not the document's: close the gate and
        park the document; returns the next probe time (then ask :meth:`probe_wake`)."""
        nxt = self.failed(now, rand, reason=reason, message=message, retry_after=retry_after,
                          params=params, state=state)
        self.waiters.add(drop_id)
        return nxt

    def opened(self, now: float) -> Wake | None:
        """The vault answered: open the gate. If it was closed, every waiting document
        is due now (in drop order); None when it was open already."""
        if not self.answered():
            return None
        return Wake(due=tuple((d, now) for d in self.waiters.drain()), now=True)

    def credentials_changed(self, state: GateState, now: float) -> Wake:
        """IT replaced the token (``UNAUTHORIZED``) or the CA bundle (``TLS``): if that
        is why the gate is closed, probe at once with the first waiting document."""
        if self.state is not state:
            return Wake()
        self.probe_now(now)
        first = self.waiters.first()
        return Wake(due=((first, now),) if first is not None else (), now=True)
