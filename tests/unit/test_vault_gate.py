"""The vault gate: who may upload through an outage, who waits how, and who is due when.
Pure decisions over the gate's own state and a given ``now``."""

from __future__ import annotations

from econnector.states import Event, State
from econnector.vault_gate import GateState, VaultGate, Wake

NOW = 100.0


def closed(state: GateState = GateState.OUTAGE) -> VaultGate:
    gate = VaultGate(base=1.0, cap=8.0)
    gate.failed(NOW, 0.5, reason="vault-unavailable" if state is GateState.OUTAGE
                else "vault-unauthorized", message="down", state=state)
    return gate


def test_an_open_gate_admits_everyone() -> None:
    gate = VaultGate(base=1.0, cap=8.0)
    assert all(gate.admit(d, NOW) for d in (3, 1, 2))
    assert gate.waiting == 0


def test_a_closed_gate_admits_one_probe_the_first_dropped_at_its_time() -> None:
    gate = closed()
    assert gate.next_probe == NOW + 0.5  # full jitter: base * rand
    assert not gate.admit(7, NOW)  # before its time
    assert not gate.admit(5, NOW)  # 5 waits too; dropped before 7, it is first now
    assert not gate.admit(7, gate.next_probe)  # its time, but not the first
    assert gate.admit(5, gate.next_probe)  # the first, at its time: the probe
    assert gate.probe == 5 and not gate.admit(7, gate.next_probe + 9)
    assert gate.admit(5, NOW)  # the probe stays admitted


def test_hold_back_through_an_outage_waits_to_retry_until_the_next_probe() -> None:
    gate = closed()
    parking = gate.hold_back(4, State.SIGNED)
    assert (parking.event, parking.reason, parking.next_attempt_at) == (
        Event.RETRY_LATER, "vault-unavailable", gate.next_probe)
    assert parking.unschedule
    # only the first waiter is due, at the next probe; a rescan may claim more meanwhile
    assert parking.wake == Wake(due=((4, gate.next_probe),), rescan=True)
    # already waiting: no new transition
    assert gate.hold_back(4, State.WAITING_RETRY).event is None


def test_hold_back_while_the_vault_refuses_us_holds_for_it() -> None:
    gate = closed(GateState.UNAUTHORIZED)
    assert gate.misconfigured and gate.next_probe == NOW + 8.0  # probes slowly: the cap
    parking = gate.hold_back(4, State.DELIVERING)
    assert (parking.event, parking.reason, parking.next_attempt_at) == (
        Event.HOLD, "vault-unauthorized", None)
    # a document held by the gate stays held; nothing to schedule while IT must act
    held = gate.hold_back(6, State.HELD)
    assert (held.event, held.unschedule, held.wake) == (None, False, Wake())
    assert gate.waiting == 2


def test_an_answer_opens_the_gate_and_everyone_waiting_goes_in_drop_order() -> None:
    gate = closed()
    for d in (9, 3, 6):
        gate.hold_back(d, State.SIGNED)
    wake = gate.opened(NOW + 1)
    assert wake == Wake(due=((3, NOW + 1), (6, NOW + 1), (9, NOW + 1)), now=True)
    assert gate.state is GateState.OPEN and gate.waiting == 0
    assert gate.opened(NOW + 2) is None  # open already: nothing to wake


def test_an_upload_failure_closes_the_gate_and_parks_the_document() -> None:
    gate = VaultGate(base=1.0, cap=8.0)
    nxt = gate.upload_failed(2, NOW, 0.25, reason="vault-unavailable", message="503",
                             params={"detail": "HTTP 503"}, retry_after=3.0)
    assert nxt == NOW + 3.0  # the server's Retry-After is a lower bound
    assert gate.state is GateState.OUTAGE and gate.waiting == 1 and gate.failures == 1
    assert gate.probe_wake() == Wake(due=((2, nxt),), rescan=True)
    tls = gate.upload_failed(2, NOW, 0.0, reason="vault-tls", message="x", params={},
                             state=GateState.TLS)
    assert tls == NOW + 8.0 and gate.state is GateState.TLS


def test_new_credentials_wake_the_first_waiter_only_for_their_own_refusal() -> None:
    gate = closed(GateState.UNAUTHORIZED)
    gate.hold_back(5, State.SIGNED)
    gate.hold_back(2, State.SIGNED)
    assert gate.credentials_changed(GateState.TLS, NOW + 1) == Wake()  # not why it is closed
    assert gate.credentials_changed(GateState.UNAUTHORIZED, NOW + 1) == Wake(
        due=((2, NOW + 1),), now=True)
    assert gate.next_probe == NOW + 1
    assert gate.admit(2, NOW + 1)  # the first waiter probes at once
