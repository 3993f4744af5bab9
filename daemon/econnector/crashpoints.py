"""Named crash points: tests kill the daemon hard between two durable effects.

With ``ECONNECTOR_CRASH_AT=<point>`` in its environment (tests only; never set
it in production) the daemon SIGKILLs itself the first time it reaches that
point, as a power cut or ``kill -9`` would. The restart must then end with
every document delivered exactly once or rejected once, nothing lost.
The points, in the order a document meets them, are :data:`POINTS`;
docs/reliability.md lists what is durable at each.
"""

from __future__ import annotations

import os
import signal

POINTS: tuple[str, ...] = (
    # claiming and signing
    "after-claim",               # drop row committed, no status file yet
    "after-received-status",     # status 'received' written
    "after-validate",            # metadata and hashes committed
    "after-sign-before-commit",  # signed bytes on disk (fsynced), state not yet 'signed'
    "after-signed-commit",       # state 'signed' committed
    # delivering
    "after-delivering-commit",   # state 'delivering' committed, upload not started
    "after-upload-before-commit",  # the vault stored it; we have not recorded that
    "after-confirmed-commit",    # 'delivered' committed, nothing written for the practice
    # finishing a delivered document
    "after-signed-copy",         # inbox/<stem>.signed.pdf written
    "mid-receipt-write",         # receipt temp file written and fsynced, not renamed
    "after-receipt-json",
    "after-receipt-txt",
    "before-archive-move",       # archive targets committed, nothing moved yet
    "after-archive-pdf",
    "after-archive-sidecar",
    "after-archive-signed",
    "after-final-status",        # status 'delivered' written, not yet committed as finalized
    "after-finalized-commit",
    # finishing a rejected document
    "after-reject-commit",
    "mid-error-write",
    "after-error-json",
    "after-error-txt",
    "after-failed-pdf",
    "after-failed-sidecar",
    "after-rejected-status",
    # finishing a document whose patient opted out of the vault (422 patient-opted-out:
    # nothing stored); the originals' moves share after-archive-pdf/-sidecar
    "after-opted-out-commit",       # state 'patient-opted-out' committed, no file yet
    "after-opted-out-signed-copy",  # inbox/<stem>.signed.pdf written
    "mid-opted-out-write",          # answer temp file written and fsynced, not renamed
    "after-opted-out-json",
    "after-opted-out-txt",
    "before-opted-out-archive",     # archive target committed, nothing moved yet
    "after-opted-out-archive",      # originals and signed bytes archived, folder synced
    "after-opted-out-status",       # final status written, not yet committed as finalized
    "after-opted-out-finalized",
)

_TARGET = os.environ.get("ECONNECTOR_CRASH_AT") or None
if _TARGET is not None and _TARGET not in POINTS:
    raise SystemExit(f"econnector: unknown ECONNECTOR_CRASH_AT point {_TARGET!r}")


def reached(point: str) -> None:
    """Die here, hard, if this is the configured crash point."""
    if _TARGET is not None and point == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
