"""The per-document state machine as a pure table.

::

    received ──signed──▶ signed ──upload──▶ delivering ──confirmed──▶ delivered
       │  ▲                │  ▲                 │  └──opted-out──▶ patient-opted-out
       │  └───resume───────┼──┼── waiting-retry ◀┘ (retry-later)
       │                   │  └────upload──────┘
       └──replayed (identical duplicate of a delivered document)──▶ delivered
    any non-terminal ──reject──▶ rejected       any non-terminal ──hold──▶ held
    held ──release──▶ received | signed (whichever the work on disk allows)
    any non-terminal ──taken-over──▶ taken-over  (another node of a shared outbox took
                                                  the pair while this one was away)

``delivered``, ``rejected`` and ``patient-opted-out`` are terminal. The last
is not an error: the vault will never take a document for a patient who opted
out, so it ends signed but unsent, and staff hand over the printed copy. Where
a transition depends on whether signed bytes already exist, the caller says so
with ``signed``.
"""

from __future__ import annotations

import enum

from .errors import InternalError


class State(enum.StrEnum):
    RECEIVED = "received"
    SIGNED = "signed"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    WAITING_RETRY = "waiting-retry"
    REJECTED = "rejected"
    HELD = "held"
    PATIENT_OPTED_OUT = "patient-opted-out"
    TAKEN_OVER = "taken-over"


class Event(enum.StrEnum):
    CLAIM = "claim"  # the drop row is created (``received``); not in the table
    SIGNED = "signed"
    UPLOAD = "upload"
    CONFIRMED = "confirmed"
    RETRY_LATER = "retry-later"
    RESUME = "resume"
    REPLAYED = "replayed"
    REJECT = "reject"
    HOLD = "hold"
    RELEASE = "release"
    OPTED_OUT = "opted-out"
    TAKEN_OVER = "taken-over"


TERMINAL = frozenset({State.DELIVERED, State.REJECTED, State.PATIENT_OPTED_OUT,
                      State.TAKEN_OVER})
ACTIVE = frozenset(State) - TERMINAL

S, E = State, Event
# (state, event, signed) -> next state; ``None`` for signed means "either".
_TABLE: dict[tuple[State, Event, bool | None], State] = {
    (S.RECEIVED, E.SIGNED, None): S.SIGNED,
    (S.RECEIVED, E.REPLAYED, None): S.DELIVERED,
    (S.SIGNED, E.UPLOAD, None): S.DELIVERING,
    (S.WAITING_RETRY, E.UPLOAD, True): S.DELIVERING,
    (S.WAITING_RETRY, E.RESUME, False): S.RECEIVED,
    (S.WAITING_RETRY, E.RESUME, True): S.SIGNED,
    (S.DELIVERING, E.CONFIRMED, None): S.DELIVERED,
    (S.DELIVERING, E.OPTED_OUT, True): S.PATIENT_OPTED_OUT,
    (S.HELD, E.RELEASE, False): S.RECEIVED,
    (S.HELD, E.RELEASE, True): S.SIGNED,
}
for _s in (S.RECEIVED, S.SIGNED, S.DELIVERING):
    _TABLE[(_s, E.RETRY_LATER, None)] = S.WAITING_RETRY
for _s in ACTIVE:
    _TABLE[(_s, E.REJECT, None)] = S.REJECTED
    _TABLE[(_s, E.TAKEN_OVER, None)] = S.TAKEN_OVER
    if _s is not S.HELD:
        _TABLE[(_s, E.HOLD, None)] = S.HELD


class InvalidTransition(InternalError):
    """An event the table does not allow in this state: a bug of ours (``internal-error``)."""


def next_state(state: State, event: Event, *, signed: bool = False) -> State:
    """The state after ``event``; raises InvalidTransition for anything not in the table."""
    for key in ((state, event, None), (state, event, signed)):
        if key in _TABLE:
            return _TABLE[key]
    raise InvalidTransition(f"{event} is not allowed in state {state} (signed={signed})")
