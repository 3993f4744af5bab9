"""The notify protocol's pure parts: the watchdog interval, the socket address, the no-op
without a socket, the status line. Real datagrams are in tests/e2e/test_sdnotify_e2e.py
(this tier opens no socket)."""

from __future__ import annotations

import pytest

from econnector import runtime, sdnotify
from econnector.states import State

ME = 4242


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1000000"}, 0.5),
        ({"WATCHDOG_USEC": " 1000000 "}, 0.5),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": ""}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(ME)}, 0.5),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(ME + 1)}, None),  # another process's
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": ""}, 0.5),
        ({"WATCHDOG_PID": str(ME)}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval(env, pid=ME) == expected


def test_watchdog_pid_defaults_to_this_process() -> None:
    import os

    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert sdnotify.watchdog_interval(env) == 1.0


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@/org/freedesktop/systemd1/notify/123", b"\0/org/freedesktop/systemd1/notify/123"),
        ("@x", b"\0x"),
        ("@", None),
        ("vsock:2:1234", None),
        ("relative/path", None),
    ],
)
def test_socket_address(value: str, address: str | bytes | None) -> None:
    assert sdnotify.socket_address(value) == address


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    n = sdnotify.Notifier.from_env({"WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    assert n.watchdog_interval is None  # no socket: no watchdog either
    assert [n.ready(), n.status("x"), n.watchdog(), n.stopping()] == [False] * 4
    n.close()


def test_from_env_takes_the_variables_out_of_the_environment() -> None:
    import os

    env = {"NOTIFY_SOCKET": "@econnector-test", "WATCHDOG_USEC": "1000000",
           "WATCHDOG_PID": str(os.getpid()), "PATH": "/usr/bin"}
    n = sdnotify.Notifier.from_env(env)
    assert env == {"PATH": "/usr/bin"}  # a child process cannot speak for the service
    assert n.address == b"\0econnector-test"
    assert n.watchdog_interval == 0.5
    kept = {"NOTIFY_SOCKET": "/run/x"}
    sdnotify.Notifier.from_env(kept, unset=False)
    assert kept == {"NOTIFY_SOCKET": "/run/x"}


def test_an_unsupported_address_is_a_no_op() -> None:
    n = sdnotify.Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1"})
    assert not n.enabled and not n.ready()


def test_status_line_counts_and_states_only() -> None:
    counts = {State.DELIVERED.value: 12, State.RECEIVED.value: 1, State.SIGNED.value: 1,
              State.WAITING_RETRY.value: 1, State.HELD.value: 2, State.REJECTED.value: 1}
    assert sdnotify.status_line(counts, "open", True) == (
        "12 delivered, 3 waiting, 2 held, 1 rejected; vault open")
    assert sdnotify.status_line({}, "outage", False) == (
        "0 delivered, 0 waiting, 0 held, 0 rejected; vault outage; "
        "file watcher down (rescans only)")


def test_every_waiting_state_is_a_state() -> None:
    assert {s.value for s in State} >= sdnotify._WAITING


def test_the_stall_hook_is_off_unless_set() -> None:
    assert runtime._test_stall({}) is None
    assert runtime._test_stall({runtime.STALL_ENV: "2.5"}) == 2.5
    with pytest.raises(SystemExit):
        runtime._test_stall({runtime.STALL_ENV: "long"})


class _Sent(sdnotify.Notifier):
    """A notifier that keeps what it would send (this tier opens no socket)."""

    def __init__(self) -> None:
        super().__init__("/run/test-notify")
        self.sent: list[str] = []

    def send(self, message: str) -> bool:
        self.sent.append(message)
        return True


@pytest.mark.parametrize(("seconds", "message"), [
    (90, "EXTEND_TIMEOUT_USEC=90000000"),
    (runtime.START_EXTENSION, "EXTEND_TIMEOUT_USEC=90000000"),
    (1.5, "EXTEND_TIMEOUT_USEC=1500000"),
    (0.0000004, "EXTEND_TIMEOUT_USEC=0"),
    (-3, "EXTEND_TIMEOUT_USEC=0"),
])
def test_extend_timeout_asks_for_microseconds(seconds: float, message: str) -> None:
    n = _Sent()
    assert n.extend_timeout(seconds)
    assert n.sent == [message]


def test_extend_timeout_without_a_socket_is_a_no_op() -> None:
    assert sdnotify.Notifier.from_env({}).extend_timeout(90) is False
