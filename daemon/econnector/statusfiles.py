"""``<stem>.status.json`` follows the drop: the first transition listener.

Which transitions write a status (:func:`wants_status`) is a pure rule: every
one into a state that is not terminal (the final status is written as the last
step of finishing, after the receipt or error file), except ``signed`` (the
'delivering' or a wait for the vault follows at once) and ``upload``: most
uploads end within milliseconds and their outcome's status follows at once, so
'delivering' is written only for an upload that lasts (:meth:`StatusFiles.
while_uploading`). A status write that fails (disk full, inbox gone) pauses
the daemon's storage and is rewritten when storage is back or the drop runs
again (``stale``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import structlog

from .crashpoints import reached
from .inbox import InboxWriter
from .receipts import drop_status_doc
from .states import TERMINAL, Event, State
from .statestore import Drop, Store

log = structlog.get_logger("econnector.statusfiles")

# An upload shorter than this does not get its own 'delivering' status write.
DELIVERING_STATUS_DELAY = 1.0

_QUIET_EVENTS = frozenset({Event.SIGNED, Event.UPLOAD})


def wants_status(drop: Drop, event: Event) -> bool:
    """Does this transition rewrite the stem's status file now?"""
    return event not in _QUIET_EVENTS and drop.state not in TERMINAL


class StatusFiles:
    """Writes the status file of each drop as its state changes."""

    def __init__(self, inbox: InboxWriter, store: Store, default_language: str,
                 on_failure: Callable[[OSError], None]) -> None:
        self.inbox = inbox
        self.store = store
        self.default_language = default_language
        self.on_failure = on_failure  # pause storage: the disk is full or the inbox gone
        self.stale: set[int] = set()  # drops whose last status write failed

    def on_transition(self, drop: Drop, old: State | None, event: Event) -> None:
        if wants_status(drop, event):
            self.write(drop, crash_point="after-received-status"
                       if event is Event.CLAIM else None)

    def write(self, d: Drop, crash_point: str | None = None) -> None:
        """Rewrite the stem's status file (not the final one: that is part of finishing)."""
        stem = d.stem
        doc = drop_status_doc(d, final=False, default_language=self.default_language)

        def write() -> None:
            self.inbox.write_status(stem, doc)
            if crash_point:
                reached(crash_point)

        fut = self.inbox.schedule(stem, write)
        fut.add_done_callback(functools.partial(self._written, d.id))

    def while_uploading(self, drop_id: int) -> asyncio.TimerHandle:
        """Say 'delivering' if the upload still runs after a moment; the caller cancels
        the handle when the upload ends."""
        return asyncio.get_running_loop().call_later(
            DELIVERING_STATUS_DELAY, self.write_if_still, drop_id, State.DELIVERING)

    def write_if_still(self, drop_id: int, state: State) -> None:
        d = self.store.get(drop_id)
        if d.state is state:
            self.write(d)

    def rewrite_stale(self, drop_id: int) -> None:
        """The drop's last status write failed: write it again now."""
        if drop_id in self.stale:
            self.stale.discard(drop_id)
            self.write(self.store.get(drop_id))

    def rewrite_all_stale(self) -> None:
        """Storage is back: rewrite the unfinished drops' statuses that failed."""
        for drop_id in list(self.stale):
            d = self.store.get(drop_id)
            if d.finalized_at is None:
                self.stale.discard(drop_id)
                self.write(d)

    def _written(self, drop_id: int, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            return
        e = fut.exception()
        if isinstance(e, OSError):
            self.on_failure(e)
            self.stale.add(drop_id)
        elif e is not None:
            log.error("status-write-failed", drop=drop_id, error=type(e).__name__)
