"""Named crash points: tests kill the daemon hard between two durable effects.

With ``ECONNECTOR_CRASH_AT=<point>`` in its environment (tests only; never set
it in production) the daemon SIGKILLs itself the first time it reaches that
point, as a power cut or ``kill -9`` would; the variable is read by :func:`arm`
at start, or at the first :func:`reached`. The restart must then end with
every document delivered exactly once or rejected once, nothing lost.
The points, in the order a document meets them, are :data:`POINTS`;
docs/reliability.md lists what is durable at each.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

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

ENV = "ECONNECTOR_CRASH_AT"

_UNARMED = object()
_target: object = _UNARMED  # the point to die at (str), None, or not read yet


def point_from(environ: Mapping[str, str]) -> str | None:
    """The crash point ``environ`` names, if any; an unknown one stops the process."""
    point = environ.get(ENV) or None
    if point is not None and point not in POINTS:
        raise SystemExit(f"econnector: unknown {ENV} point {point!r}")
    return point


def arm(environ: Mapping[str, str] = os.environ) -> str | None:
    """Read ``ECONNECTOR_CRASH_AT`` (once per process) and return the point, if any.

    Called at the daemon's start so an unknown point stops it at once, with the
    reason, instead of at the first point it passes; any process that
    does not call it (a signing worker, an in-process test) arms itself at its
    first :func:`reached`. Reading the environment at import instead made every
    import of the package a place that could exit.
    """
    global _target
    if _target is _UNARMED:
        _target = point_from(environ)
    return _target if isinstance(_target, str) else None


def reached(point: str) -> None:
    """Die here, hard, if this is the configured crash point."""
    if _target is _UNARMED:
        arm()
    if point == _target:
        os.kill(os.getpid(), signal.SIGKILL)
