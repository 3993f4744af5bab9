"""When a step fails for a reason that is not the document's.

The disk is full or a folder unusable: the state on disk is as far as it got;
storage pauses and the document is picked up again later. A bug of ours or a
file-system refusal: the document is kept, says so, and is retried with
backoff; but an error that cannot get better (a name the file system refuses)
or one that keeps coming back is final, never a loop that holds a claim slot.
"""

from __future__ import annotations

import errno
import random
import sqlite3
from collections.abc import Callable
from typing import Any

import structlog

from .backoff import compute_backoff
from .drops import Drops
from .errors import Rejected
from .schedule import DueQueue
from .states import TERMINAL, Event, State
from .statestore import Drop, Store
from .statusfiles import StatusFiles

log = structlog.get_logger("econnector.failures")

# OS errors that retrying cannot mend, and how often any internal error may recur
# before the document stops being retried (a loop would hold a claim slot forever).
PERMANENT_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL, errno.EFBIG})
MAX_INTERNAL_ATTEMPTS = 6

# OS errors that mean "the disk or a folder is unusable right now", not "this
# document is bad": the pipeline pauses and retries instead of failing documents.
STORAGE_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
    errno.ENOENT, errno.EIO, errno.ESTALE, errno.EISDIR,
})


def is_storage_error(e: BaseException) -> bool:
    """The disk or a folder, not the document (the database's own I/O errors too)."""
    return isinstance(e, sqlite3.OperationalError) or (
        isinstance(e, OSError) and e.errno in STORAGE_ERRNOS)


class Failures:
    """Decides what an unexpected failure of a drop's step does to it."""

    def __init__(self, store: Store, drops: Drops, status: StatusFiles, due: DueQueue, *,
                 retry_base: float, retry_cap: float, storage_retry: float,
                 clock: Callable[[], float], rng: random.Random,
                 pause_storage: Callable[[BaseException], None]) -> None:
        self.store, self.drops, self.status, self.due = store, drops, status, due
        self.retry_base, self.retry_cap, self.storage_retry = retry_base, retry_cap, storage_retry
        self.clock, self.rng = clock, rng
        self.pause_storage = pause_storage
        # Drops that failed in a way retrying cannot mend: kept (a person looks, a
        # restart tries once more) without holding a claim slot or looping.
        self.parked: set[int] = set()

    def failed(self, drop_id: int, e: Exception) -> None:
        if is_storage_error(e):
            self.pause_storage(e)
            self.status.stale.add(drop_id)
            self.due[drop_id] = self.clock() + self.storage_retry
            return
        self.internal_error(drop_id, e)

    def internal_error(self, drop_id: int, e: Exception) -> None:
        """Keep the document, say so, retry later; or stop retrying (see the module)."""
        log.exception("internal-error", drop=drop_id, error=type(e).__name__)
        d = self.store.get(drop_id)
        attempts = d.attempts + 1
        msg = self.drops.text("internal-error", {"detail": type(e).__name__}, d)
        final = (isinstance(e, OSError) and e.errno in PERMANENT_ERRNOS) or (
            attempts >= MAX_INTERNAL_ATTEMPTS)
        try:
            if final:
                self._final(d, attempts, type(e).__name__)
                return
            delay = compute_backoff(attempts, base=self.retry_base, cap=self.retry_cap,
                                    rand=self.rng.random())
            fields: dict[str, Any] = {"reason": "internal-error", "message": msg,
                                      "attempts": attempts,
                                      "next_attempt_at": self.clock() + delay}
            if d.state in (State.RECEIVED, State.SIGNED, State.DELIVERING):
                d = self.drops.transition(d, Event.RETRY_LATER, **fields)
            else:  # waiting or held already: the same state, with the new attempt
                d = self.store.update(d.id, self.clock(), **fields)
                self.status.write(d)
            self.due[d.id] = fields["next_attempt_at"]
        except OSError:
            self.status.stale.add(drop_id)
            self.due[d.id] = self.clock() + self.retry_cap

    def _final(self, d: Drop, attempts: int, detail: str) -> None:
        """No more retries. Not yet signed: refused with an error file. Signed (perhaps
        already in the vault): held for a person. Already decided: parked."""
        log.error("internal-error-final", drop=d.id, attempts=attempts)
        if d.state in TERMINAL:
            self.store.update(d.id, self.clock(), attempts=attempts)
            self.parked.add(d.id)
            return
        err = Rejected("internal-error", detail=detail)
        message = self.drops.text(err.code, err.params, d)
        if not d.signed:
            self.drops.transition(d, Event.REJECT, error=err.as_dict(), reason=err.code,
                                  message=message, attempts=attempts)
            self.due[d.id] = self.clock()
            return
        if d.state is not State.HELD:
            self.drops.transition(d, Event.HOLD, reason=err.code, message=message,
                                  attempts=attempts)
        self.parked.add(d.id)
