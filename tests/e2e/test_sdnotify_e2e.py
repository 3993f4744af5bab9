"""systemd's notify protocol against a real Unix datagram socket passed as ``NOTIFY_SOCKET``
(issue 13, point 1): READY=1 once the daemon is up, STATUS= lines with counts, WATCHDOG=1
from the event loop at half of ``WATCHDOG_USEC`` that stops while the loop is blocked and
comes back after, STOPPING=1 on SIGTERM, exit 0.

The loop is blocked with the test-only ``ECONNECTOR_TEST_STALL_LOOP_S`` (runtime.py)."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from econnector import runtime, sdnotify
from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf

pytestmark = pytest.mark.e2e


class Receiver:
    """A datagram socket playing systemd's part: every message, with when it arrived."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8")))

    def texts(self) -> list[str]:
        return [m for _, m in self.messages]

    def first(self, message: str) -> float | None:
        return next((t for t, m in self.messages if m == message), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _socket_path(tmp_path: Path) -> Path:
    """A path short enough for sun_path (108 bytes)."""
    path = tmp_path / "notify.sock"
    assert len(os.fsencode(path)) < 100, f"tmp path too long for AF_UNIX: {path}"
    return path


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(str(_socket_path(tmp_path)))
    yield r
    r.close()


def test_the_notifier_sends_each_message_to_a_path_socket(receiver: Receiver,
                                                          tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(_socket_path(tmp_path)), "WATCHDOG_USEC": "1000000"}
    n = sdnotify.Notifier.from_env(env)
    assert n.watchdog_interval == 0.5
    assert all([n.ready(), n.status("3 delivered,\n 0 waiting"), n.watchdog(), n.stopping()])
    wait_for(lambda: len(receiver.messages) == 4, 5, "four datagrams")
    assert receiver.texts() == ["READY=1", "STATUS=3 delivered, 0 waiting", "WATCHDOG=1",
                                "STOPPING=1"]
    n.close()


def test_the_notifier_speaks_to_an_abstract_socket() -> None:
    name = f"econnector-test-{os.getpid()}-{time.monotonic_ns()}"
    r = Receiver(b"\0" + name.encode())
    try:
        n = sdnotify.Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        wait_for(lambda: r.texts() == ["READY=1"], 5, "READY=1 on the abstract socket")
        n.close()
    finally:
        r.close()


def test_a_notifier_never_raises_nor_blocks(tmp_path: Path) -> None:
    gone = sdnotify.Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})
    assert gone.enabled and gone.ready() is False and gone.watchdog() is False
    # a receiver that never reads: the queue fills, sends are dropped, nothing blocks
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(str(_socket_path(tmp_path)))
    try:
        n = sdnotify.Notifier.from_env({"NOTIFY_SOCKET": str(_socket_path(tmp_path))})
        began = time.monotonic()
        sent = [n.status("x" * 200) for _ in range(5000)]
        assert time.monotonic() - began < 5
        assert sent[0] and not sent[-1]
        n.close()
    finally:
        deaf.close()


def _gaps(stamps: list[float]) -> list[tuple[float, float]]:
    return [(a, b - a) for a, b in itertools.pairwise(stamps)]


def test_ready_status_watchdog_and_stopping_from_the_real_daemon(
        receiver: Receiver, tmp_path: Path) -> None:
    stall = 3.0
    cfg = write_config(tmp_path / "practice", [(PROVIDER, make_identity(tmp_path / "id"))])
    env = {"NOTIFY_SOCKET": str(_socket_path(tmp_path)), "WATCHDOG_USEC": "1000000",
           runtime.STALL_ENV: str(stall)}
    with running_daemon(cfg, env=env) as d:
        ready = wait_for(lambda: receiver.first("READY=1"), 30, "READY=1",
                         on_fail=lambda: f"{receiver.texts()}\n{d.log()}")
        # a long start asks for more time first (prepare), then says ready
        assert receiver.texts()[:2] == [
            f"EXTEND_TIMEOUT_USEC={int(runtime.START_EXTENSION * 1_000_000)}", "READY=1",
        ], receiver.texts()
        # the stall runs from ready + STALL_AFTER for `stall` seconds; wait well past it
        resumed_by = ready + runtime.STALL_AFTER + stall + 2.0
        wait_for(lambda: time.monotonic() > resumed_by, 30, "the end of the stall")

        dogs = [t for t, m in receiver.messages if m == "WATCHDOG=1" and t >= ready]
        gaps = _gaps(dogs)
        middle = ready + runtime.STALL_AFTER + stall / 2
        stalled = [(start, gap) for start, gap in gaps if start < middle < start + gap]
        assert stalled and stalled[0][1] >= stall - 0.5, (
            f"WATCHDOG=1 went on while the loop was blocked: {[g for _, g in gaps]}")
        before = [t for t in dogs if t < stalled[0][0] + 0.01]
        after = [t for t in dogs if t > stalled[0][0] + stalled[0][1] - 0.01]
        assert len(before) >= 2 and len(after) >= 2, (len(before), len(after))
        normal = sorted(g for start, g in gaps if (start, g) != stalled[0])
        assert 0.3 <= normal[len(normal) // 2] <= 0.9, normal  # about every 0.5 s
        assert max(normal) < 2.0, normal

        statuses = [m for m in receiver.texts() if m.startswith("STATUS=")]
        assert statuses and statuses[0].startswith("STATUS=0 delivered"), statuses
        assert "vault open" in statuses[0] and "watcher down" not in statuses[0]

        drop(d.outbox, "sdn-1", unsigned_pdf("sdn-1"), sidecar("SDN-1"))
        assert d.wait_outcome("sdn-1")["state"] == "delivered"
        wait_for(lambda: any(m.startswith("STATUS=1 delivered, 0 waiting")
                             for m in receiver.texts()),
                 3 * runtime.STATUS_EVERY, "a STATUS= line with the delivery",
                 on_fail=lambda: str(receiver.texts()[-5:]))

        assert d.stop() == 0
        stopping = wait_for(lambda: receiver.first("STOPPING=1"), 5, "STOPPING=1",
                            on_fail=lambda: str(receiver.texts()[-5:]))
    texts = receiver.texts()
    assert texts.count("READY=1") == 1 and texts.count("STOPPING=1") == 1
    assert stopping > max(t for t, m in receiver.messages if m != "STOPPING=1"
                          and not m.startswith("STATUS=")) - 0.01
    assert "SDN-1" not in "".join(texts) and "sdn-1" not in "".join(texts)  # no document data
