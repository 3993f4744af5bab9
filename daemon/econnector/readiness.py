"""When is a dropped pair complete? Pure decisions over observations and ``now``.

A file event means nothing about completeness (a writer may still be
appending), and mtime alone is fooled by copies that keep old timestamps. So a
file is *settled* when the same (size, mtime) was seen in two observations at
least ``settle`` seconds apart, and a PDF is complete only with ``%%EOF`` in its
tail. A settled file that does not even start with ``%PDF-`` is no PDF at all
(a Word file renamed ``.pdf``): refused at once, whatever its tail. A pair
whose partner never comes is refused after ``orphan_timeout``, either way
round. A PDF still without ``%%EOF`` after ``incomplete_timeout`` is refused
(as empty when it never got a byte). A name the contract refuses (bad stem) is
never picked up alone, but a complete pair under it gets an error file; a link,
FIFO or folder under a contract name is refused once its pair has settled.
Times are monotonic seconds, passed in so tests need no clock.
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
    EMPTY = "empty"  # as INCOMPLETE, and not one byte was ever written: reject
    ORPHANED = "orphaned"  # sidecar alone for too long: reject
    NOT_PDF = "not-pdf"  # settled, not empty, and no %PDF- header: reject at once
    BAD_NAME = "bad-name"  # a settled pair under a stem the contract refuses: reject
    NOT_REGULAR = "not-regular"  # a link, FIFO or folder in the pair, settled: reject
    IGNORED = "ignored"  # a lone file under a refused stem: never picked up


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    recheck_at: float | None  # monotonic time worth looking again, if any


@dataclass(frozen=True)
class Timing:
    # No defaults here: the values come from the config (its schema holds the defaults).
    settle: float
    incomplete_timeout: float
    orphan_timeout: float


def decide(
    pdf: Track | None, sidecar: Track | None, pdf_has_eof: bool, now: float, t: Timing,
    pdf_has_header: bool = True, *, stem_ok: bool = True, irregular: bool = False,
) -> Decision:
    """Decide what to do with a stem given what is on disk now.

    ``pdf_has_header`` is False only when the settled PDF was read and its first
    KiB holds no ``%PDF-``. ``stem_ok`` is False for a stem the contract refuses;
    ``irregular`` is True when a name of the stem is not a regular file (never
    opened: judged on its listing alone).
    """
    members = [tr for tr in (pdf, sidecar) if tr is not None]
    if irregular:
        return _settled_or_wait(members, now, t, Verdict.NOT_REGULAR)
    if not stem_ok:
        if pdf is None or sidecar is None:
            return Decision(Verdict.IGNORED, None)
        return _settled_or_wait(members, now, t, Verdict.BAD_NAME)
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
            return Decision(Verdict.EMPTY if pdf.stat.size == 0 else Verdict.INCOMPLETE, None)
        return Decision(Verdict.AWAITING_EOF, pdf.since + t.incomplete_timeout)
    return Decision(Verdict.READY, None)


def _settled_or_wait(members: list[Track], now: float, t: Timing, verdict: Verdict) -> Decision:
    """``verdict`` once every member has settled, else a look when the last one has."""
    if all(settled(tr, now, t.settle) for tr in members):
        return Decision(verdict, None)
    return Decision(Verdict.WAIT_SETTLE, max(tr.since for tr in members) + t.settle)
