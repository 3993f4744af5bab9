"""The state machine table: allowed paths and refused ones."""

import pytest

from econnector.errors import (
    EconnectorError,
    Held,
    InternalError,
    PatientOptedOut,
    Rejected,
    Transient,
)
from econnector.states import ACTIVE, TERMINAL, Event, InvalidTransition, State, next_state


def test_happy_path() -> None:
    s = State.RECEIVED
    for ev, expected in [
        (Event.SIGNED, State.SIGNED),
        (Event.UPLOAD, State.DELIVERING),
        (Event.CONFIRMED, State.DELIVERED),
    ]:
        s = next_state(s, ev, signed=True)
        assert s is expected


@pytest.mark.parametrize("signed,expected", [(False, State.RECEIVED), (True, State.SIGNED)])
def test_resume_and_release_go_back_to_what_the_disk_allows(signed: bool, expected: State) -> None:
    assert next_state(State.WAITING_RETRY, Event.RESUME, signed=signed) is expected
    assert next_state(State.HELD, Event.RELEASE, signed=signed) is expected


def test_upload_from_waiting_needs_signed_bytes() -> None:
    assert next_state(State.WAITING_RETRY, Event.UPLOAD, signed=True) is State.DELIVERING
    with pytest.raises(InvalidTransition):
        next_state(State.WAITING_RETRY, Event.UPLOAD, signed=False)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(Event))
def test_terminal_states_accept_nothing(terminal: State, event: Event) -> None:
    with pytest.raises(InvalidTransition):
        next_state(terminal, event, signed=True)


@pytest.mark.parametrize("state", sorted(ACTIVE))
def test_every_active_state_can_be_rejected(state: State) -> None:
    assert next_state(state, Event.REJECT) is State.REJECTED


def test_cannot_skip_signing() -> None:
    with pytest.raises(InvalidTransition):
        next_state(State.RECEIVED, Event.UPLOAD)
    with pytest.raises(InvalidTransition):
        next_state(State.RECEIVED, Event.CONFIRMED)


def test_patient_opted_out_is_final_and_only_after_an_upload_of_signed_bytes() -> None:
    assert State.PATIENT_OPTED_OUT in TERMINAL and State.PATIENT_OPTED_OUT not in ACTIVE
    assert next_state(State.DELIVERING, Event.OPTED_OUT, signed=True) is State.PATIENT_OPTED_OUT
    for state in ACTIVE - {State.DELIVERING}:
        with pytest.raises(InvalidTransition):
            next_state(state, Event.OPTED_OUT, signed=True)
    with pytest.raises(InvalidTransition):
        next_state(State.DELIVERING, Event.OPTED_OUT, signed=False)


def test_an_invalid_transition_is_an_internal_error_in_the_tree() -> None:
    """A bug of ours: in the error tree with code internal-error, never a document's fault."""
    with pytest.raises(InvalidTransition) as info:
        next_state(State.RECEIVED, Event.UPLOAD)
    err = info.value
    assert isinstance(err, InternalError) and isinstance(err, EconnectorError)
    assert not isinstance(err, Rejected | Transient | Held | PatientOptedOut)
    assert err.code == "internal-error"
    assert str(err) == "upload is not allowed in state received (signed=False)"
    assert err.as_dict()["params"]["detail"] == str(err)
    assert err.message == f"econnector failed unexpectedly ({err})."
