"""File events as hints: a supervised watchdog observer that only wakes the loop.

Events are never trusted for completeness or even existence (they are
dropped on queue overflow, merged, duplicated, or absent on network shares);
they only make the next scan happen sooner. The periodic rescan is the truth.
If the observer thread dies, :meth:`Watcher.ensure_alive` starts a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import structlog
from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = structlog.get_logger("econnector.watcher")


def disable_move_pairing() -> None:
    """Stop watchdog holding unmatched IN_MOVED_FROM events for 0.5 s.

    watchdog pairs MOVED_FROM/MOVED_TO by holding every MOVED_FROM in a FIFO for
    half a second; every later event waits behind it. Each time we move a
    delivered original out of the outbox, the next drop's events were delayed
    by 0.5 s, which is most of our drop-to-receipt time (docs/performance.md).
    Events are only hints to us, so pairing is worthless; watchdog has no option
    for this, hence the class attribute, read when an observer is created: set
    by :meth:`Watcher.start` just before, never at import (importing this
    module changes nothing in watchdog).
    """
    try:
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
    except ImportError:  # not on Linux, or a watchdog without the grouper
        return
    InotifyMoveEventGrouper.delay = 0.0


HINT_EVENTS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileMovedEvent, FileClosedEvent]


class _Hint(FileSystemEventHandler):
    def __init__(self, poke: Callable[[], None]) -> None:
        self.poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.poke()  # only HINT_EVENTS reach here (watchdog applies the filter)


class _OverflowListener(logging.Handler):
    """watchdog only *logs* an inotify queue overflow (no event reaches handlers),
    so we listen to its logger: lost events mean "rescan now"."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()


WATCHDOG_INOTIFY_LOGGER = "watchdog.observers.inotify_c"


class Watcher:
    def __init__(self, folder: Path, poke: Callable[[], None], kind: str = "native") -> None:
        self.folder = folder
        self.poke = poke
        self.kind = kind
        self.observer: BaseObserver | None = None
        self.restarts = 0
        self.overflows = 0
        self._listener = _OverflowListener(self._overflowed)
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).addHandler(self._listener)

    def _overflowed(self) -> None:
        self.overflows += 1
        log.warning("watcher-overflow", folder=str(self.folder), overflows=self.overflows)
        self.poke()  # events were lost: rescan now

    def start(self) -> None:
        if self.kind == "none":
            return  # rescans only (a share where events are worthless)
        if self.kind == "native":
            disable_move_pairing()
        obs: BaseObserver = PollingObserver(timeout=1.0) if self.kind == "polling" else Observer()
        # Only what can make a drop claimable: files created, moved in, or closed
        # after writing. inotify then does not even report our own reads of the
        # outbox (EOF checks, hashing, signing: an open and a close each) nor
        # every write() of a vendor's export; those were most of the events and a
        # real share of the daemon's Python time (docs/performance.md).
        # Rescans and readiness rechecks still see every change.
        obs.schedule(_Hint(self.poke), str(self.folder), recursive=False,
                     event_filter=HINT_EVENTS)
        obs.daemon = True
        obs.start()
        self.observer = obs

    def ensure_alive(self) -> bool:
        """Restart a dead observer; returns True when it had to."""
        if self.kind == "none" or (self.observer is not None and self.observer.is_alive()):
            return False
        if not self.folder.is_dir():
            return False  # gone (a share away): the pipeline restarts us when it is back
        log.warning("watcher-restarted", folder=str(self.folder), kind=self.kind)
        self.stop()
        try:
            self.start()
        except OSError as e:
            log.error("watcher-failed", error=str(e))
            self.observer = None
        self.restarts += 1
        self.poke()  # events may have been lost: rescan now
        return True

    def restart(self, why: str) -> None:
        """The watched folder was replaced (or came back): watch the new one."""
        if self.kind == "none":
            return
        log.warning("watcher-restarted", folder=str(self.folder), why=why)
        self.stop()
        try:
            self.start()
        except OSError as e:
            log.error("watcher-failed", error=str(e))
            self.observer = None
        self.restarts += 1

    def close(self) -> None:
        self.stop()
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).removeHandler(self._listener)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None
