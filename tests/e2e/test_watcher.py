"""The watcher gives hints only, heals itself, and the rescan alone is enough."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from econnector.watcher import WATCHDOG_INOTIFY_LOGGER, Watcher
from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf


class Pokes:
    def __init__(self) -> None:
        self.n = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.n += 1
        self.event.set()

    def wait(self, timeout: float = 5.0) -> bool:
        ok = self.event.wait(timeout)
        self.event.clear()
        return ok


def test_a_dead_observer_is_restarted_and_events_flow_again(tmp_path: Path) -> None:
    pokes = Pokes()
    w = Watcher(tmp_path, pokes)
    w.start()
    try:
        (tmp_path / "a.pdf").write_bytes(b"x")
        assert pokes.wait()
        assert w.observer is not None
        w.observer.stop()  # the thread dies, as on an unhandled error
        w.observer.join(5)
        assert w.ensure_alive() is True and w.restarts == 1
        assert pokes.wait()  # a restart pokes: events may have been lost
        (tmp_path / "b.pdf").write_bytes(b"x")
        assert pokes.wait()
        assert w.ensure_alive() is False
    finally:
        w.close()


def test_queue_overflow_pokes_a_rescan(tmp_path: Path) -> None:
    pokes = Pokes()
    w = Watcher(tmp_path, pokes)
    try:
        # watchdog reports IN_Q_OVERFLOW only through this log line
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).warning(
            "Inotify queue overflowed; filesystem events were lost")
        assert pokes.wait(1) and w.overflows == 1
    finally:
        w.close()
    logging.getLogger(WATCHDOG_INOTIFY_LOGGER).warning("Inotify queue overflowed")
    assert w.overflows == 1  # closed watchers stop listening


def test_missing_folder_is_not_restarted_in_a_loop(tmp_path: Path) -> None:
    pokes = Pokes()
    w = Watcher(tmp_path / "gone", pokes)
    try:
        assert w.ensure_alive() is False and w.restarts == 0
    finally:
        w.close()


@pytest.mark.e2e
def test_rescans_alone_find_every_drop(tmp_path: Path) -> None:
    """With no events at all (observer: none, as on a share), the periodic rescan
    is the source of truth."""
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       watch={"observer": "none", "rescan_interval_s": 0.5})
    with running_daemon(cfg) as d:
        drop(d.outbox, "quiet", unsigned_pdf("quiet"), sidecar("RESCAN-1"))
        assert d.wait_outcome("quiet", timeout=30)["state"] == "delivered"
        assert '"watcher' not in d.log_path.read_text()


@pytest.mark.e2e
def test_polling_observer(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       watch={"observer": "polling", "rescan_interval_s": 60})
    with running_daemon(cfg) as d:
        time.sleep(0.5)
        drop(d.outbox, "polled", unsigned_pdf("polled"), sidecar("POLL-1"))
        assert d.wait_outcome("polled", timeout=30)["state"] == "delivered"
