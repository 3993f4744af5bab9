"""Start-up recovery: what a crash or a lost database leaves, made right again.

Our own temp files left by a crash are removed; a new (or lost) database
learns past deliveries from the receipts in the inbox, so that a re-drop of a
delivered document is recognised as a duplicate instead of being signed anew
(the vault would refuse the new bytes under the old idempotency key anyway:
nothing is ever sent twice).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from . import names, receipts, safeopen
from .config import Folders
from .errors import Rejected
from .signer import check_path
from .states import Event, State
from .statestore import Drop, Store

if TYPE_CHECKING:
    from .drops import Drops

log = structlog.get_logger("econnector.recovery")

# A receipt read back to rebuild a lost database is a few KiB; more is not ours.
RECEIPT_MAX_BYTES = 1024 * 1024


def creatable(folders: Folders, folder: Path) -> bool:
    """Inside folders.root: econnector's own, created when missing (a share outside it
    that is not mounted must not become an empty local folder)."""
    root = folders.root
    return root is not None and folder.absolute().is_relative_to(root.absolute())


def clean_temp(folder: Path, signed: bool = False, older_than: float | None = None) -> None:
    """Remove our own temp files left by a crash (names we create: ``.*.tmp``; in the
    private folder of signed bytes, any ``*.tmp``). ``older_than``: only those not
    touched for that many seconds (a shared inbox: another node may be writing one)."""
    cutoff = None if older_than is None else time.time() - older_than
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(folder):
            if e.name.endswith(".tmp") and (e.name.startswith(".") or signed):
                with contextlib.suppress(OSError):
                    if cutoff is None or e.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(e.path)


def rebuild_from_inbox(store: Store, inbox: Path, clock: Callable[[], float]) -> int:
    """A new (or lost) database: record the deliveries the inbox's receipts tell of.
    Returns how many."""
    count = 0
    for path in sorted(inbox.glob("*.receipt.json")):
        stem = path.name[: -len(".receipt.json")]
        if not names.stem_ok(stem):
            continue  # never one of ours
        try:
            # Through a descriptor: another user may have put a FIFO or a link here.
            receipt = json.loads(safeopen.read_limited(path, RECEIPT_MAX_BYTES))
            if receipt.get("schema") != receipts.RECEIPT_SCHEMA:
                continue
            signed = inbox / f"{stem}.signed.pdf"
            store.import_delivered(stem, receipt, clock(),
                                   str(signed) if signed.exists() else None)
            count += 1
        except (OSError, ValueError, KeyError, TypeError, AttributeError, Rejected) as e:
            log.warning("rebuild-skipped", stem=names.ref(stem), error=type(e).__name__)
    if count:
        log.warning("state-rebuilt-from-inbox", deliveries=count)
    return count


# Holds on our own signature (the self-check before upload, or the vault's check):
# IT fixes the configuration (trust roots, the certificate) and restarts.
SIGNATURE_HOLDS = frozenset({"signature-check-failed", "signature-invalid"})


def release_signature_holds(drops: Drops, signed: Callable[[Drop], Path]) -> int:
    """At start, documents held on their signature are signed again: the bytes the
    vault refused are discarded first (they would be refused again). Returns how many."""
    n = 0
    for d in drops.store.unfinished():
        if d.state is not State.HELD or d.reason not in SIGNATURE_HOLDS:
            continue
        work = signed(d)
        work.unlink(missing_ok=True)
        check_path(work).unlink(missing_ok=True)
        drops.transition(d, Event.RELEASE, reason=None, message="", signed_sha256=None,
                         signature=None, signed_at=None)
        n += 1
    if n:
        log.info("signature-holds-released", documents=n)
    return n
