"""Query files: questions the practice software asks through the outbox.

``outbox/<stem>.query.yaml`` (``.yml``, ``.json``) with ``schema:
econnector.query/v1``, ``query: patient-status`` and a ``matricule`` is answered
in ``inbox/<stem>.answer.json`` and ``.answer.txt`` (docs/folder-contract.md,
"Query files"); the query then moves to ``archive/YYYY/MM/``. A bad query gets
an error file exactly like a bad sidecar's and moves to ``failed/``. While the
vault cannot be reached the query stays in the outbox, a ``waiting`` answer
says so, and it is asked again with backoff.

Each query file is served by its own task, started by the scan that first lists
it: a front-desk question should be answered within a second, not at the next
periodic rescan, so the task makes the second observation of the settle rule
itself (:mod:`.readiness`) and sleeps its own backoff. Files are read by
descriptor on a thread (:mod:`.safeopen`: a FIFO or a link gets an error
answer, never a hang). Logs carry the stem's :func:`~econnector.names.ref` and
never the matricule.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import functools
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from . import contract, filemodes, fsio, matricule, names, readiness, receipts, safeopen
from .backoff import compute_backoff
from .codes import Code, as_code
from .config import Config
from .contract.document import MAX_SIDECAR_BYTES
from .contract.reader import check_tree, clip, read, show
from .contract.sidecar import sidecar_language
from .contract.validation import Validator
from .errors import EconnectorError, Held, Rejected, SidecarError, Transient, render
from .messages.patient_status import STATUS_TEXTS, meaning, meanings, query_text
from .patients import PatientStatuses, Status
from .receipts import iso, local_time

log = structlog.get_logger("econnector.queries")

SCHEMA_ID: Final = "econnector.query/v1"
ANSWER_SCHEMA: Final = "econnector.answer/v1"
QUERY_KINDS: Final = ("patient-status",)
FIELDS: Final = ("schema", "query", "matricule", "language")
_BOM = b"\xef\xbb\xbf"
# Queries read, parsed and answered at once; the others wait (a flood of query
# files costs sleeping tasks, not threads or vault connections).
MAX_ACTIVE = 4


@dataclass(frozen=True, slots=True)
class Query:
    """A valid query file."""

    query: str
    matricule: str
    language: str | None


# -- parsing (pure) -------------------------------------------------------------------------


def _error(code: Code, field: str | None = None, **params: Any) -> SidecarError:
    return SidecarError(code, field=field, **params)


def _raise(errors: list[SidecarError], language: str | None = None) -> SidecarError:
    """The first error, carrying all of them as ``errors`` and the readable ``language``
    (as :func:`econnector.contract.sidecar.parse_sidecar` does)."""
    first = errors[0]
    setattr(first, "errors", tuple(errors))  # noqa: B010 - SidecarError declares no such slot
    for e in errors:
        e.language = language
    return first


def parse_query(data: bytes, fmt: contract.Format, *, today: dt.date,
                max_bytes: int = MAX_SIDECAR_BYTES) -> Query:
    """Parse and validate a query file; raise SidecarError (and nothing else) if it is not
    a valid ``econnector.query/v1``. Reads YAML and JSON as a sidecar is read (size,
    UTF-8, the strict reader); a text that cannot be read is ``query-syntax`` (the
    ``detail_key`` param names one of this module's own details), an unknown question
    or schema ``query-unsupported``; the fields reuse the sidecar's codes."""
    data = bytes(data)
    if len(data) > max_bytes:
        raise _raise([_error("sidecar-too-large", size=len(data), limit=max_bytes)])
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    syntax = {"format": fmt.upper()}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _raise([_error("query-syntax", **syntax, detail_key="encoding")]) from None
    if "\x00" in text:
        raise _raise([_error("query-syntax", **syntax, detail_key="encoding")])
    try:
        root = read(text, fmt)
        check_tree(root, fmt)
    except SidecarError as e:
        if e.code == "sidecar-encoding":
            raise _raise([_error("query-syntax", **syntax, detail_key="encoding")]) from None
        raise _raise([_error("query-syntax", **syntax,
                             detail=str(e.params.get("detail") or ""))]) from None
    if not isinstance(root, dict):
        raise _raise([_error("query-syntax", **syntax, detail_key="not-mapping")])
    language = sidecar_language(root)
    schema = root.get("schema")
    if schema is None:
        raise _raise([_error("field-missing", "schema")], language)
    if schema != SCHEMA_ID:
        raise _raise([_error("query-unsupported", "schema", value=f"schema: {show(schema)}")],
                     language)
    v = Validator((), today)  # its helpers: unknown keys, types, YAML traps, language
    v.keys(root, "", FIELDS)
    kind = v.string(root, "query", "query", "a quoted string")
    if kind is not None and kind not in QUERY_KINDS:
        v.fail("query-unsupported", "query", value=clip(kind))
        kind = None
    number = v.string(root, "matricule", "matricule", "a quoted string of 13 digits")
    if number is not None:
        try:
            matricule.validate(number, today)
        except SidecarError as e:
            v.fail(as_code(e.code), "matricule")
            number = None
    lang = v.language(root)
    v.check_extensions()
    if v.errors:
        raise _raise(v.errors, language)
    assert kind is not None and number is not None
    return Query(kind, number, lang)


def error_params(e: EconnectorError, language: str) -> dict[str, Any]:
    """``e``'s params for rendering in ``language``: a ``detail_key`` of ours becomes the
    detail in that language."""
    params = dict(e.params)
    key = params.pop("detail_key", None)
    if isinstance(key, str):
        params["detail"] = query_text(key, language)
    return params


# -- the documents the practice reads (pure) ------------------------------------------------


def answer_doc(stem: str, query: Query, status: Status, answered_at: float,
               language: str) -> dict[str, Any]:
    return {
        "schema": ANSWER_SCHEMA,
        "query": query.query,
        "state": "answered",
        "stem": stem,
        "matricule_masked": matricule.mask(query.matricule),
        "status": status.status,
        "meaning": meanings(status.status),
        "checked_at": iso(status.checked_at),
        "from_cache": status.cached,
        "answered_at": iso(answered_at),
        "language": language,
    }


def waiting_doc(stem: str, query: Query, e: EconnectorError, tried_at: float, next_try: float,
                language: str) -> dict[str, Any]:
    message, _ = render(e.code, e.params, language)
    return {
        "schema": ANSWER_SCHEMA,
        "query": query.query,
        "state": "waiting",
        "stem": stem,
        "matricule_masked": matricule.mask(query.matricule),
        "reason": e.code,
        "message": message,
        "tried_at": iso(tried_at),
        "next_try_at": iso(next_try),
        "language": language,
    }


def _table(title: str, rows: list[tuple[str, str]], tail: list[str]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "=" * len(title), ""]
    lines += [f"{k.ljust(width)} : {v}" for k, v in rows]
    return "\n".join([*lines, *tail]) + "\n"


def answer_text(doc: dict[str, Any]) -> str:
    """The answer for people, in the answer's language (times in Luxembourg time)."""
    lang = doc["language"] if doc["language"] in STATUS_TEXTS else "en"
    t = STATUS_TEXTS[lang]
    rows = [(t["patient"], doc["matricule_masked"])]
    if doc["state"] == "answered":
        rows += [
            (t["answer"], meaning(doc["status"], lang)),
            (t["checked_at"], local_time(doc["checked_at"], lang)),
            (query_text("source", lang),
             query_text("from-cache" if doc["from_cache"] else "asked-now", lang)),
            (query_text("answered_at", lang), local_time(doc["answered_at"], lang)),
        ]
        return _table(t["title"], rows, [])
    rows.append((query_text("next_try_at", lang), local_time(doc["next_try_at"], lang)))
    return _table(query_text("waiting-title", lang), rows,
                  ["", doc["message"], "", query_text("waiting", lang)])


# -- the desk --------------------------------------------------------------------------------


class _Next(enum.Enum):
    DONE = "done"  # answered, refused, or the file left the outbox
    RESETTLE = "resettle"  # the file changed under us: observe it again
    RETRY = "retry"  # the vault or the inbox could not be used: later, with backoff


class QueryDesk:
    """Answers query files; called by each outbox scan with the query entries listed."""

    def __init__(self, cfg: Config, patients: PatientStatuses, *,
                 clock: Callable[[], float], mono: Callable[[], float],
                 rng: random.Random | None = None) -> None:
        self.cfg, self.patients, self.clock, self.mono = cfg, patients, clock, mono
        f = cfg.folders
        self.outbox, self.inbox, self.archive, self.failed = f.outbox, f.inbox, f.archive, f.failed
        self.rng = rng or random.Random()
        self.tasks: dict[str, asyncio.Task[None]] = {}  # outbox name -> its task
        self._stems: dict[str, asyncio.Lock] = {}  # one outcome per answer stem at a time
        self._active: asyncio.Semaphore | None = None
        # Files given up on after a failure of ours (by name and identity), so a bug
        # costs one log line per file, not one per scan.
        self._given_up: set[tuple[str, int, int, int, int]] = set()

    def pending(self) -> bool:
        """Queries seen and not answered yet (the scan calls :meth:`handle` even when
        the listing shows none)."""
        return bool(self.tasks)

    async def handle(self, entries: list[safeopen.Entry], now_m: float) -> None:
        """Start serving the query files among ``entries`` not served yet; each is
        answered by its own task (one bad query never stops the others)."""
        for e in entries:
            if e.name in self.tasks or _ident(e) in self._given_up:
                continue
            task = asyncio.get_running_loop().create_task(self._serve(e, now_m))
            self.tasks[e.name] = task
            task.add_done_callback(functools.partial(self._done, e.name))

    def _done(self, name: str, _task: object = None) -> None:
        self.tasks.pop(name, None)

    async def close(self) -> None:
        """Stop serving (at shutdown): a query not answered yet stays in the outbox and
        is answered after the next start."""
        for t in list(self.tasks.values()):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=5)

    # -- one query file ---------------------------------------------------------------------
    async def _serve(self, entry: safeopen.Entry, seen_at: float) -> None:
        name = entry.name
        c = contract.classify(name)
        ref = names.ref(c.stem)
        attempts, waiting = 0, False
        track: readiness.Track | None = readiness.Track(_stat(entry), seen_at)
        try:
            while track is not None:
                track = await self._settled(name, track)
                if track is None:
                    break  # it left the outbox
                if self._active is None:
                    self._active = asyncio.Semaphore(MAX_ACTIVE)
                async with self._active:
                    outcome, wait = await self._attempt(name, c, track.stat, ref, attempts)
                if outcome is _Next.DONE:
                    return
                if outcome is _Next.RESETTLE:
                    track = readiness.Track(track.stat, -1e18)  # observe again at once
                    continue
                attempts += 1
                waiting = waiting or wait is not None
                await asyncio.sleep(wait if wait is not None else self._backoff(attempts))
        except asyncio.CancelledError:
            raise  # shutdown: the query and its waiting answer stay for the next start
        except Exception as e:  # a bug of ours: logged once, the file left as it is
            log.exception("query-failed", query=ref, error=type(e).__name__)
            self._given_up.add(_ident(entry))
            return
        if waiting:  # the query left the outbox while it waited: so does its answer
            await asyncio.to_thread(_unlink_answers, self.inbox, names.out_stem(c.stem))

    async def _settled(self, name: str, track: readiness.Track) -> readiness.Track | None:
        """The file once two observations ``settle`` apart saw it unchanged; None when
        it left the outbox."""
        settle = self.cfg.watch.settle
        while True:
            wait = track.since + settle - self.mono()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                st = await asyncio.to_thread(os.lstat, self.outbox / name)
            except FileNotFoundError:
                return None
            now = self.mono()
            track = readiness.observe(track, _stat_of(st), now)
            if readiness.settled(track, now, settle):
                return track

    def _backoff(self, attempts: int) -> float:
        r = self.cfg.retry
        return max(0.05, compute_backoff(attempts, base=r.base, cap=r.cap,
                                         rand=self.rng.random()))

    async def _attempt(self, name: str, c: contract.Name, st: readiness.Stat, ref: str,
                       attempts: int) -> tuple[_Next, float | None]:
        """Read, parse and answer the settled file once. Returns what comes next and,
        for a wait on the vault, how long."""
        path = self.outbox / name
        out = names.out_stem(c.stem)
        fid = safeopen.FileId(st.dev, st.ino, st.size, st.mtime_ns)
        lang = self.cfg.default_language
        shown = names.shown(name, 4 * names.NAME_MAX)
        if not st.regular:
            try:
                kind = safeopen.kind_of((await asyncio.to_thread(os.lstat, path)).st_mode)
            except FileNotFoundError:
                return _Next.DONE, None
            await self._refuse(name, out, fid, Rejected("file-not-regular", name=shown,
                                                        kind=kind), lang, ref)
            return _Next.DONE, None
        if not c.stem_ok:
            await self._refuse(name, out, fid, Rejected("bad-file-name", name=shown), lang, ref)
            return _Next.DONE, None
        try:
            data = await asyncio.to_thread(safeopen.read_limited, path,
                                           self.cfg.limits.max_sidecar_bytes, fid)
        except FileNotFoundError:
            return _Next.DONE, None
        except Rejected as e:
            if e.code == "file-replaced":
                return _Next.RESETTLE, None
            await self._refuse(name, out, fid, e, lang, ref)
            return _Next.DONE, None
        except OSError as e:
            log.warning("query-unreadable", query=ref, error=e.strerror or type(e).__name__)
            return _Next.RETRY, None
        assert c.fmt is not None
        try:
            q = parse_query(data, c.fmt, today=dt.date.today(),
                            max_bytes=self.cfg.limits.max_sidecar_bytes)
        except SidecarError as e:
            await self._refuse(name, out, fid, e, e.language or lang, ref)
            return _Next.DONE, None
        lang = q.language or lang
        try:
            status = await self.patients.status(q.matricule)
        except (Transient, Held) as e:
            wait = self._backoff(attempts + 1)
            if isinstance(e, Transient) and e.retry_after is not None:
                wait = max(wait, min(e.retry_after, self.cfg.retry.cap * 4))
            now = self.clock()
            doc = waiting_doc(out, q, e, now, now + wait, lang)
            log.info("query-waiting", query=ref, reason=e.code, retry_in_s=round(wait, 1))
            try:
                await asyncio.to_thread(self._write, out, "answer", doc, answer_text(doc))
            except OSError as w:
                log.warning("query-answer-write-failed", query=ref,
                            error=w.strerror or type(w).__name__)
            return _Next.RETRY, wait
        except Rejected as e:  # the vault refused the question itself
            await self._refuse(name, out, fid, e, lang, ref)
            return _Next.DONE, None
        now = self.clock()
        doc = answer_doc(out, q, status, now, lang)
        try:
            async with self._lock(out):
                await asyncio.to_thread(self._finish, name, out, fid, doc)
        except OSError as e:  # the inbox is away or full: asked again later (cached)
            log.warning("query-answer-write-failed", query=ref,
                        error=e.strerror or type(e).__name__)
            return _Next.RETRY, None
        log.info("query-answered", query=ref, status=status.status, from_cache=status.cached)
        return _Next.DONE, None

    def _lock(self, out: str) -> asyncio.Lock:
        return self._stems.setdefault(out, asyncio.Lock())

    async def _refuse(self, name: str, out: str, fid: safeopen.FileId, e: EconnectorError,
                      lang: str, ref: str) -> None:
        """The error file (as a bad sidecar's), then the query into failed/."""
        message, hint = render(e.code, error_params(e, lang), lang)
        doc = receipts.error_doc(code=e.code, message=message, hint=hint, field=e.field,
                                 document_id=None, files=[names.shown(name, 4 * names.NAME_MAX)],
                                 rejected_at=iso(self.clock()), language=lang)
        async with self._lock(out):
            await asyncio.to_thread(self._refused_files, name, out, fid, doc, lang)
        log.info("query-refused", query=ref, code=e.code, field=e.field)

    # -- on a thread --------------------------------------------------------------------------
    def _write(self, out: str, kind: str, doc: dict[str, Any], text: str) -> None:
        """``<out>.<kind>.json`` and ``.txt``, atomically, then one sync of the inbox."""
        fsio.write_json(self.inbox / f"{out}.{kind}.json", doc, durable_dir=False)
        fsio.write_text(self.inbox / f"{out}.{kind}.txt", text, durable_dir=False)
        fsio.fsync_dir(self.inbox)

    def _finish(self, name: str, out: str, fid: safeopen.FileId, doc: dict[str, Any]) -> None:
        """The answer, then the query into ``archive/YYYY/MM/`` (only if it is still the
        file answered: a query rewritten meanwhile stays, to be answered again)."""
        self._write(out, "answer", doc, answer_text(doc))
        when = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        self._move(name, fid, self.archive / f"{when:%Y}" / f"{when:%m}", name)

    def _refused_files(self, name: str, out: str, fid: safeopen.FileId,
                       doc: dict[str, Any], lang: str) -> None:
        """The error file, an earlier answer of this stem removed (it answered another
        question), then the query into failed/ (moved by name, never opened)."""
        self._write(out, "error", doc, receipts.error_text(doc, lang))
        _unlink_answers(self.inbox, out)
        target = names.quarantine_name(name, contract.classify(name).stem)
        self._move(name, fid, self.failed, target)

    def _move(self, name: str, fid: safeopen.FileId, folder: Path, target: str) -> None:
        src = self.outbox / name
        if not safeopen.unchanged(src, fid):
            return  # replaced or removed since it was read
        filemodes.ensure_dir(folder)
        with contextlib.suppress(FileNotFoundError):
            fsio.move(src, fsio.free_name(folder, names.fit(target)))


def _stat(e: safeopen.Entry) -> readiness.Stat:
    return readiness.Stat(e.size, e.mtime_ns, e.ino, e.dev, e.regular)


def _stat_of(st: os.stat_result) -> readiness.Stat:
    return readiness.Stat(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev,
                          stat.S_ISREG(st.st_mode))


def _unlink_answers(inbox: Path, out: str) -> None:
    for suffix in (".answer.json", ".answer.txt"):
        with contextlib.suppress(OSError):
            (inbox / f"{out}{suffix}").unlink(missing_ok=True)


def _ident(e: safeopen.Entry) -> tuple[str, int, int, int, int]:
    return (e.name, e.dev, e.ino, e.size, e.mtime_ns)


__all__ = ["ANSWER_SCHEMA", "FIELDS", "QUERY_KINDS", "SCHEMA_ID", "Query", "QueryDesk",
           "answer_doc", "answer_text", "error_params", "parse_query", "waiting_doc"]
