"""The one writer of what the practice reads, and of the moves that end a document.

Status files, receipts and error files (JSON and text), opted-out answers, the
signed copy, and the originals' moves to ``archive/`` or ``failed/`` are all
written here, on I/O threads: one per stem bucket, so a stem's files keep
their order, and every fsync blocks a thread instead of the event loop that
feeds the signing workers and the uploads (docs/performance.md has what they
cost). Every file is written atomically and fsynced (:mod:`.fsio`); a folder
is synced once for all the files of one step. The crash points name the
moments between two durable effects (:mod:`.crashpoints`).

Originals leave the outbox only after their answer is durable, and only if
they are still the files that were claimed (a file replaced since stays, to
be taken as a new drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import shutil
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog

from . import contract, filemodes, fsio, names, receipts, safeopen
from .codes import Code, as_code
from .crashpoints import reached
from .errors import Rejected, render
from .receipts import iso
from .signer import check_path
from .statestore import Drop, ErrorRecord, FileStat, Receipt

log = structlog.get_logger("econnector.inbox")

IO_THREADS = 2

# A new drop of a stem supersedes these answers of an earlier attempt.
_SUPERSEDED = (".error.json", ".error.txt", ".opted-out.json", ".opted-out.txt")


class InboxWriter:
    """Writes the inbox (and moves originals) on per-stem I/O threads."""

    def __init__(self, *, inbox: Path, outbox: Path, failed: Path,
                 signed_path: Callable[[Drop], Path], default_language: str,
                 threads: int = IO_THREADS) -> None:
        self.inbox, self.outbox, self.failed = inbox, outbox, failed
        self.signed_path = signed_path
        self.default_language = default_language
        self.io = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inbox-io-{i}")
                   for i in range(threads)]
        self.waiting: dict[str, str] = {}  # stem -> waiting reason we last wrote

    # -- the I/O threads ------------------------------------------------------------------
    def executor(self, key: str) -> ThreadPoolExecutor:
        """The thread of a stem (or of another key, e.g. the health file)."""
        return self.io[zlib.crc32(key.encode("utf-8", "surrogateescape")) % len(self.io)]

    def submit(self, key: str, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the key's thread, after what is queued there; failures are logged."""
        fut = self.executor(key).submit(fn, *args)
        fut.add_done_callback(_log_io_failure)

    def schedule(self, key: str, fn: Callable[[], None]) -> asyncio.Future[None]:
        """Run ``fn`` on the key's thread; the caller watches the returned future."""
        return asyncio.get_running_loop().run_in_executor(self.executor(key), fn)

    async def run(self, key: str, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the key's thread and wait for it."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor(key), functools.partial(fn, *args))

    def close(self) -> None:
        """Let queued writes finish (at shutdown, after the documents stopped)."""
        for ex in self.io:
            ex.shutdown(wait=True)

    # -- status files ---------------------------------------------------------------------
    def write_status(self, stem: str, doc: dict[str, Any]) -> None:
        """On the stem's thread. Atomic and fsynced like every file the practice reads;
        the folder is not fsynced: after a power cut a status may be one step old, and
        the daemon rewrites it when it resumes the document."""
        fsio.write_json(self.inbox / f"{stem}.status.json", doc, durable_dir=False)

    def set_waiting(self, stem: str, reason: Code, now: float) -> None:
        """A pair not taken yet says why (once per change of reason)."""
        if self.waiting.get(stem) == reason:
            return
        # The sidecar is not read yet: the practice's default language.
        message, _ = render(reason, {"stem": stem, "detail": "permission denied"},
                            self.default_language)
        doc = receipts.status_doc(document_id=None, stem=stem, state="waiting", reason=reason,
                                  updated_at=iso(now), message=message)
        self.submit(stem, self.write_status, stem, doc)
        self.waiting[stem] = reason

    def clear_waiting(self, stem: str) -> None:
        """The files left the outbox before they were complete: drop our waiting status.

        Nothing is read back from the inbox (another user may have put a FIFO
        there): ``waiting`` says that the status file is ours and says 'waiting'.
        """
        self.waiting.pop(stem, None)
        self.submit(stem, _unlink_quietly, self.inbox / f"{stem}.status.json")

    def claimed(self, stem: str) -> None:
        """The stem was taken: its waiting status is replaced by the drop's."""
        self.waiting.pop(stem, None)

    def supersede_answers(self, stem: str) -> None:
        """A new drop of this stem supersedes the answers of an earlier attempt."""
        for suffix in _SUPERSEDED:
            self.submit(stem, _unlink_quietly, self.inbox / f"{stem}{suffix}")

    def write_final_status(self, d: Drop) -> None:
        self.write_status(d.stem, receipts.drop_status_doc(
            d, final=True, default_language=self.default_language))

    # -- answers (each on the stem's thread) ----------------------------------------------
    def write_answer(self, base: str, kind: str, doc: Mapping[str, Any], text: str) -> None:
        """``<base>.<kind>.json`` and ``.txt`` (a receipt, an error or an opted-out
        answer), each fsynced, then one sync of the inbox folder for both (and for
        the signed copy before them)."""
        fsio.write_json(self.inbox / f"{base}.{kind}.json", doc,
                        crash_point=f"mid-{kind}-write", durable_dir=False)
        reached(f"after-{kind}-json")
        fsio.write_text(self.inbox / f"{base}.{kind}.txt", text, durable_dir=False)
        fsio.fsync_dir(self.inbox)
        reached(f"after-{kind}-txt")

    def delivered_files(self, d: Drop, receipt: Receipt, folder: Path,
                        signed_work: Path | None) -> None:
        """The file half of finishing a delivery."""
        # 1. what the practice reads
        signed_src = signed_work if signed_work and signed_work.exists() else (
            Path(d.signed_archive) if d.signed_archive else None
        )
        # Each file is fsynced before its rename; the inbox folder is synced once
        # for all three (a folder sync costs as much as a file's).
        if signed_src is not None and os.path.lexists(signed_src):
            _copy_regular(signed_src, self.inbox / f"{d.stem}.signed.pdf")
        reached("after-signed-copy")
        self.write_answer(d.stem, "receipt", receipt, receipts.receipt_text(
            receipt, d.language or self.default_language))
        # 2. only now, with the receipt durable, do the originals leave the outbox
        filemodes.ensure_dir(folder)
        reached("before-archive-move")
        self.move_original(d, folder, "archive")
        if signed_work is not None and signed_work.exists() and d.signed_archive:
            fsio.move(signed_work, Path(d.signed_archive), durable_dir=False)
        if signed_work is not None:  # the self-check is in the receipt now
            check_path(signed_work).unlink(missing_ok=True)
        fsio.fsync_dir(folder)
        reached("after-archive-signed")
        self.write_final_status(d)
        reached("after-final-status")

    def rejected_files(self, d: Drop) -> None:
        """The file half of finishing a refusal."""
        err: ErrorRecord = d.error or {"code": "internal-error", "message": "", "hint": ""}
        lang = d.language or self.default_language
        message, hint = err["message"], err["hint"]
        if "params" in err or not message:  # rendered in the staff's language
            message, hint = render(as_code(err["code"]), err.get("params") or {}, lang)
        else:
            lang = "en"  # a refusal recorded before errors kept their params
        others = self._other_sidecars(d) if err["code"] == "sidecar-ambiguous" else []
        # Names in full (NAME_MAX bytes, each at most 4 characters when escaped).
        files = [names.shown(n, 4 * names.NAME_MAX)
                 for n in (d.pdf_name, d.sidecar_name, *others) if n]
        doc = receipts.error_doc(
            code=err["code"], message=message, hint=hint, field=err.get("field"),
            document_id=d.document_id, files=files, rejected_at=iso(d.updated_at),
            language=lang,
        )
        self.write_answer(d.stem, "error", doc, receipts.error_text(doc, lang))
        self.move_original(d, self.failed, "failed")
        for name in others:  # moved by name, never opened (a link moves as a link)
            target = names.fit(names.quarantine_name(name, contract.classify(name).stem))
            with contextlib.suppress(FileNotFoundError):
                fsio.move(self.outbox / name, fsio.free_name(self.failed, target),
                          durable_dir=False)
        fsio.fsync_dir(self.failed)
        if d.signed and d.provider_code and d.document_id:
            # Only the drop that signed owns the signed file (a duplicate never signs).
            self.signed_path(d).unlink(missing_ok=True)
        self.write_final_status(d)
        reached("after-rejected-status")

    def _other_sidecars(self, d: Drop) -> list[str]:
        """The stem's other sidecars go to failed/ too: left behind, each would wait for
        a PDF and end as sidecar-orphaned, over this error file."""
        return [n for n in sorted(os.listdir(self.outbox)) if n != d.sidecar_name
                and (c := contract.classify(n)).kind is contract.Kind.SIDECAR
                and names.out_stem(c.stem) == d.stem]

    def opted_out_files(self, d: Drop) -> None:
        """The file half of finishing an opted-out document."""
        assert d.signed_archive is not None
        signed_work, target = self.signed_path(d), Path(d.signed_archive)
        src = signed_work if signed_work.exists() else target
        if os.path.lexists(src):
            _copy_regular(src, self.inbox / f"{d.stem}.signed.pdf")
        reached("after-opted-out-signed-copy")
        lang = d.language or self.default_language
        doc = receipts.opted_out_doc(d, decided_at=iso(d.updated_at), language=lang)
        self.write_answer(d.stem, "opted-out", doc, receipts.opted_out_text(doc))
        filemodes.ensure_dir(target.parent)
        reached("before-opted-out-archive")
        self.move_original(d, target.parent, "archive")
        if signed_work.exists():
            fsio.move(signed_work, target, durable_dir=False)
        check_path(signed_work).unlink(missing_ok=True)
        fsio.fsync_dir(target.parent)
        reached("after-opted-out-archive")
        self.write_final_status(d)
        reached("after-opted-out-status")

    def move_original(self, d: Drop, folder: Path, where: str) -> None:
        """Move the pair away, but only files that are still the ones claimed: a PDF or
        sidecar replaced or changed since then stays in the outbox, to be processed as
        a new drop once this one has ended (the archive never holds a sidecar that
        was not the one processed). Refused originals with a bad name get ours.
        The caller syncs ``folder``."""
        pdf = self.outbox / d.pdf_name if d.pdf_name else None
        if pdf is not None and d.pdf_stat and os.path.lexists(pdf) and not _still_claimed(
            pdf, d.pdf_stat
        ):
            log.warning("original-replaced", drop=d.id, file="pdf")
            return
        for name, rec, point in ((d.pdf_name, d.pdf_stat, f"after-{where}-pdf"),
                                 (d.sidecar_name, d.sidecar_stat, f"after-{where}-sidecar")):
            if not name:
                continue
            src = self.outbox / name
            if not os.path.lexists(src):
                continue  # already moved (resumed after a crash) or removed by the vendor
            if rec and name == d.sidecar_name and not _still_claimed(src, rec):
                log.warning("original-replaced", drop=d.id, file="sidecar")
                continue
            target = names.fit(names.quarantine_name(name, contract.classify(name).stem)
                               if where == "failed" else name)
            fsio.move(src, fsio.free_name(folder, target), durable_dir=False)
            reached(point)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _log_io_failure(fut: Future[None]) -> None:
    e = None if fut.cancelled() else fut.exception()
    if e is not None:
        log.warning("inbox-write-failed", error=type(e).__name__)


def _still_claimed(path: Path, rec: FileStat) -> bool:
    """Is the outbox file at ``path`` still the one recorded at claim? By ``lstat``
    (nothing is opened), and for a sidecar whose hash was recorded, by its content
    read through a descriptor (a rewrite in place can keep size and mtime)."""
    fid = safeopen.FileId.from_record(rec)
    if fid is None:
        return True
    if not safeopen.unchanged(path, fid):
        return False
    want = rec.get("sha256")
    if want is None:
        return True
    try:
        data = safeopen.read_limited(path, int(rec.get("size") or 0), fid)
    except (OSError, Rejected):
        return False
    return hashlib.sha256(data).hexdigest() == want


def _copy_regular(src: Path, target: Path) -> None:
    """Copy a signed PDF into the inbox; the source (a rebuilt record may point into
    the inbox) is read through a descriptor that must be a regular file."""
    with safeopen.opened(src) as fin, fsio.atomic_writer(target, durable_dir=False) as fout:
        shutil.copyfileobj(fin, fout, fsio.CHUNK)
