"""When is a dropped pair complete? Pure decisions over observations and ``now``.

A file event means nothing about completeness (a writer may still be
appending), and mtime alone is fooled by copies that keep old timestamps. So a
file is *settled* when the same (size, mtime) was seen in two observations at
least ``settle`` seconds apart, and a PDF is complete only with ``%%EOF`` in its
tail. A settled file that does not even start with ``%PDF-`` is no PDF at all
(a Word file renamed ``.pdf``): refused at once, whatever its tail. A pair
whose partner never comes is refused after ``orphan_timeout``, either way
round. Times are monotonic seconds, passed in so tests need no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stat:
    size: int
    mtime_ns: int
    ino: int = 0
    dev: int = 0
    regular: bool = True  # False: a link, FIFO, folder, ... (refused, never opened)


@dataclass(frozen=True, slots=True)
class Track:
    """The latest observation of one file and since when it has been unchanged."""

    stat: Stat
    since: float


def observe(prev: Track | None, stat: Stat, now: float) -> Track:
    if prev is not None and prev.stat == stat:
        return prev
    return Track(stat, now)


def settled(track: Track, now: float, settle: float) -> bool:
    return now - track.since >= settle


class Verdict(enum.Enum):
    READY = "ready"
    WAIT_SETTLE = "wait-settle"  # something changed recently
    AWAITING_SIDECAR = "awaiting-sidecar"
    SIDECAR_MISSING = "sidecar-missing"  # PDF alone for too long: reject
    AWAITING_PDF = "awaiting-pdf"
    AWAITING_EOF = "awaiting-eof"  # settled, but the PDF has no %%EOF yet
    INCOMPLETE = "incomplete"  # settled without %%EOF for too long: reject
    ORPHANED = "orphaned"  # sidecar alone for too long: reject
    NOT_PDF = "not-pdf"  # settled, not empty, and no %PDF- header: reject at once


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    recheck_at: float | None  # monotonic time worth looking again, if any


@dataclass(frozen=True)
class Timing:
    settle: float = 0.25
    incomplete_timeout: float = 120.0
    orphan_timeout: float = 600.0


def decide(
    pdf: Track | None, sidecar: Track | None, pdf_has_eof: bool, now: float, t: Timing,
    pdf_has_header: bool = True,
) -> Decision:
    """Decide what to do with a stem given what is on disk now.

    ``pdf_has_header`` is False only when the settled PDF was read and its first
    KiB holds no ``%PDF-``.
    """
    if pdf is None and sidecar is None:  # pragma: no cover - callers never ask
        return Decision(Verdict.WAIT_SETTLE, None)
    if sidecar is None:
        assert pdf is not None
        if now - pdf.since >= t.orphan_timeout:
            return Decision(Verdict.SIDECAR_MISSING, None)
        return Decision(Verdict.AWAITING_SIDECAR, pdf.since + t.orphan_timeout)
    if pdf is None:
        if now - sidecar.since >= t.orphan_timeout:
            return Decision(Verdict.ORPHANED, None)
        return Decision(Verdict.AWAITING_PDF, sidecar.since + t.orphan_timeout)
    unsettled = [tr for tr in (pdf, sidecar) if not settled(tr, now, t.settle)]
    if unsettled:
        return Decision(Verdict.WAIT_SETTLE, max(tr.since for tr in unsettled) + t.settle)
    if not pdf_has_header and pdf.stat.size > 0:
        return Decision(Verdict.NOT_PDF, None)
    if not pdf_has_eof:
        if now - pdf.since >= t.incomplete_timeout:
            return Decision(Verdict.INCOMPLETE, None)
        return Decision(Verdict.AWAITING_EOF, pdf.since + t.incomplete_timeout)
    return Decision(Verdict.READY, None)
