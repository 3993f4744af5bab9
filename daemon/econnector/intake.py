"""Intake: from an outbox listing to one decision per stem.

A scan lists the outbox (on a thread), groups the names by output stem
(:func:`Intake.group`), opens the few pairs that look complete to read the
PDF's head and tail (:func:`probe_pairs`, on a thread) and then judges each
stem (:func:`Intake.judge`): :class:`Claim` it, :class:`Refuse` it (claimed
and answered with an error file), :class:`Wait` (perhaps telling the practice
why), or :class:`Rescan` (it changed while we read it). The judgement is pure;
the readiness rules themselves are :mod:`.readiness`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import contract, names, readiness, safeopen
from .codes import Code
from .errors import Rejected
from .statestore import FileStat


@dataclass(slots=True)
class StemFiles:
    """The outbox names of one output stem, as listed."""

    pdf: str | None = None
    sidecars: list[str] = field(default_factory=list)
    stem_ok: bool = True
    irregular: list[tuple[str, str]] = field(default_factory=list)  # (name, what it is)

    @property
    def sidecar(self) -> str | None:
        """The sidecar a claim takes (the first by name)."""
        return min(self.sidecars) if self.sidecars else None

    def probe_worthy(self) -> bool:
        """A PDF with a sidecar, under a good stem, all regular files."""
        return bool(self.pdf and self.sidecars and self.stem_ok and not self.irregular)


# -- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """Take the pair: a drop row, then validation and signing."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Take the pair only to refuse it: an error file, the originals to failed/."""

    code: Code
    params: dict[str, Any] = field(default_factory=dict)

    def error(self) -> Rejected:
        return Rejected(self.code, **self.params)


@dataclass(frozen=True, slots=True)
class Wait:
    """Not yet. ``reason``: a waiting status for the practice (awaiting-sidecar,
    awaiting-pdf, awaiting-eof, file-busy), or None to say nothing; ``until``: the
    monotonic time worth looking again (None: the next scan)."""

    reason: Code | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Rescan:
    """The pair changed between the listing and the probe: look again soon."""


Decision = Claim | Refuse | Wait | Rescan

BUSY = object()  # a probe's answer: the PDF cannot be read for now

_WAITING: dict[readiness.Verdict, Code] = {
    readiness.Verdict.AWAITING_SIDECAR: "awaiting-sidecar",
    readiness.Verdict.AWAITING_PDF: "awaiting-pdf",
    readiness.Verdict.AWAITING_EOF: "awaiting-eof",
}


@dataclass(frozen=True, slots=True)
class ProbeJob:
    key: str
    pdf: Path
    pdf_id: safeopen.FileId
    sidecar: Path
    sidecar_id: safeopen.FileId


class Intake:
    """What the scans have seen of each outbox name, and the judgement of each stem."""

    def __init__(self, outbox: Path, timing: readiness.Timing) -> None:
        self.outbox = outbox
        self.timing = timing
        self.tracks: dict[str, readiness.Track] = {}

    def group(self, entries: list[safeopen.Entry], now_m: float) -> dict[str, StemFiles]:
        """Pair the listed names by stem (keyed by output stem) and update the tracks."""
        groups: dict[str, StemFiles] = {}
        seen: set[str] = set()
        for e in entries:
            name: contract.Name = e.tag
            seen.add(e.name)
            self.tracks[e.name] = readiness.observe(
                self.tracks.get(e.name),
                readiness.Stat(e.size, e.mtime_ns, e.ino, e.dev, e.regular),
                now_m,
            )
            g = groups.setdefault(names.out_stem(name.stem), StemFiles(stem_ok=name.stem_ok))
            if not e.regular:
                g.irregular.append((e.name, e.kind))
            if name.kind is contract.Kind.PDF:
                if g.pdf is None or e.name < g.pdf:
                    g.pdf = e.name
            else:
                g.sidecars.append(e.name)
        for gone in set(self.tracks) - seen:
            del self.tracks[gone]
        return groups

    def forget(self, *names_: str) -> None:
        """Names that left with a finished document: a new file under one is new."""
        for n in names_:
            self.tracks.pop(n, None)

    def probe_jobs(self, todo: list[tuple[str, StemFiles]], now_m: float,
                   room: int) -> list[ProbeJob]:
        """The pairs worth opening: a settled PDF with one sidecar, both regular files;
        no more than ``room`` (what could be claimed now: a backlog of thousands is
        not read at every pass; the rest is probed when there is room)."""
        jobs: list[ProbeJob] = []
        for key, g in todo:
            if len(jobs) >= room:
                break
            if not g.probe_worthy():
                continue
            assert g.pdf is not None and g.sidecar is not None
            pdf_t, side_t = self.tracks.get(g.pdf), self.tracks.get(g.sidecar)
            if pdf_t is None or side_t is None or not readiness.settled(
                pdf_t, now_m, self.timing.settle
            ):
                continue
            jobs.append(ProbeJob(key, self.outbox / g.pdf, _file_id(pdf_t.stat),
                                 self.outbox / g.sidecar, _file_id(side_t.stat)))
        return jobs

    def judge(self, stem: str, g: StemFiles, now_m: float, probe: Any) -> Decision:
        """Claim, refuse, wait or look again. ``probe``: what :func:`probe_pairs` read
        of this stem (None when it was not read)."""
        pdf_t = self.tracks.get(g.pdf) if g.pdf else None
        side_t = self.tracks.get(g.sidecar) if g.sidecar else None
        if g.probe_worthy() and pdf_t is not None and side_t is not None and (
            readiness.settled(pdf_t, now_m, self.timing.settle)
        ):
            if probe is None:
                return Rescan()  # changed since listed
            if probe is BUSY:  # unreadable for now (a lock, a mode): say so, look later
                return Wait("file-busy")
        pdf_probe = probe if isinstance(probe, safeopen.PdfProbe) else None
        decision = readiness.decide(
            pdf_t, side_t, bool(pdf_probe and pdf_probe.has_eof), now_m, self.timing,
            pdf_has_header=pdf_probe is None or pdf_probe.has_header,
            stem_ok=g.stem_ok, irregular=bool(g.irregular))
        return self._verdict(stem, g, decision)

    def _verdict(self, stem: str, g: StemFiles, decision: readiness.Decision) -> Decision:
        v, t = readiness.Verdict, self.timing
        verdict = decision.verdict
        if verdict is v.READY:
            return Refuse("sidecar-ambiguous", {"stem": stem}) if len(g.sidecars) > 1 else Claim()
        if verdict in _WAITING:
            return Wait(_WAITING[verdict], decision.recheck_at)
        if verdict in (v.WAIT_SETTLE, v.IGNORED):
            return Wait(None, decision.recheck_at)
        name, kind = g.irregular[0] if g.irregular else ("", "")
        refusals: dict[readiness.Verdict, Refuse] = {
            # A link, FIFO or folder under a contract name is never opened or followed.
            v.NOT_REGULAR: Refuse("file-not-regular", {"name": name, "kind": kind}),
            v.BAD_NAME: Refuse("bad-file-name", {"name": g.pdf}),
            v.EMPTY: Refuse("pdf-empty"),
            v.INCOMPLETE: Refuse("pdf-incomplete", {"seconds": int(t.incomplete_timeout)}),
            v.NOT_PDF: Refuse("pdf-not-pdf"),  # e.g. a Word file renamed .pdf
            v.ORPHANED: Refuse("sidecar-orphaned",
                               {"stem": stem, "seconds": int(t.orphan_timeout)}),
            v.SIDECAR_MISSING: Refuse("sidecar-missing",
                                      {"stem": stem, "seconds": int(t.orphan_timeout)}),
        }
        return refusals[verdict]

    def claim_stats(self, g: StemFiles) -> tuple[FileStat | None, FileStat | None]:
        """What the claim records of each file: its identity when it was judged settled."""
        out: list[FileStat | None] = []
        for name in (g.pdf, g.sidecar):
            t = self.tracks.get(name) if name else None
            out.append(None if t is None else {"size": t.stat.size, "mtime_ns": t.stat.mtime_ns,
                                               "ino": t.stat.ino, "dev": t.stat.dev})
        return out[0], out[1]


def probe_pairs(jobs: list[ProbeJob]) -> dict[str, Any]:
    """Runs on a thread: head and tail of each PDF, through a descriptor that must be
    the file the listing saw, and the sidecar still as listed; ``None`` for a pair
    that changed since (it is looked at again on the next pass), :data:`BUSY` for a
    PDF we may not read yet."""
    out: dict[str, Any] = {}
    for j in jobs:
        try:
            probe = safeopen.probe_pdf(j.pdf, j.pdf_id)
            out[j.key] = probe if safeopen.unchanged(j.sidecar, j.sidecar_id) else None
        except PermissionError:
            out[j.key] = BUSY
        except (OSError, Rejected):
            out[j.key] = None  # gone or swapped: the next listing tells
    return out


def contract_name(name: str) -> contract.Name | None:
    """Outbox names the contract knows (classified once, on the listing thread)."""
    n = contract.classify(name)
    return None if n.kind is contract.Kind.IGNORED else n


def _file_id(st: readiness.Stat) -> safeopen.FileId:
    return safeopen.FileId(st.dev, st.ino, st.size, st.mtime_ns)
