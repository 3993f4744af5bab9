"""next_action: what a drop needs next, as a table of cases (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from econnector.actions import Action, Do, Reason, hold_kind, next_action
from econnector.states import State
from econnector.statestore import Drop

NOW = 1000.0

BASE = Drop(
    id=1, stem="s", pdf_name="s.pdf", sidecar_name="s.yaml", state=State.RECEIVED,
    pdf_stat=None, sidecar_stat=None, reason=None, message=None, attempts=0,
    next_attempt_at=None, provider_code="10000000", document_id="D-1", doc_key=None,
    content_hash=None, original_sha256=None, meta=None, language=None, signed_sha256=None,
    signature=None, signed_at=None, delivery=None, delivered_at=None, error=None,
    duplicate_of=None, signed_archive=None, receipt=None, finalized_at=None,
    created_at=0.0, updated_at=0.0,
)
SIGNED = "ab" * 32


def drop(state: State, **fields: Any) -> Drop:
    return dataclasses.replace(BASE, state=state, **fields)


CASES: list[tuple[str, Drop, bool, Action]] = [
    ("new", drop(State.RECEIVED), True, Action(Do.RECEIVE, Reason.NEW)),
    ("signed", drop(State.SIGNED, signed_sha256=SIGNED), True,
     Action(Do.UPLOAD, Reason.SIGNED, gated=True)),
    ("interrupted upload", drop(State.DELIVERING, signed_sha256=SIGNED), True,
     Action(Do.DELIVER, Reason.UPLOAD_UNCONFIRMED, gated=True)),
    ("backing off, unsigned", drop(State.WAITING_RETRY, reason="file-busy",
                                   next_attempt_at=NOW + 5), True,
     Action(Do.SLEEP, Reason.BACKING_OFF, until=NOW + 5)),
    ("backing off, signed", drop(State.WAITING_RETRY, reason="internal-error",
                                 signed_sha256=SIGNED, next_attempt_at=NOW + 5), True,
     Action(Do.SLEEP, Reason.BACKING_OFF, until=NOW + 5)),
    ("retry due, unsigned", drop(State.WAITING_RETRY, reason="file-busy",
                                 next_attempt_at=NOW), True, Action(Do.RESUME, Reason.RETRY_DUE)),
    ("retry due, signed", drop(State.WAITING_RETRY, reason="internal-error",
                               signed_sha256=SIGNED, next_attempt_at=NOW - 1), True,
     Action(Do.UPLOAD, Reason.RETRY_DUE, gated=True)),
    # A wait on the vault follows the gate, not the document's own time.
    ("vault outage", drop(State.WAITING_RETRY, reason="vault-unavailable",
                          signed_sha256=SIGNED, next_attempt_at=NOW + 60), True,
     Action(Do.UPLOAD, Reason.VAULT_OUTAGE, gated=True)),
    ("identity can sign again", drop(State.HELD, reason="identity-locked"), True,
     Action(Do.RELEASE, Reason.IDENTITY_READY)),
    ("identity still locked", drop(State.HELD, reason="identity-locked"), False,
     Action(Do.IDLE, Reason.IDENTITY_HOLD)),
    ("certificate expired", drop(State.HELD, reason="certificate-expired"), False,
     Action(Do.IDLE, Reason.IDENTITY_HOLD)),
    ("certificate valid again", drop(State.HELD, reason="certificate-not-yet-valid"), True,
     Action(Do.RELEASE, Reason.IDENTITY_READY)),
    ("vault refuses us", drop(State.HELD, reason="vault-unauthorized", signed_sha256=SIGNED),
     True, Action(Do.RELEASE, Reason.VAULT_HOLD, gated=True)),
    ("vault not trusted", drop(State.HELD, reason="vault-tls", signed_sha256=SIGNED), False,
     Action(Do.RELEASE, Reason.VAULT_HOLD, gated=True)),
    ("held for a person", drop(State.HELD, reason="internal-error", signed_sha256=SIGNED),
     True, Action(Do.IDLE, Reason.PERSON_HOLD)),
    ("delivered, files pending", drop(State.DELIVERED, signed_sha256=SIGNED), True,
     Action(Do.FINALIZE, Reason.OUTCOME_PENDING)),
    ("rejected, files pending", drop(State.REJECTED), True,
     Action(Do.FINALIZE, Reason.OUTCOME_PENDING)),
    ("opted out, files pending", drop(State.PATIENT_OPTED_OUT, signed_sha256=SIGNED), True,
     Action(Do.FINALIZE, Reason.OUTCOME_PENDING)),
    ("delivered and finalized", drop(State.DELIVERED, finalized_at=NOW), True,
     Action(Do.IDLE, Reason.FINISHED)),
    ("rejected and finalized", drop(State.REJECTED, finalized_at=NOW), True,
     Action(Do.IDLE, Reason.FINISHED)),
]


@pytest.mark.parametrize("d, ready, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_next_action(d: Drop, ready: bool, expected: Action) -> None:
    assert next_action(d, NOW, identity_ready=ready) == expected


def test_every_state_has_an_answer() -> None:
    for state in State:
        assert isinstance(next_action(drop(state), NOW, True), Action)


@pytest.mark.parametrize("code, kind", [
    ("identity-locked", Reason.IDENTITY_HOLD),
    ("certificate-expired", Reason.IDENTITY_HOLD),
    ("certificate-not-yet-valid", Reason.IDENTITY_HOLD),
    ("vault-unauthorized", Reason.VAULT_HOLD),
    ("vault-tls", Reason.VAULT_HOLD),
    ("internal-error", Reason.PERSON_HOLD),
    (None, Reason.PERSON_HOLD),
])
def test_hold_kind(code: str | None, kind: Reason) -> None:
    assert hold_kind(code) is kind
