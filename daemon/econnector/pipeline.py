"""The pipeline: outbox -> validate -> sign -> vault -> inbox, resumable at every step.

Originals stay in the outbox until their outcome is on disk (receipt or error
file); only then are they moved to ``archive/YYYY/MM/`` or ``failed/``. A
*drop* row in the state store marks a stem as taken while it is processed; the
file identity (inode, size, mtime) recorded at claim time tells whether the
file in the outbox is still the one we processed when we move it away.

The signed bytes are written to ``work/signed/<id>.pdf`` and fsynced, and their
hash is committed, before the first upload; every retry sends those same bytes
with the same idempotency key, so the vault stores each document once.

Loop: directory scans (startup, periodic, and whenever the watcher hints)
feed the readiness decisions; ready pairs are claimed; due drops are
dispatched as tasks, bounded in number so a backlog of thousands costs memory
for a few at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from . import contract, fsio, readiness, receipts
from .backoff import compute_backoff
from .config import Config
from .errors import (
    EconnectorError,
    FileBusy,
    Held,
    PdfError,
    Rejected,
    Transient,
    render,
)
from .signer import DIGEST, SIGNATURE_LEVEL, SUBFILTER, SignerInfo, SigningPool, SignJob
from .states import Event, State
from .store import Drop, Store
from .vault_client import VaultClient, idempotency_key

log = structlog.get_logger("econnector.pipeline")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


@dataclass
class StemFiles:
    pdf: str | None = None
    sidecars: list[str] = field(default_factory=list)
    stem_ok: bool = True


@dataclass
class Identities:
    """Which doctors can sign now; locked ones are retried on every rescan."""

    unlocked: dict[str, SignerInfo] = field(default_factory=dict)
    locked: dict[str, str] = field(default_factory=dict)  # provider -> reason detail
    secrets: dict[str, bytes] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        vault: VaultClient,
        pool: SigningPool,
        *,
        clock: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.vault = vault
        self.pool = pool
        self.clock = clock
        self.mono = mono
        f = cfg.folders
        self.outbox, self.inbox, self.archive, self.failed = f.outbox, f.inbox, f.archive, f.failed
        self.signed_dir = f.work / "signed"
        self.timing = readiness.Timing(
            settle=cfg.watch.settle,
            incomplete_timeout=cfg.watch.incomplete_timeout,
            orphan_timeout=cfg.watch.orphan_timeout,
        )
        self.tracks: dict[str, readiness.Track] = {}
        self.waiting: dict[str, str] = {}  # stem -> waiting reason we last wrote
        self.busy_stems: dict[str, int] = {}  # stem -> drop id in progress
        self.due: dict[int, float] = {}  # drop id -> wall time when it may run
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.ids = Identities()
        self.wake = asyncio.Event()
        self.next_recheck: float | None = None
        self.max_inflight = max(4, cfg.signing.workers * 2 + cfg.vault.concurrency * 2)
        self.vault_sem = asyncio.Semaphore(cfg.vault.concurrency)
        self.sign_sem = asyncio.Semaphore(cfg.signing.workers * 2)
        self.signing_in_flight = 0
        self.rng = random.Random()

    # ------------------------------------------------------------------ startup
    def prepare(self) -> None:
        for p in (self.outbox, self.inbox, self.archive, self.failed, self.signed_dir):
            p.mkdir(parents=True, exist_ok=True)
        self._clean_temp(self.inbox)
        self._clean_temp(self.signed_dir)
        self.unlock_identities(start_pool=True)
        for d in self.store.unfinished():
            self.busy_stems[d.stem] = d.id
            self.due[d.id] = d.next_attempt_at or 0.0
        if self.due:
            log.info("resuming", documents=len(self.due))

    def _clean_temp(self, folder: Path) -> None:
        """Remove our own temp files left by a crash (names we create: ``.*.tmp``)."""
        with contextlib.suppress(FileNotFoundError):
            for e in os.scandir(folder):
                if e.name.endswith(".tmp") and (
                    e.name.startswith(".") or folder == self.signed_dir
                ):
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)

    def unlock_identities(self, start_pool: bool = False) -> bool:
        """Try every locked identity; restart the workers if one became usable."""
        from .signer import describe, load_signer

        changed = False
        for ident in self.cfg.identities:
            pc = ident.provider_code
            if pc in self.ids.unlocked:
                continue
            try:
                secret = ident.passphrase()
            except (OSError, KeyError, UnicodeError) as e:
                detail = "no passphrase available" if isinstance(e, KeyError) else str(e)
                self.ids.locked[pc] = detail[:120]
                continue
            try:
                s = load_signer(pc, ident.pkcs12, secret)
            except Held as e:
                self.ids.locked[pc] = str(e.params.get("detail", ""))
                continue
            self.ids.unlocked[pc] = describe(pc, s)
            self.ids.secrets[pc] = secret
            self.ids.locked.pop(pc, None)
            changed = True
            log.info("identity-unlocked", provider=pc)
        for pc, why in self.ids.locked.items():
            log.warning("identity-locked", provider=pc, detail=why)
        if changed or start_pool:
            self.pool.start(
                [(pc, str(self.cfg.identity(pc).pkcs12), self.ids.secrets[pc])  # type: ignore[union-attr]
                 for pc in self.ids.unlocked]
            )
        return changed

    # ------------------------------------------------------------------ main loop
    async def run(self, stop: asyncio.Event) -> None:
        self.prepare()
        next_rescan = 0.0
        while not stop.is_set():
            mono = self.mono()
            if self.wake.is_set() or mono >= next_rescan or (
                self.next_recheck is not None and mono >= self.next_recheck
            ):
                periodic = mono >= next_rescan
                self.wake.clear()
                t_scan = self.mono()
                self.scan()
                log.debug("scanned", ms=round((self.mono() - t_scan) * 1000, 1),
                          recheck_in=None if self.next_recheck is None
                          else round(self.next_recheck - self.mono(), 3))
                if periodic:
                    next_rescan = mono + self.cfg.watch.rescan_interval
                    if self.ids.locked and self.signing_in_flight == 0:
                        self._maybe_unlock()
            self.dispatch()
            timeout = self._sleep_for(next_rescan)
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    def _sleep_for(self, next_rescan: float) -> float:
        mono = self.mono()
        wake_at = [next_rescan]
        if self.next_recheck is not None:
            wake_at.append(self.next_recheck)
        now = self.clock()
        if len(self.tasks) < self.max_inflight:
            pending = [t for i, t in self.due.items() if i not in self.tasks]
            if pending:
                wake_at.append(mono + max(0.0, min(pending) - now))
        return max(0.005, min(wake_at) - mono)

    def hint(self) -> None:
        """Called (thread-safely, via the loop) when the watcher saw something."""
        self.wake.set()

    async def drain(self, deadline: float) -> None:
        """Let running documents finish until ``deadline`` (monotonic), then cancel them.

        Cancelling is safe at any await: every durable step is committed before
        the next one starts, and a restart resumes from the last committed state.
        """
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=max(0.0, deadline - self.mono()))
        for t in list(self.tasks.values()):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=2)

    def _maybe_unlock(self) -> None:
        if self.unlock_identities():
            for d in self.store.unfinished():
                if d.state is State.HELD and d.reason == "identity-locked" and (
                    d.provider_code in self.ids.unlocked
                ):
                    self._transition(d, Event.RELEASE, reason=None, message="")
                    self.due[d.id] = 0.0

    # ------------------------------------------------------------------ scanning
    def scan(self) -> None:
        """One pass over the outbox: the source of truth, whatever the events said."""
        now_m = self.mono()
        groups: dict[str, StemFiles] = {}
        seen: set[str] = set()
        try:
            entries = list(os.scandir(self.outbox))
        except OSError as e:
            log.error("outbox-unreadable", path=str(self.outbox), error=e.strerror)
            return
        for entry in entries:
            name = contract.classify(entry.name)
            if name.kind is contract.Kind.IGNORED:
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue  # symlinks and folders are never followed
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            seen.add(entry.name)
            self.tracks[entry.name] = readiness.observe(
                self.tracks.get(entry.name),
                readiness.Stat(st.st_size, st.st_mtime_ns, st.st_ino),
                now_m,
            )
            g = groups.setdefault(name.stem, StemFiles(stem_ok=name.stem_ok))
            if name.kind is contract.Kind.PDF:
                if g.pdf is None or entry.name < g.pdf:
                    g.pdf = entry.name
            else:
                g.sidecars.append(entry.name)
        for gone in set(self.tracks) - seen:
            del self.tracks[gone]
        self.next_recheck = None
        for stem, g in sorted(groups.items()):
            if stem in self.busy_stems:
                continue
            try:
                self._consider(stem, g, now_m)
            except OSError as e:
                log.warning("scan-file-error", stem=stem, error=str(e))
        for stem in [s for s in self.waiting if s not in groups]:
            self._clear_waiting(stem)

    def _recheck_at(self, t: float | None) -> None:
        if t is not None and (self.next_recheck is None or t < self.next_recheck):
            self.next_recheck = t

    def _consider(self, stem: str, g: StemFiles, now_m: float) -> None:
        g.sidecars.sort()
        pdf_t = self.tracks.get(g.pdf) if g.pdf else None
        side_t = self.tracks.get(g.sidecars[0]) if g.sidecars else None
        if not g.stem_ok:
            # A lone bad-stem file is not picked up; a complete pair gets an error file.
            if pdf_t and side_t and all(
                readiness.settled(t, now_m, self.timing.settle) for t in (pdf_t, side_t)
            ):
                self._claim_and_reject(stem, g, Rejected("bad-file-name", name=g.pdf))
            elif pdf_t and side_t:
                self._recheck_at(max(pdf_t.since, side_t.since) + self.timing.settle)
            return
        has_eof = False
        if pdf_t is not None and side_t is not None and readiness.settled(
            pdf_t, now_m, self.timing.settle
        ):
            has_eof = pdf_t.stat.size > 0 and fsio.tail_has_eof(self.outbox / g.pdf)  # type: ignore[operator]
        decision = readiness.decide(pdf_t, side_t, has_eof, now_m, self.timing)
        self._recheck_at(decision.recheck_at)
        v = readiness.Verdict
        if decision.verdict is v.READY:
            if len(g.sidecars) > 1:
                self._claim_and_reject(stem, g, Rejected("sidecar-ambiguous", stem=stem))
            else:
                self._claim(stem, g)
        elif decision.verdict is v.INCOMPLETE:
            assert g.pdf is not None
            path = self.outbox / g.pdf
            if pdf_t is not None and pdf_t.stat.size == 0:
                err = PdfError("pdf-empty")
            elif not fsio.head_has_pdf_header(path):
                err = PdfError("pdf-not-pdf")
            else:
                err = PdfError("pdf-incomplete", seconds=int(self.timing.incomplete_timeout))
            self._claim_and_reject(stem, g, err)
        elif decision.verdict is v.ORPHANED:
            self._claim_and_reject(
                stem, g, Rejected("sidecar-orphaned", stem=stem,
                                  seconds=int(self.timing.orphan_timeout)),
            )
        elif decision.verdict in (v.AWAITING_SIDECAR, v.AWAITING_PDF, v.AWAITING_EOF):
            self._set_waiting(stem, decision.verdict.value)

    def _set_waiting(self, stem: str, reason: str) -> None:
        if self.waiting.get(stem) == reason:
            return
        message, _ = render(reason, {"stem": stem})
        self._write_status_raw(
            stem,
            receipts.status_doc(
                document_id=None, stem=stem, state="waiting", reason=reason,
                updated_at=iso(self.clock()), message=message,
            ),
        )
        self.waiting[stem] = reason

    def _clear_waiting(self, stem: str) -> None:
        """The files left the outbox before they were complete: drop our waiting status."""
        self.waiting.pop(stem, None)
        with contextlib.suppress(OSError):
            path = self.inbox / f"{stem}.status.json"
            if json.loads(path.read_text("utf-8")).get("state") == "waiting":
                path.unlink()

    # ------------------------------------------------------------------ claiming
    def _pdf_stat(self, g: StemFiles) -> dict[str, int] | None:
        t = self.tracks.get(g.pdf) if g.pdf else None
        if t is None:
            return None
        return {"size": t.stat.size, "mtime_ns": t.stat.mtime_ns, "ino": t.stat.ino}

    def _new_drop(self, stem: str, g: StemFiles) -> Drop:
        d = self.store.create(
            stem, g.pdf or "", g.sidecars[0] if g.sidecars else "", self._pdf_stat(g), self.clock()
        )
        self.busy_stems[stem] = d.id
        self.waiting.pop(stem, None)
        return d

    def _claim(self, stem: str, g: StemFiles) -> None:
        d = self._new_drop(stem, g)
        # A new drop of this stem supersedes the error files of an earlier attempt.
        for suffix in (".error.json", ".error.txt"):
            (self.inbox / f"{_safe_out_stem(stem)}{suffix}").unlink(missing_ok=True)
        log.info("claimed", drop=d.id, stem=stem)
        self._write_status(d)
        self.due[d.id] = 0.0

    def _claim_and_reject(self, stem: str, g: StemFiles, err: EconnectorError) -> None:
        d = self._new_drop(stem, g)
        d = self._reject(d, err)
        self.due[d.id] = 0.0

    # ------------------------------------------------------------------ dispatch
    def dispatch(self) -> None:
        now = self.clock()
        for drop_id in sorted(i for i, t in self.due.items() if t <= now):
            if len(self.tasks) >= self.max_inflight:
                break
            if drop_id in self.tasks:
                continue
            del self.due[drop_id]
            task = asyncio.get_running_loop().create_task(self._run_drop(drop_id))
            self.tasks[drop_id] = task
            task.add_done_callback(functools.partial(self._task_done, drop_id))

    def _task_done(self, drop_id: int, _task: object = None) -> None:
        self.tasks.pop(drop_id, None)
        self.wake.set()

    async def _run_drop(self, drop_id: int) -> None:
        try:
            await self._advance(drop_id)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug of ours: keep the document, say so, retry later
            log.exception("internal-error", drop=drop_id)
            d = self.store.get(drop_id)
            attempts = d.attempts + 1
            delay = compute_backoff(attempts, base=self.cfg.retry.base, cap=self.cfg.retry.cap,
                                    rand=self.rng.random())
            msg, _ = render("internal-error", {"detail": type(e).__name__})
            fields: dict[str, Any] = {"reason": "internal-error", "message": msg,
                                      "attempts": attempts,
                                      "next_attempt_at": self.clock() + delay}
            if d.state in (State.RECEIVED, State.SIGNED, State.DELIVERING):
                d = self._transition(d, Event.RETRY_LATER, **fields)
            else:
                d = self.store.update(d.id, self.clock(), **fields)
                self._write_status(d)
            self.due[d.id] = fields["next_attempt_at"]

    async def _advance(self, drop_id: int) -> None:
        """Drive one drop as far as it can go now."""
        while True:
            d = self.store.get(drop_id)
            if d.state is State.RECEIVED:
                d = await self._receive(d)
                if d.state is State.RECEIVED:
                    return  # deferred (waits for an identical duplicate in flight)
            elif d.state is State.SIGNED or d.state is State.DELIVERING:
                d = await self._deliver(d)
            elif d.state is State.WAITING_RETRY:
                if (d.next_attempt_at or 0) > self.clock():
                    self.due[d.id] = d.next_attempt_at or 0.0
                    return
                d = self._transition(d, Event.UPLOAD if d.signed else Event.RESUME)
            elif d.state is State.HELD:
                if d.reason == "identity-locked" and d.provider_code in self.ids.unlocked:
                    d = self._transition(d, Event.RELEASE, reason=None, message="")
                    continue
                return
            elif d.state is State.DELIVERED:
                if d.finalized_at is None:
                    self._finalize_delivered(d)
                return
            elif d.state is State.REJECTED:
                if d.finalized_at is None:
                    self._finalize_rejected(d)
                return
            if d.state in (State.WAITING_RETRY, State.HELD):
                if d.state is State.WAITING_RETRY:
                    self.due[d.id] = d.next_attempt_at or 0.0
                return

    # ------------------------------------------------------------------ steps
    async def _receive(self, d: Drop) -> Drop:
        """Validate the pair, detect duplicates, sign."""
        if d.meta is None:
            try:
                d = self._validate(d)
            except Rejected as e:
                return self._reject(d, e)
            except FileNotFoundError as e:
                return self._reject(d, Rejected("drop-withdrawn", name=Path(e.filename).name))
            except PermissionError as e:
                return self._retry_later(d, FileBusy("file-busy", detail=e.strerror or "denied"))
        assert d.meta is not None and d.doc_key is not None
        others = [o for o in self.store.by_doc_key(d.doc_key)
                  if o.id != d.id and o.state is not State.REJECTED]
        if any(o.content_hash != d.content_hash for o in others):
            return self._reject(
                d, Rejected("duplicate-document-id", value=d.document_id, provider=d.provider_code)
            )
        delivered = [o for o in others if o.state is State.DELIVERED and o.finalized_at]
        if delivered:
            return self._replay(d, delivered[0])
        if others:  # an identical drop is still in flight: wait for its outcome
            self.due[d.id] = self.clock() + 1.0
            return d
        pc = d.provider_code or ""
        if pc not in self.ids.unlocked:
            return self._hold(d, Held("identity-locked", provider=pc,
                                      detail=self.ids.locked.get(pc, "locked")))
        dst = self.signed_dir / f"{d.id}.pdf"
        job = SignJob(
            provider_code=pc, src=str(self.outbox / d.pdf_name), dst=str(dst),
            max_pages=self.cfg.limits.max_pages, bytes_reserved=self.cfg.signing.bytes_reserved,
            location=self.cfg.signing.location,
        )
        async with self.sign_sem:
            self.signing_in_flight += 1
            try:
                out = await self.pool.sign(job)
            finally:
                self.signing_in_flight -= 1
        if not out.ok:
            if out.code == "identity-locked":
                return self._hold(d, Held("identity-locked", provider=pc, detail="worker"))
            if out.code == "file-busy":
                return self._retry_later(d, FileBusy("file-busy", **out.params))
            return self._reject(d, PdfError(out.code, **out.params))
        # The incremental update must start with exactly the bytes we validated and
        # hashed; if the vendor rewrote the PDF meanwhile, start over with the new one.
        if not _prefix_matches(dst, d.pdf_stat or {}, d.original_sha256 or ""):
            dst.unlink(missing_ok=True)
            log.warning("original-changed", drop=d.id, stem=d.stem)
            return self._reject(d, PdfError("pdf-signing-failed",
                                            detail="the PDF changed while it was being signed; "
                                                   "drop it again"))
        info = self.ids.unlocked[pc]
        signature = {
            "level": SIGNATURE_LEVEL, "subfilter": SUBFILTER, "signer_subject": info.subject,
            "certificate_serial": info.serial_hex, "digest_algorithm": DIGEST,
        }
        return self._transition(d, Event.SIGNED, signed_sha256=out.sha256, signature=signature,
                                signed_at=out.signed_at.replace("+00:00", "Z"), reason=None,
                                message="")

    def _validate(self, d: Drop) -> Drop:
        side = self.outbox / d.sidecar_name
        pdf = self.outbox / d.pdf_name
        fmt: Any = "json" if d.sidecar_name.lower().endswith(".json") else "yaml"
        limit = self.cfg.limits.max_sidecar_bytes
        with open(side, "rb") as f:
            data = f.read(limit + 1)
        meta = contract.parse_sidecar(
            data, fmt, providers=[i.provider_code for i in self.cfg.identities],
            today=dt.date.today(), max_bytes=limit,
        )
        size = pdf.stat().st_size
        if size > self.cfg.limits.max_pdf_bytes:
            raise PdfError("pdf-too-large", size=size, limit=self.cfg.limits.max_pdf_bytes)
        canonical = meta.canonical()
        original_sha = _sha256_prefix(pdf, (d.pdf_stat or {}).get("size", size))
        content = hashlib.sha256(
            (original_sha + "\0" + json.dumps(canonical, sort_keys=True)).encode()
        ).hexdigest()
        return self.store.update(
            d.id, self.clock(), meta=canonical, provider_code=meta.provider_code,
            document_id=meta.document_id, doc_key=f"{meta.provider_code}/{meta.document_id}",
            content_hash=content, original_sha256=original_sha,
            language=meta.language or self.cfg.default_language,
        )

    async def _deliver(self, d: Drop) -> Drop:
        if d.state is State.SIGNED:
            d = self._transition(d, Event.UPLOAD)
        assert d.meta is not None and d.provider_code and d.document_id
        signed = self.signed_dir / f"{d.id}.pdf"
        # The vault's metadata is the sidecar without its schema marker, plus the
        # hash of the original (the signed file's own hash is in the upload).
        metadata = {k: v for k, v in d.meta.items() if k != "schema"}
        metadata["original_sha256"] = d.original_sha256
        key = idempotency_key(d.provider_code, d.document_id)
        try:
            async with self.vault_sem:
                res = await self.vault.upload(metadata, signed, key)
        except Transient as e:
            return self._retry_later(d, e)
        except Held as e:
            # Credentials refused: nothing a retry of this document fixes by itself,
            # but IT may fix the token; retry slowly and say so loudly.
            log.error("vault-unauthorized", drop=d.id)
            return self._retry_later(d, e, floor=self.cfg.retry.cap)
        except Rejected as e:
            return self._reject(d, e)
        delivery = {
            "vault_document_id": res.vault_document_id, "received_at": res.received_at,
            "sha256": res.sha256, "fee_amount": res.fee_amount, "fee_currency": res.fee_currency,
            "replayed": res.replayed,
        }
        if res.sha256 != d.signed_sha256:
            log.error("vault-hash-mismatch", drop=d.id)
        return self._transition(d, Event.CONFIRMED, delivery=delivery,
                                delivered_at=iso(self.clock()), reason=None, message="")

    def _retry_later(self, d: Drop, e: EconnectorError, floor: float = 0.0) -> Drop:
        attempts = d.attempts + 1
        retry_after = e.retry_after if isinstance(e, Transient) else None
        delay = max(floor, compute_backoff(attempts, base=self.cfg.retry.base,
                                           cap=self.cfg.retry.cap, rand=self.rng.random(),
                                           retry_after=retry_after))
        nxt = self.clock() + delay
        log.warning("retry-later", drop=d.id, code=e.code, attempts=attempts,
                    delay=round(delay, 2))
        d = self._transition(d, Event.RETRY_LATER, reason=e.code, message=e.message,
                             attempts=attempts, next_attempt_at=nxt)
        self.due[d.id] = nxt
        return d

    def _hold(self, d: Drop, e: Held) -> Drop:
        log.warning("held", drop=d.id, code=e.code)
        return self._transition(d, Event.HOLD, reason=e.code, message=e.message)

    def _reject(self, d: Drop, e: EconnectorError) -> Drop:
        err = e.as_dict()
        log.info("rejected", drop=d.id, stem=d.stem, code=e.code, field=e.field)
        return self._transition(d, Event.REJECT, error=err, reason=e.code, message=e.message)

    def _replay(self, d: Drop, first: Drop) -> Drop:
        """An identical re-drop of a delivered document: same receipt, nothing sent."""
        log.info("duplicate-replayed", drop=d.id, of=first.id)
        return self._transition(
            d, Event.REPLAYED, duplicate_of=first.id, signed_sha256=first.signed_sha256,
            signature=first.signature, signed_at=first.signed_at, delivery=first.delivery,
            delivered_at=first.delivered_at, signed_archive=first.signed_archive,
        )

    # ------------------------------------------------------------------ finishing
    def _finalize_delivered(self, d: Drop) -> None:
        """Receipt and signed copy into the inbox, then originals into the archive."""
        assert d.meta and d.delivery and d.signature and d.signed_at and d.delivered_at
        source = d if d.duplicate_of is None else self.store.get(d.duplicate_of)
        receipt = receipts.receipt_doc(
            meta=source.meta or d.meta, delivery=d.delivery, signature=d.signature,
            signed_at=d.signed_at, delivered_at=d.delivered_at,
            original_sha256=source.original_sha256 or "", signed_sha256=d.signed_sha256 or "",
        )
        signed_work = self.signed_dir / f"{d.id}.pdf"
        signed_src = signed_work if signed_work.exists() else (
            Path(d.signed_archive) if d.signed_archive else None
        )
        if signed_src is not None and signed_src.exists():
            fsio.copy_atomic(signed_src, self.inbox / f"{d.stem}.signed.pdf")
        fsio.write_json(self.inbox / f"{d.stem}.receipt.json", receipt)
        fsio.write_text(self.inbox / f"{d.stem}.receipt.txt",
                        receipts.receipt_text(receipt, d.language or self.cfg.default_language))
        delivered = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        folder = self.archive / f"{delivered:%Y}" / f"{delivered:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        self._move_original(d, folder)
        signed_archive = d.signed_archive
        if signed_work.exists():
            target = fsio.free_name(folder, f"{d.stem}.signed.pdf")
            fsio.move(signed_work, target)
            signed_archive = str(target)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock(),
                              signed_archive=signed_archive)
        self._write_status(d)
        self._release_stem(d)
        vault_id = d.delivery["vault_document_id"] if d.delivery else None
        log.info("delivered", drop=d.id, stem=d.stem, vault_document_id=vault_id,
                 replay=d.duplicate_of is not None)

    def _finalize_rejected(self, d: Drop) -> None:
        err = d.error or {"code": "internal-error", "message": "", "hint": ""}
        files = [n for n in (d.pdf_name, d.sidecar_name) if n]
        doc = receipts.error_doc(
            code=err["code"], message=err["message"], hint=err["hint"], field=err.get("field"),
            document_id=d.document_id, files=files, rejected_at=iso(self.clock()),
        )
        base = _safe_out_stem(d.stem)
        fsio.write_json(self.inbox / f"{base}.error.json", doc)
        fsio.write_text(self.inbox / f"{base}.error.txt",
                        receipts.error_text(doc, d.language or self.cfg.default_language))
        self._move_original(d, self.failed)
        (self.signed_dir / f"{d.id}.pdf").unlink(missing_ok=True)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        self._write_status(d)
        self._release_stem(d)

    def _move_original(self, d: Drop, folder: Path) -> None:
        """Move the pair away, unless the vendor replaced a file since we claimed it."""
        for name, check in ((d.pdf_name, True), (d.sidecar_name, False)):
            if not name:
                continue
            src = self.outbox / name
            try:
                st = src.stat()
            except FileNotFoundError:
                continue  # already moved (resumed after a crash) or removed by the vendor
            if check and d.pdf_stat and (st.st_ino, st.st_size, st.st_mtime_ns) != (
                d.pdf_stat["ino"], d.pdf_stat["size"], d.pdf_stat["mtime_ns"]
            ):
                log.warning("original-replaced", drop=d.id, stem=d.stem)
                continue  # a new version: it will be picked up as a new drop
            fsio.move(src, fsio.free_name(folder, name))

    def _release_stem(self, d: Drop) -> None:
        if self.busy_stems.get(d.stem) == d.id:
            del self.busy_stems[d.stem]
        self.tracks.pop(d.pdf_name, None)
        self.tracks.pop(d.sidecar_name, None)
        self.wake.set()

    # ------------------------------------------------------------------ status
    def _transition(self, d: Drop, event: Event, **fields: Any) -> Drop:
        d = self.store.transition(d.id, event, self.clock(), **fields)
        if d.state not in (State.DELIVERED, State.REJECTED):
            self._write_status(d)
        return d

    def _write_status(self, d: Drop) -> None:
        state = d.state.value
        message = d.message or ""
        if d.state is State.DELIVERED and d.finalized_at is None:
            state = "delivering"  # receipt not on disk yet
        if not message:
            message = {
                "received": "Received; validating and signing.",
                "signed": "Signed; delivering to the vault.",
                "delivering": "Delivering to the vault.",
                "delivered": "Delivered to the patient's vault; see the receipt.",
                "rejected": "Rejected; see the error file.",
            }.get(state, "")
        doc = receipts.status_doc(
            document_id=d.document_id, stem=d.stem, state=state, updated_at=iso(d.updated_at),
            attempts=d.attempts,
            reason=d.reason if d.state in (State.HELD, State.WAITING_RETRY, State.REJECTED)
            else None,
            next_attempt_at=iso(d.next_attempt_at)
            if d.state is State.WAITING_RETRY and d.next_attempt_at else None,
            message=message,
        )
        self._write_status_raw(_safe_out_stem(d.stem), doc)

    def _write_status_raw(self, stem: str, doc: dict[str, Any]) -> None:
        fsio.write_json(self.inbox / f"{stem}.status.json", doc)


def _safe_out_stem(stem: str) -> str:
    """Output names for bad stems: keep them recognisable but within file-name limits."""
    if len(stem.encode("utf-8")) <= 200 and "/" not in stem and not stem.startswith("."):
        return stem
    digest = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return "bad-name-" + digest


def _sha256_prefix(path: Path, size: int) -> str:
    h = hashlib.sha256()
    left = size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(fsio.CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _prefix_matches(signed: Path, pdf_stat: dict[str, Any], original_sha256: str) -> bool:
    size = pdf_stat.get("size")
    if size is None:
        return True
    return _sha256_prefix(signed, int(size)) == original_sha256

