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
import errno
import functools
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from . import contract, filemodes, fsio, names, readiness, receipts, safeopen
from .backoff import compute_backoff
from .config import Config
from .crashpoints import reached
from .errors import (
    EconnectorError,
    FileBusy,
    Held,
    IdentityHeld,
    PatientOptedOut,
    PdfError,
    Rejected,
    Transient,
    render,
)
from .receipts import iso
from .schedule import DueQueue
from .signer import (
    DIGEST,
    SIGNATURE_LEVEL,
    SUBFILTER,
    SignerInfo,
    SigningPool,
    SignJob,
    identity_info,
    validity,
)
from .states import TERMINAL, Event, State
from .statestore import Drop, Store
from .vault_client import VaultClient, idempotency_key
from .vault_gate import GateState, VaultGate

log = structlog.get_logger("econnector.pipeline")

# Threads writing the practice's files (see Pipeline._in_io).
IO_THREADS = 2

HEALTH_FILE = "daemon-status.json"  # in work/: what blocks the whole daemon

# Hold reasons that belong to the vault gate (not to the document): released
# when the gate opens.
GATE_HOLDS = frozenset({"vault-unauthorized", "vault-tls"})

# A receipt read back to rebuild a lost database is a few KiB; more is not ours.
RECEIPT_MAX_BYTES = 1024 * 1024

# An upload shorter than this does not get its own 'delivering' status write.
DELIVERING_STATUS_DELAY = 1.0

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




@dataclass(slots=True)
class StemFiles:
    pdf: str | None = None
    sidecars: list[str] = field(default_factory=list)
    stem_ok: bool = True
    irregular: list[tuple[str, str]] = field(default_factory=list)  # (name, what it is)


@dataclass
class Identities:
    """Which doctors can sign now; the others are retried on every rescan."""

    unlocked: dict[str, SignerInfo] = field(default_factory=dict)
    locked: dict[str, str] = field(default_factory=dict)  # provider -> reason detail
    secrets: dict[str, bytes] = field(default_factory=dict)
    # The key opens but the certificate must not sign now (expired, not yet valid).
    invalid: dict[str, tuple[SignerInfo, IdentityHeld]] = field(default_factory=dict)

    def blocked(self) -> list[str]:
        """Provider codes that cannot sign now, for whatever reason."""
        return sorted({*self.locked, *self.invalid})

    def why(self, pc: str) -> tuple[str, str]:
        """(catalog code, short English detail) of an identity that cannot sign."""
        if pc in self.invalid:
            info, held = self.invalid[pc]
            if held.code == "certificate-expired":
                return held.code, f"certificate expired on {info.not_after}"
            return held.code, f"certificate valid only from {info.not_before}"
        return "identity-locked", self.locked.get(pc, "locked")

    def report(self, providers: list[str]) -> dict[str, dict[str, Any]]:
        """The "identities" map of the health file (no secrets)."""
        out: dict[str, dict[str, Any]] = {}
        for pc in providers:
            info = self.unlocked.get(pc) or (self.invalid[pc][0] if pc in self.invalid else None)
            ok = pc in self.unlocked
            reason, detail = (None, "") if ok else self.why(pc)
            out[pc] = {"state": "unlocked" if ok else "locked", "reason": reason,
                       "detail": detail,
                       "not_before": (info.not_before or None) if info else None,
                       "not_after": info.not_after if info else None}
        return out


# Hold reasons that end when the doctor's identity can sign again.
IDENTITY_HOLDS = frozenset({"identity-locked", "certificate-expired",
                            "certificate-not-yet-valid"})


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
        self.released: set[str] = set()  # stems finished since the current scan began
        # Drops that failed in a way retrying cannot mend: kept (a person looks, a
        # restart tries once more) without holding a claim slot or looping.
        self.parked: set[int] = set()
        self.due = DueQueue()  # drop id -> wall time when it may run
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.ids = Identities()
        self.wake = asyncio.Event()
        self.scan_hint = False
        self.next_recheck: float | None = None
        self.max_inflight = max(4, cfg.signing.workers * 2 + cfg.vault.concurrency * 2)
        # At most this many drops are claimed and unfinished at once: a backlog of
        # thousands is taken in slices, so the first receipts come at once and
        # memory stays bounded.
        self.max_claimed = max(256, self.max_inflight * 16)
        self.vault_sem = asyncio.Semaphore(cfg.vault.concurrency)
        self.sign_sem = asyncio.Semaphore(cfg.signing.workers * 2)
        self.signing_in_flight = 0
        self.rng = random.Random()
        self.gate = VaultGate(base=cfg.retry.base, cap=cfg.retry.cap)
        self.storage_paused: str | None = None
        self.status_stale: set[int] = set()
        self.io = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inbox-io-{i}")
                   for i in range(IO_THREADS)]
        self.outbox_id: tuple[int, int] | None = None
        self.outbox_missing = False
        self.inbox_missing = False  # nothing is claimed: no answer could be written
        self.on_outbox_changed: Callable[[], None] = lambda: None
        self.console: Callable[[str], None] = _console  # what IT sees on the terminal
        self.providers = [i.provider_code for i in cfg.identities]
        self.started_at = iso(clock())
        self.token_mtime = self._token_mtime()
        self.ca_mtime = self._ca_mtime()
        # Builds a new vault client (IT replaced the CA bundle: a TLS context cannot
        # be changed in place); None when the vault is not reached over TLS.
        self.remake_vault: Callable[[], VaultClient] | None = None
        self.retired_vaults: list[VaultClient] = []

    # ------------------------------------------------------------------ startup
    prepared = False

    def prepare(self) -> None:
        self.prepared = True
        # An outbox or inbox outside folders.root is never created (an unmounted
        # share must not become an empty local folder): it is waited for.
        for p in (self.outbox, self.inbox):
            if self._creatable(p):
                filemodes.ensure_dir(p)
        for p in (self.archive, self.failed, self.signed_dir):
            filemodes.ensure_dir(p)
        self._clean_temp(self.inbox)
        self._clean_temp(self.signed_dir)
        self.unlock_identities(start_pool=True)
        self._folder_state("outbox", not self.outbox.is_dir(), health=False)
        self._folder_state("inbox", not self.inbox.is_dir(), health=False)
        for pc in self.ids.blocked():
            reason, detail = self.ids.why(pc)
            self.console(f"identity {pc} cannot sign ({reason}): {detail}; its documents "
                         "wait until this is fixed")
        self._write_health()  # at once: a file left by an earlier process never remains
        if self.store.fresh:
            self._rebuild_from_inbox()
        for d in self.store.unfinished():
            self.busy_stems[d.stem] = d.id
            self.due[d.id] = d.next_attempt_at or 0.0
        if self.due:
            log.info("resuming", documents=len(self.due))

    def _rebuild_from_inbox(self) -> None:
        """A new (or lost) database: learn past deliveries from the receipts in the inbox.

        With them, a re-drop of a delivered document is recognised as a duplicate
        instead of being signed anew (the vault would refuse the new bytes under the
        old idempotency key anyway: nothing is ever sent twice).
        """
        count = 0
        for path in sorted(self.inbox.glob("*.receipt.json")):
            stem = path.name[: -len(".receipt.json")]
            if not names.stem_ok(stem):
                continue  # never one of ours
            try:
                # Through a descriptor: another user may have put a FIFO or a link here.
                receipt = json.loads(safeopen.read_limited(path, RECEIPT_MAX_BYTES))
                if receipt.get("schema") != receipts.RECEIPT_SCHEMA:
                    continue
                signed = self.inbox / f"{stem}.signed.pdf"
                self.store.import_delivered(stem, receipt, self.clock(),
                                            str(signed) if signed.exists() else None)
                count += 1
            except (OSError, ValueError, KeyError, TypeError, AttributeError, Rejected) as e:
                log.warning("rebuild-skipped", stem=names.ref(stem), error=type(e).__name__)
        if count:
            log.warning("state-rebuilt-from-inbox", deliveries=count)

    def _creatable(self, folder: Path) -> bool:
        """Inside folders.root: econnector's own, created when missing."""
        root = self.cfg.folders.root
        return root is not None and folder.absolute().is_relative_to(root.absolute())

    def _folder_state(self, which: str, missing: bool, health: bool = True) -> None:
        """Record (and say, once per change) that the outbox or inbox is missing or back."""
        attr = f"{which}_missing"
        if getattr(self, attr) == missing:
            return
        setattr(self, attr, missing)
        path = self.outbox if which == "outbox" else self.inbox
        if missing:
            log.error(f"{which}-missing", path=str(path))
            self.console(f"folders.{which}: {path} is missing or unreadable "
                         f"({which}-missing); econnector waits for it")
        else:
            log.warning(f"{which}-back", path=str(path))
            self.console(f"folders.{which}: {path} is back; resuming")
        if health:
            self._write_health()

    async def _check_inbox(self) -> None:
        self._folder_state("inbox", not await asyncio.to_thread(self._inbox_ok))

    def _inbox_ok(self) -> bool:
        """Runs on a thread: is the inbox there? One of ours (inside folders.root) that
        was deleted is made again; one outside it is waited for."""
        if self.inbox.is_dir():
            return True
        if self._creatable(self.inbox):
            with contextlib.suppress(OSError):
                filemodes.ensure_dir(self.inbox)
                return True
        return False

    def _ca_mtime(self) -> float | None:
        return _mtime(self.cfg.vault.ca_bundle if self.cfg.vault.kind == "http" else None)

    def _token_mtime(self) -> float | None:
        return _mtime(self.cfg.vault.token_file)

    def _clean_temp(self, folder: Path) -> None:
        """Remove our own temp files left by a crash (names we create: ``.*.tmp``)."""
        with contextlib.suppress(FileNotFoundError):
            for e in os.scandir(folder):
                if e.name.endswith(".tmp") and (
                    e.name.startswith(".") or folder == self.signed_dir
                ):
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)

    def _now_dt(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def check_validity(self) -> None:
        """A certificate that expired while we ran stops signing at once (its documents
        are held from now on); its worker keeps the key but gets no more jobs."""
        now = self._now_dt()
        for pc, info in list(self.ids.unlocked.items()):
            held = validity(info, now)
            if held is not None:
                del self.ids.unlocked[pc]
                self.ids.secrets.pop(pc, None)
                self.ids.invalid[pc] = (info, held)
                log.warning("identity-cannot-sign", provider=pc, reason=held.code,
                            not_before=info.not_before, not_after=info.not_after)
                self._write_health()

    def unlock_identities(self, start_pool: bool = False) -> bool:
        """Try every identity that cannot sign (a key that does not open, a certificate
        outside its validity); restart the workers if one became usable."""
        self.check_validity()
        now = self._now_dt()
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
                self.ids.invalid.pop(pc, None)
                continue
            try:
                info = identity_info(pc, ident.pkcs12, secret)
            except Held as e:
                self.ids.locked[pc] = str(e.params.get("detail", ""))
                self.ids.invalid.pop(pc, None)
                continue
            self.ids.locked.pop(pc, None)
            held = validity(info, now)
            if held is not None:
                self.ids.invalid[pc] = (info, held)
                continue
            self.ids.invalid.pop(pc, None)
            self.ids.unlocked[pc] = info
            self.ids.secrets[pc] = secret
            changed = True
            log.info("identity-unlocked", provider=pc)
        for pc in self.ids.blocked():
            reason, detail = self.ids.why(pc)
            log.warning("identity-locked", provider=pc, reason=reason, detail=detail)
        if changed or start_pool:
            self.pool.start(
                [(pc, str(self.cfg.identity(pc).pkcs12), self.ids.secrets[pc])  # type: ignore[union-attr]
                 for pc in self.ids.unlocked]
            )
        return changed

    # ------------------------------------------------------------------ main loop
    async def run(self, stop: asyncio.Event) -> None:
        if not self.prepared:
            self.prepare()
        next_rescan = 0.0
        last_scan = -1e9
        # File events come in bursts (a few per file written); one scan per burst is
        # enough, and readiness waits for ``settle`` anyway.
        base_gap = min(0.05, self.cfg.watch.settle / 5)
        hint_gap = base_gap
        while not stop.is_set():
            mono = self.mono()
            hinted = self.scan_hint and mono - last_scan >= hint_gap
            if hinted or mono >= next_rescan or (
                self.next_recheck is not None and mono >= self.next_recheck
            ):
                periodic = mono >= next_rescan
                self.scan_hint = False
                last_scan = mono
                try:
                    await self.scan()
                except Exception as e:  # a bug in one pass never stops the daemon
                    log.exception("scan-failed", error=type(e).__name__)
                # A scan costs O(files in the outbox); with a backlog of thousands,
                # hinted scans are spaced so they take at most ~1/5 of the time.
                hint_gap = max(base_gap, 5 * (self.mono() - mono))
                if periodic:
                    next_rescan = mono + self.cfg.watch.rescan_interval
                    self.check_validity()
                    if self.ids.blocked() and self.signing_in_flight == 0:
                        self._maybe_unlock()
                    await self._check_inbox()
                    if self.storage_paused:
                        self._probe_storage()
                    self._check_token()
                    await self._check_ca_bundle()
            self.wake.clear()
            self.dispatch()
            timeout = self._sleep_for(next_rescan)
            if self.scan_hint:
                timeout = min(timeout, max(0.001, last_scan + hint_gap - self.mono()))
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    def _sleep_for(self, next_rescan: float) -> float:
        mono = self.mono()
        wake_at = [next_rescan]
        if self.next_recheck is not None:
            wake_at.append(self.next_recheck)
        if len(self.tasks) < self.max_inflight:
            nxt = self.due.next_time()
            if nxt is not None:
                wake_at.append(mono + max(0.0, nxt - self.clock()))
        return max(0.002, min(wake_at) - mono)

    def _check_token(self) -> None:
        """IT replaced the vault token file: use it, and let a held queue try at once."""
        mtime = self._token_mtime()
        if mtime == self.token_mtime:
            return
        self.token_mtime = mtime
        try:
            token = self.cfg.vault.token()
        except (OSError, KeyError):
            return
        if token:
            self.vault.set_token(token)
            log.info("vault-token-reloaded")
            if self.gate.state is GateState.UNAUTHORIZED:
                self.gate.probe_now(self.clock())
                self._wake_gate_waiters(first_only=True)

    async def _check_ca_bundle(self) -> None:
        """IT replaced the vault's CA bundle file: trust it from now on (a new client, as
        a TLS context cannot be changed in place), and let a held queue try at once."""
        mtime = await asyncio.to_thread(self._ca_mtime)
        if mtime == self.ca_mtime or self.remake_vault is None:
            return
        self.ca_mtime = mtime
        try:
            client = await asyncio.to_thread(self.remake_vault)
        except EconnectorError as e:  # unreadable for now (half written?): next rescan
            self.ca_mtime = None
            log.warning("vault-ca-bundle-unusable", detail=e.message)
            return
        # An upload may still use the old client: it is closed at shutdown.
        self.retired_vaults.append(self.vault)
        self.vault = client
        log.info("vault-ca-bundle-reloaded")
        if self.gate.state is GateState.TLS:
            self.gate.probe_now(self.clock())
            self._wake_gate_waiters(first_only=True)

    async def close_vaults(self) -> None:
        for client in [*self.retired_vaults, self.vault]:
            await client.aclose()

    def _pause_storage(self, e: BaseException) -> None:
        reason = f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}"
        if self.storage_paused is None:
            log.error("storage-paused", reason=reason,
                      hint="free disk space or fix the folder; econnector resumes by itself")
        self.storage_paused = reason
        self._write_health()

    def _probe_storage(self) -> None:
        """Can we write every folder again? Then resume the documents that waited."""
        try:
            for folder in (self.inbox, self.archive, self.failed, self.signed_dir):
                if folder != self.inbox or self._creatable(folder):
                    filemodes.ensure_dir(folder)
                fsio.write_bytes(folder / ".econnector-probe", b"ok")
                (folder / ".econnector-probe").unlink()
        except OSError as e:
            self.storage_paused = f"{type(e).__name__}: {e.strerror or e}"
            return
        log.warning("storage-resumed")
        self.storage_paused = None
        self._write_health()
        now = self.clock()
        for drop_id in list(self.due):
            self.due[drop_id] = min(self.due[drop_id], now)
        for drop_id in list(self.status_stale):
            d = self.store.get(drop_id)
            if d.finalized_at is None:
                self.status_stale.discard(drop_id)
                self._write_status(d)

    def _write_health(self) -> None:
        """work/daemon-status.json: what blocks the whole daemon, for `econnector status`."""
        folders = {
            name: {"path": str(path), "ok": not missing,
                   "reason": f"{name}-missing" if missing else None}
            for name, path, missing in (("outbox", self.outbox, self.outbox_missing),
                                        ("inbox", self.inbox, self.inbox_missing))
        }
        doc = {
            "schema": "econnector.daemon-status/v1",
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": iso(self.clock()),
            "storage": {"paused": self.storage_paused is not None,
                        "reason": self.storage_paused},
            "vault": {"state": self.gate.state.value, "reason": self.gate.reason,
                      "message": self.gate.message,  # English; params render it in any language
                      "params": {k: str(v) for k, v in self.gate.params.items() if v is not None},
                      "next_probe_at": iso(self.gate.next_probe)
                      if self.gate.state is not GateState.OPEN else None},
            "identities_locked": self.ids.blocked(),
            "identities": self.ids.report(self.providers),
            "outbox_missing": self.outbox_missing,
            "inbox_missing": self.inbox_missing,
            "folders": folders,
        }
        # On an I/O thread (always the same one, so versions stay in order): the
        # write is fsynced, and the event loop never waits for a disk.
        self._io_job(HEALTH_FILE, _write_json_quietly, self.cfg.folders.work / HEALTH_FILE, doc)

    def hint(self) -> None:
        """Called (thread-safely, via the loop) when the watcher saw something."""
        self.scan_hint = True
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
        before = self.ids.report(self.providers)
        changed = self.unlock_identities()
        if self.ids.report(self.providers) != before:
            self._write_health()
        if changed:
            for d in self.store.unfinished():
                if d.state is State.HELD and d.reason in IDENTITY_HOLDS and (
                    d.provider_code in self.ids.unlocked
                ):
                    self._transition(d, Event.RELEASE, reason=None, message="")
                    self.due[d.id] = 0.0

    # ------------------------------------------------------------------ scanning
    async def scan(self) -> None:
        """One pass over the outbox: the source of truth, whatever the events said.

        The listing and every read of a file run on a thread (a name can be a FIFO
        or sit on a share that stalls); the decisions run here. Stems released by
        a finishing document while the listing ran are left for the next pass: the
        listing may still show files that have just been archived.
        """
        now_m = self.mono()
        self.released = set()
        try:
            ident, entries = await asyncio.to_thread(safeopen.list_dir, self.outbox, _contract_name)
        except OSError as e:
            # A network share that went away, or a folder removed by someone: keep
            # running, keep everything already claimed, and look again later.
            if not self.outbox_missing:
                log.error("outbox-unreadable", path=str(self.outbox), error=e.strerror)
            self._folder_state("outbox", True)
            return
        if self.outbox_missing or (self.outbox_id is not None and ident != self.outbox_id):
            # Back, or replaced by another folder: the old watch is dead.
            self._folder_state("outbox", False)
            if self.outbox_id is not None and ident != self.outbox_id:
                log.warning("outbox-replaced", path=str(self.outbox))
            self.on_outbox_changed()
        self.outbox_id = ident
        groups = self._group(entries, now_m)
        # Nothing is taken while no answer could be written (disk full, inbox away).
        todo = [(key, g) for key, g in sorted(groups.items())
                if key not in self.busy_stems and not self.storage_paused
                and not self.inbox_missing]
        jobs = self._probe_jobs(todo, now_m)
        probes = await asyncio.to_thread(_probe_pairs, jobs) if jobs else {}
        self.next_recheck = None
        for key, g in todo:
            if key in self.busy_stems or key in self.released:
                continue  # claimed or finished while we were reading
            if self._claimed_active() >= self.max_claimed:
                break  # the rest waits for room (_release_stem asks for a scan)
            try:
                self._consider(key, g, now_m, probes.get(key))
            except Exception as e:  # one bad stem never stops the others
                log.exception("scan-stem-failed", stem=names.ref(key),
                              error=type(e).__name__)
        for stem in [s for s in self.waiting if s not in groups]:
            self._clear_waiting(stem)

    def _group(self, entries: list[safeopen.Entry], now_m: float) -> dict[str, StemFiles]:
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
            g = groups.setdefault(names.out_stem(name.stem),
                                  StemFiles(stem_ok=name.stem_ok))
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

    def _probe_jobs(self, todo: list[tuple[str, StemFiles]], now_m: float) -> list[_ProbeJob]:
        """The pairs worth opening: a settled PDF with one sidecar, both regular files;
        no more than could be claimed now (a backlog of thousands is not read at
        every pass; the rest is probed when there is room)."""
        jobs: list[_ProbeJob] = []
        room = self.max_claimed - self._claimed_active()
        for key, g in todo:
            if len(jobs) >= room:
                break
            if not (g.pdf and g.sidecars and g.stem_ok and not g.irregular):
                continue
            side = min(g.sidecars)
            pdf_t, side_t = self.tracks.get(g.pdf), self.tracks.get(side)
            if pdf_t is None or side_t is None or not readiness.settled(
                pdf_t, now_m, self.timing.settle
            ):
                continue
            jobs.append(_ProbeJob(key, self.outbox / g.pdf, _file_id(pdf_t.stat),
                                  self.outbox / side, _file_id(side_t.stat)))
        return jobs

    def _recheck_at(self, t: float | None) -> None:
        if t is not None and (self.next_recheck is None or t < self.next_recheck):
            self.next_recheck = t

    def _consider(self, stem: str, g: StemFiles, now_m: float, probe: Any) -> None:
        g.sidecars.sort()
        pdf_t = self.tracks.get(g.pdf) if g.pdf else None
        side_t = self.tracks.get(g.sidecars[0]) if g.sidecars else None
        members = [t for t in (pdf_t, side_t) if t is not None]
        if g.irregular:
            # A link, FIFO or folder under a contract name is never opened or
            # followed: refused (with whatever regular partner it has) once settled.
            if all(readiness.settled(t, now_m, self.timing.settle) for t in members):
                name, kind = g.irregular[0]
                self._claim_and_reject(stem, g, Rejected("file-not-regular", name=name,
                                                         kind=kind))
            else:
                self._recheck_at(max(t.since for t in members) + self.timing.settle)
            return
        if not g.stem_ok:
            # A lone bad-stem file is not picked up; a complete pair gets an error file.
            if pdf_t and side_t and all(
                readiness.settled(t, now_m, self.timing.settle) for t in (pdf_t, side_t)
            ):
                self._claim_and_reject(stem, g, Rejected("bad-file-name", name=g.pdf))
            elif pdf_t and side_t:
                self._recheck_at(max(pdf_t.since, side_t.since) + self.timing.settle)
            return
        if pdf_t is not None and side_t is not None and readiness.settled(
            pdf_t, now_m, self.timing.settle
        ):
            if probe is None:
                self.scan_hint = True  # changed since listed: look again
                return
            if probe is BUSY:  # unreadable for now (a lock, a mode): say so, look later
                self._set_waiting(stem, "file-busy")
                return
        has_eof = bool(isinstance(probe, safeopen.PdfProbe) and probe.has_eof)
        has_header = not isinstance(probe, safeopen.PdfProbe) or probe.has_header
        decision = readiness.decide(pdf_t, side_t, has_eof, now_m, self.timing,
                                    pdf_has_header=has_header)
        self._recheck_at(decision.recheck_at)
        v = readiness.Verdict
        if decision.verdict is v.READY:
            if len(g.sidecars) > 1:
                self._claim_and_reject(stem, g, Rejected("sidecar-ambiguous", stem=stem))
            else:
                self._claim(stem, g)
        elif decision.verdict is v.INCOMPLETE:
            assert g.pdf is not None
            if pdf_t is not None and pdf_t.stat.size == 0:
                err = PdfError("pdf-empty")
            elif not probe.has_header:
                err = PdfError("pdf-not-pdf")
            else:
                err = PdfError("pdf-incomplete", seconds=int(self.timing.incomplete_timeout))
            self._claim_and_reject(stem, g, err)
        elif decision.verdict is v.NOT_PDF:  # e.g. a Word file renamed .pdf
            self._claim_and_reject(stem, g, PdfError("pdf-not-pdf"))
        elif decision.verdict is v.ORPHANED:
            self._claim_and_reject(
                stem, g, Rejected("sidecar-orphaned", stem=stem,
                                  seconds=int(self.timing.orphan_timeout)),
            )
        elif decision.verdict is v.SIDECAR_MISSING:
            self._claim_and_reject(
                stem, g, Rejected("sidecar-missing", stem=stem,
                                  seconds=int(self.timing.orphan_timeout)),
            )
        elif decision.verdict in (v.AWAITING_SIDECAR, v.AWAITING_PDF, v.AWAITING_EOF):
            self._set_waiting(stem, decision.verdict.value)

    def _set_waiting(self, stem: str, reason: str) -> None:
        if self.waiting.get(stem) == reason:
            return
        # The sidecar is not read yet: the practice's default language.
        message, _ = render(reason, {"stem": stem, "detail": "permission denied"},
                            self.cfg.default_language)
        doc = receipts.status_doc(
            document_id=None, stem=stem, state="waiting", reason=reason,
            updated_at=iso(self.clock()), message=message,
        )
        self._io_job(stem, self._write_status_raw, stem, doc)
        self.waiting[stem] = reason

    def _clear_waiting(self, stem: str) -> None:
        """The files left the outbox before they were complete: drop our waiting status.

        Nothing is read back from the inbox (another user may have put a FIFO
        there): ``waiting`` says that the status file is ours and says 'waiting'.
        """
        self.waiting.pop(stem, None)
        self._io_job(stem, _unlink_quietly, self.inbox / f"{stem}.status.json")

    def _io_job(self, stem: str, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the stem's I/O thread, after what is queued there for it."""
        fut = self._io_for(stem).submit(fn, *args)
        fut.add_done_callback(_log_io_failure)

    # ------------------------------------------------------------------ claiming
    def _stats(self, g: StemFiles) -> tuple[dict[str, int] | None, dict[str, int] | None]:
        """What the claim records of each file: its identity when it was judged settled."""
        out: list[dict[str, int] | None] = []
        for name in (g.pdf, g.sidecars[0] if g.sidecars else None):
            t = self.tracks.get(name) if name else None
            out.append(None if t is None else {"size": t.stat.size, "mtime_ns": t.stat.mtime_ns,
                                               "ino": t.stat.ino, "dev": t.stat.dev})
        return out[0], out[1]

    def _new_drop(self, stem: str, g: StemFiles) -> Drop:
        pdf_stat, side_stat = self._stats(g)
        d = self.store.create(
            stem, g.pdf or "", g.sidecars[0] if g.sidecars else "", pdf_stat, self.clock(),
            sidecar_stat=side_stat,
        )
        self.busy_stems[stem] = d.id
        self.waiting.pop(stem, None)
        reached("after-claim")
        return d

    def _claim(self, stem: str, g: StemFiles) -> None:
        d = self._new_drop(stem, g)
        self.due[d.id] = 0.0
        log.info("claimed", drop=d.id, stem=names.ref(stem))
        # A new drop of this stem supersedes the error files of an earlier attempt.
        for suffix in (".error.json", ".error.txt", ".opted-out.json", ".opted-out.txt"):
            self._io_job(stem, _unlink_quietly, self.inbox / f"{stem}{suffix}")
        self._write_status(d, crash_point="after-received-status")

    def _claim_and_reject(self, stem: str, g: StemFiles, err: EconnectorError) -> None:
        d = self._new_drop(stem, g)
        d = self._reject(d, err)
        self.due[d.id] = 0.0

    # ------------------------------------------------------------------ dispatch
    def dispatch(self) -> None:
        room = self.max_inflight - len(self.tasks)
        if room <= 0:
            return
        loop = asyncio.get_running_loop()
        for drop_id in self.due.pop_due(self.clock(), room):
            if drop_id in self.tasks:
                continue
            task = loop.create_task(self._run_drop(drop_id))
            self.tasks[drop_id] = task
            task.add_done_callback(functools.partial(self._task_done, drop_id))

    def _task_done(self, drop_id: int, _task: object = None) -> None:
        self.tasks.pop(drop_id, None)
        self.wake.set()

    async def _run_drop(self, drop_id: int) -> None:
        try:
            await self._advance(drop_id)
        except asyncio.CancelledError:
            self.gate.drop_probe(drop_id)
            raise
        except (OSError, sqlite3.OperationalError) as e:
            self.gate.drop_probe(drop_id)
            if isinstance(e, sqlite3.OperationalError) or e.errno in STORAGE_ERRNOS:
                # The disk is full or a folder is unusable: the state on disk is as
                # far as it got; pause, and pick the document up again later.
                self._pause_storage(e)
                self.status_stale.add(drop_id)
                self.due[drop_id] = self.clock() + self.cfg.watch.rescan_interval
                return
            self._internal_error(drop_id, e)
        except Exception as e:
            self.gate.drop_probe(drop_id)
            self._internal_error(drop_id, e)

    def _internal_error(self, drop_id: int, e: Exception) -> None:
        """A bug of ours, or a file-system refusal: keep the document, say so, retry
        later; but an error that cannot get better (a name the file system refuses)
        or one that keeps coming back is final, never a loop that holds a claim slot."""
        log.exception("internal-error", drop=drop_id, error=type(e).__name__)
        d = self.store.get(drop_id)
        attempts = d.attempts + 1
        msg = self._text("internal-error", {"detail": type(e).__name__}, d)
        final = (isinstance(e, OSError) and e.errno in PERMANENT_ERRNOS) or (
            attempts >= MAX_INTERNAL_ATTEMPTS)
        try:
            if final:
                self._internal_final(d, attempts, type(e).__name__)
                return
            delay = compute_backoff(attempts, base=self.cfg.retry.base, cap=self.cfg.retry.cap,
                                    rand=self.rng.random())
            fields: dict[str, Any] = {"reason": "internal-error", "message": msg,
                                      "attempts": attempts,
                                      "next_attempt_at": self.clock() + delay}
            if d.state in (State.RECEIVED, State.SIGNED, State.DELIVERING):
                d = self._transition(d, Event.RETRY_LATER, **fields)
            else:
                d = self.store.update(d.id, self.clock(), **fields)
                self._write_status(d)
            self.due[d.id] = fields["next_attempt_at"]
        except OSError:
            self.status_stale.add(drop_id)
            self.due[d.id] = self.clock() + self.cfg.retry.cap

    def _internal_final(self, d: Drop, attempts: int, detail: str) -> None:
        """No more retries. Not yet signed: refused with an error file. Signed (perhaps
        already in the vault): held for a person. Already decided: parked."""
        log.error("internal-error-final", drop=d.id, attempts=attempts)
        if d.state in TERMINAL:
            self.store.update(d.id, self.clock(), attempts=attempts)
            self.parked.add(d.id)
            return
        err = Rejected("internal-error", detail=detail)
        if not d.signed:
            self._transition(d, Event.REJECT, error=err.as_dict(), reason=err.code,
                             message=self._text(err.code, err.params, d), attempts=attempts)
            self.due[d.id] = self.clock()
            return
        if d.state is not State.HELD:
            self._transition(d, Event.HOLD, reason=err.code,
                             message=self._text(err.code, err.params, d), attempts=attempts)
        self.parked.add(d.id)

    async def _advance(self, drop_id: int) -> None:
        """Drive one drop as far as it can go now."""
        if drop_id in self.status_stale:  # a status write failed while storage was paused
            self.status_stale.discard(drop_id)
            self._write_status(self.store.get(drop_id))
        while True:
            d = self.store.get(drop_id)
            now = self.clock()
            if d.state is State.RECEIVED:
                d = await self._receive(d)
                if d.state is State.RECEIVED:
                    return  # deferred (waits for an identical duplicate in flight)
            elif d.state is State.SIGNED:
                if not self.gate.admit(d.id, now):
                    self._wait_for_gate(d)
                    return
                d = await self._deliver(self._transition(d, Event.UPLOAD, status=False))
            elif d.state is State.DELIVERING:
                # Resumed after a crash or shutdown: the upload may have happened, so
                # send the same bytes with the same key again; the vault replays.
                if not self.gate.admit(d.id, now):
                    self._wait_for_gate(d)
                    return
                d = await self._deliver(d)
            elif d.state is State.WAITING_RETRY:
                # Waits on the vault follow the gate, not the document's own time.
                gated = d.signed and d.reason == "vault-unavailable"
                if not gated and (d.next_attempt_at or 0) > now:
                    self.due[d.id] = d.next_attempt_at or 0.0
                    return
                if not d.signed:
                    d = self._transition(d, Event.RESUME)
                    continue
                if not self.gate.admit(d.id, now):
                    self._wait_for_gate(d)
                    return
                d = await self._deliver(self._transition(d, Event.UPLOAD, status=False))
            elif d.state is State.HELD:
                if d.reason in IDENTITY_HOLDS and d.provider_code in self.ids.unlocked:
                    d = self._transition(d, Event.RELEASE, reason=None, message="")
                    continue
                if d.reason in GATE_HOLDS:
                    # Held by the gate (the vault refuses us or is not trusted): the
                    # gate probes, and when it opens everyone is released.
                    if self.gate.admit(d.id, now):
                        d = self._transition(d, Event.RELEASE, reason=None, message="")
                        continue
                    self.gate.waiters.add(d.id)
                    if not self.gate.misconfigured:
                        self._schedule_probe()  # restarted: the gate does not know yet
                return
            elif d.state is State.DELIVERED:
                if d.finalized_at is None:
                    await self._finalize_delivered(d)
                return
            elif d.state is State.REJECTED:
                if d.finalized_at is None:
                    await self._finalize_rejected(d)
                return
            elif d.state is State.PATIENT_OPTED_OUT:
                if d.finalized_at is None:
                    await self._finalize_opted_out(d)
                return
            if d.state in (State.WAITING_RETRY, State.HELD):
                return

    # ------------------------------------------------------------------ steps
    def _signed_path(self, d: Drop) -> Path:
        """Where the signed bytes of this document live until they are archived.

        Named by the idempotency key, not the drop: if the database is lost, a
        re-claimed drop finds the bytes it signed (and perhaps uploaded) before.
        """
        assert d.provider_code and d.document_id
        return self.signed_dir / f"{idempotency_key(d.provider_code, d.document_id)}.pdf"

    async def _receive(self, d: Drop) -> Drop:
        """Validate the pair, detect duplicates, sign."""
        if d.meta is None:
            try:
                d = self._record_validated(d, await asyncio.to_thread(self._read_pair, d))
            except Rejected as e:
                return self._reject(d, e)
            except FileNotFoundError as e:
                return self._reject(d, Rejected("drop-withdrawn", name=Path(e.filename).name))
            except PermissionError as e:
                return self._retry_later(d, FileBusy("file-busy", detail=e.strerror or "denied"))
            reached("after-validate")
        assert d.meta is not None and d.doc_key is not None
        others = [o for o in self.store.by_doc_key(d.doc_key)
                  if o.id != d.id and o.state not in (State.REJECTED, State.PATIENT_OPTED_OUT)]
        if any(not _same_content(o, d) for o in others):
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
        dst = self._signed_path(d)
        # (A stat of our own private folder; the hashing, when there is anything to
        # hash, runs on a thread.)
        reused = await asyncio.to_thread(_reusable_signed, dst, d.pdf_stat or {},
                                         d.original_sha256 or "") if dst.exists() else None
        if reused is not None:
            # Signed before a crash (or before the database was lost): these may be
            # the very bytes the vault already holds, so never sign again.
            log.info("signed-bytes-reused", drop=d.id)
            signed_sha, signed_at = reused[0], iso(reused[1])
        else:
            # Judged now, not only at the last rescan: a certificate that expired a
            # moment ago never signs again.
            self.check_validity()
            if pc in self.ids.invalid:  # expired or not yet valid: never signed with
                return self._hold(d, self.ids.invalid[pc][1])
            if pc not in self.ids.unlocked:
                return self._hold(d, IdentityHeld("identity-locked", provider=pc,
                                          detail=self.ids.locked.get(pc, "locked")))
            job = SignJob(
                provider_code=pc, src=str(self.outbox / d.pdf_name), dst=str(dst),
                max_pages=self.cfg.limits.max_pages,
                bytes_reserved=self.cfg.signing.bytes_reserved,
                location=self.cfg.signing.location,
                expect=_expect(d.pdf_stat),
            )
            async with self.sign_sem:
                self.signing_in_flight += 1
                try:
                    out = await self.pool.sign(job)
                finally:
                    self.signing_in_flight -= 1
            if not out.ok:
                if out.code == "identity-locked":
                    return self._hold(
                        d, IdentityHeld("identity-locked", provider=pc, detail="worker"))
                if out.code == "file-busy":
                    return self._retry_later(d, FileBusy("file-busy", **out.params))
                return self._reject(d, PdfError(out.code, **out.params))
            # The incremental update must start with exactly the bytes we validated and
            # hashed; if the vendor rewrote the PDF meanwhile, this attempt is void.
            claimed_size = (d.pdf_stat or {}).get("size", out.input_size)
            if out.input_size != claimed_size or out.input_sha256 != d.original_sha256:
                dst.unlink(missing_ok=True)
                log.warning("original-changed", drop=d.id)
                return self._reject(d, Rejected("file-replaced", name=d.pdf_name))
            signed_sha, signed_at = out.sha256, out.signed_at.replace("+00:00", "Z")
            reached("after-sign-before-commit")
        info = self.ids.unlocked.get(pc)
        signature = {
            "level": SIGNATURE_LEVEL, "subfilter": SUBFILTER,
            "signer_subject": info.subject if info else "",
            "certificate_serial": info.serial_hex if info else "", "digest_algorithm": DIGEST,
        }
        # No status write here: 'delivering' (or a wait for the vault) follows at once.
        d = self._transition(d, Event.SIGNED, status=False, signed_sha256=signed_sha,
                             signature=signature, signed_at=signed_at, reason=None, message="")
        reached("after-signed-commit")
        return d

    def _read_pair(self, d: Drop) -> tuple[contract.DocumentMeta, str, str]:
        """Runs on a thread: the sidecar's metadata and hash, and the original's hash.

        Both files are read through descriptors that must still be the files the
        claim recorded (safeopen): a link, a FIFO or another file is refused.
        """
        side = self.outbox / d.sidecar_name
        pdf = self.outbox / d.pdf_name
        fmt: Any = "json" if d.sidecar_name.lower().endswith(".json") else "yaml"
        limit = self.cfg.limits.max_sidecar_bytes
        data = safeopen.read_limited(side, limit, safeopen.FileId.from_record(d.sidecar_stat))
        meta = contract.parse_sidecar(
            data, fmt, providers=[i.provider_code for i in self.cfg.identities],
            today=dt.date.today(), max_bytes=limit,
        )
        with safeopen.opened(pdf, safeopen.FileId.from_record(d.pdf_stat)) as f:
            size = os.fstat(f.fileno()).st_size
            if size > self.cfg.limits.max_pdf_bytes:
                raise PdfError("pdf-too-large", size=size, limit=self.cfg.limits.max_pdf_bytes)
            original_sha = fsio.sha256_prefix(f, (d.pdf_stat or {}).get("size", size))
        return meta, original_sha, hashlib.sha256(data).hexdigest()

    def _record_validated(self, d: Drop, read: tuple[contract.DocumentMeta, str, str]) -> Drop:
        meta, original_sha, sidecar_sha = read
        canonical = meta.canonical()
        content = hashlib.sha256(
            (original_sha + "\0" + json.dumps(canonical, sort_keys=True)).encode()
        ).hexdigest()
        return self.store.update(
            d.id, self.clock(), meta=canonical, provider_code=meta.provider_code,
            document_id=meta.document_id, doc_key=f"{meta.provider_code}/{meta.document_id}",
            content_hash=content, original_sha256=original_sha,
            language=meta.language or self.cfg.default_language,
            sidecar_stat={**(d.sidecar_stat or {}), "sha256": sidecar_sha},
        )

    def _wait_for_gate(self, d: Drop) -> None:
        """The vault is down or refuses us: wait for the gate, in drop order.

        Waiting documents are not scheduled one by one (thousands would churn at
        every probe); only the first of them is due at the next probe, and all
        become due when the gate opens.
        """
        self.gate.waiters.add(d.id)
        self.due.pop(d.id, None)
        if self.gate.misconfigured:
            if d.state is not State.HELD:
                self._transition(d, Event.HOLD, reason=self.gate.reason,
                                 message=self._text(self.gate.reason, self.gate.params, d))
        elif d.state is not State.WAITING_RETRY:
            self._transition(d, Event.RETRY_LATER, reason=self.gate.reason,
                             message=self._text(self.gate.reason, self.gate.params, d),
                             next_attempt_at=self.gate.next_probe)
        self._schedule_probe()

    def _claimed_active(self) -> int:
        """Claimed drops that still need local work (those parked at the vault gate are
        signed and cost nothing until it opens, so they do not hold back new claims)."""
        return len(self.busy_stems) - len(self.gate.waiters) - len(self.parked)

    def _schedule_probe(self) -> None:
        self.scan_hint = True  # a parked document frees room for new claims
        first = self.gate.waiters.first()
        if first is not None and self.gate.state is not GateState.OPEN:
            self.due[first] = self.gate.next_probe

    def _wake_gate_waiters(self, first_only: bool = False) -> None:
        """Make waiting documents due now: all of them (gate open) or the next probe."""
        now = self.clock()
        if first_only:
            first = self.gate.waiters.first()
            if first is not None:
                self.due[first] = now
        else:
            for drop_id in self.gate.waiters.drain():
                self.due[drop_id] = now
        self.wake.set()

    async def _deliver(self, d: Drop) -> Drop:
        """Upload the signed bytes (state ``delivering``, admitted by the gate)."""
        reached("after-delivering-commit")
        assert d.meta is not None and d.provider_code and d.document_id
        # The vault's metadata is the sidecar without its schema marker, plus the
        # hash of the original (the signed file's own hash is in the upload).
        metadata = {k: v for k, v in d.meta.items() if k != "schema"}
        metadata["original_sha256"] = d.original_sha256
        key = idempotency_key(d.provider_code, d.document_id)
        # 'delivering' is written only if the upload lasts: most end within tens of
        # milliseconds and the final status follows at once (one fsync saved each).
        later = asyncio.get_running_loop().call_later(
            DELIVERING_STATUS_DELAY, self._status_if_still, d.id, State.DELIVERING)
        try:
            async with self.vault_sem:
                res = await self.vault.upload(metadata, self._signed_path(d), key)
        except FileBusy as e:
            self.gate.drop_probe(d.id)
            return self._retry_later(d, e)
        except Transient as e:
            nxt = self.gate.failed(self.clock(), self.rng.random(), reason=e.code,
                                   message=e.message, retry_after=e.retry_after,
                                   params=e.params)
            log.warning("vault-unavailable", drop=d.id, detail=e.params.get("detail"),
                        failures=self.gate.failures, next_probe_in=round(nxt - self.clock(), 2))
            self._write_health()
            d = self._transition(d, Event.RETRY_LATER, reason=e.code,
                                 message=self._text(e.code, e.params, d),
                                 attempts=d.attempts + 1, next_attempt_at=nxt)
            self.gate.waiters.add(d.id)
            self._schedule_probe()
            return d
        except Held as e:
            # Credentials refused, or the vault's certificate does not verify: no
            # document can go until IT fixes the token or the CA bundle.
            tls = e.code == "vault-tls"
            self.gate.failed(self.clock(), self.rng.random(), reason=e.code, message=e.message,
                             params=e.params,
                             state=GateState.TLS if tls else GateState.UNAUTHORIZED)
            if tls:
                log.error("vault-tls", drop=d.id, detail=e.params.get("detail"),
                          hint="check vault.url and vault.ca_bundle; econnector retries "
                               "when the CA bundle file changes")
            else:
                log.error("vault-unauthorized", drop=d.id, status=e.params.get("status"),
                          hint="check the vault token file; econnector retries when it changes")
            self._write_health()
            self.gate.waiters.add(d.id)
            d = self._transition(d, Event.HOLD, reason=e.code,
                                 message=self._text(e.code, e.params, d),
                                 attempts=d.attempts + 1)
            self._schedule_probe()
            return d
        except PatientOptedOut:
            self._gate_answered()
            return self._opted_out(d)
        except Rejected as e:
            self._gate_answered()
            d = self.store.update(d.id, self.clock(), attempts=d.attempts + 1)
            return self._reject(d, e)
        finally:
            later.cancel()
        reached("after-upload-before-commit")
        self._gate_answered()
        delivery = {
            "vault_document_id": res.vault_document_id, "received_at": res.received_at,
            "sha256": res.sha256, "fee_amount": res.fee_amount, "fee_currency": res.fee_currency,
            "replayed": res.replayed,
        }
        if res.sha256 != d.signed_sha256:
            log.error("vault-hash-mismatch", drop=d.id)
        d = self._transition(d, Event.CONFIRMED, delivery=delivery, attempts=d.attempts + 1,
                             delivered_at=iso(self.clock()), reason=None, message="")
        reached("after-confirmed-commit")
        return d

    def _gate_answered(self) -> None:
        if self.gate.answered():
            log.warning("vault-back", waiting=len(self.gate.waiters))
            self._write_health()
            self._wake_gate_waiters()

    def _opted_out(self, d: Drop) -> Drop:
        """The patient opted out of the vault: final, and not an error (there is nothing
        to correct, and resending could never succeed). Nothing was stored or billed;
        staff print the signed PDF, which goes to the inbox, and hand it over."""
        e = PatientOptedOut("patient-opted-out", signed=f"{d.stem}.signed.pdf")
        log.info("patient-opted-out", drop=d.id, stem=names.ref(d.stem))
        d = self._transition(d, Event.OPTED_OUT, reason=e.code,
                             message=self._text(e.code, e.params, d), attempts=d.attempts + 1)
        reached("after-opted-out-commit")
        return d

    async def _finalize_opted_out(self, d: Drop) -> None:
        """Signed copy and answer file into the inbox, then the original (finished, not
        failed) and the signed bytes into the archive. Idempotent like a delivery: the
        archive target is committed before it is used. The row keeps the time of the
        vault's answer (the answer file's ``decided_at``), even when a restart finishes."""
        if d.signed_archive is None:
            when = dt.datetime.fromtimestamp(d.updated_at, dt.UTC)
            folder = self.archive / f"{when:%Y}" / f"{when:%m}"
            target = await asyncio.to_thread(_free_archive_name, folder, f"{d.stem}.signed.pdf")
            d = self.store.update(d.id, d.updated_at, signed_archive=str(target))
        await self._in_io(d.stem, self._opted_out_files, d)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        reached("after-opted-out-finalized")
        self._release_stem(d)

    def _opted_out_files(self, d: Drop) -> None:
        """The file half of finishing an opted-out document (on the stem's I/O thread)."""
        assert d.signed_archive is not None
        signed_work, target = self._signed_path(d), Path(d.signed_archive)
        src = signed_work if signed_work.exists() else target
        if os.path.lexists(src):
            _copy_regular(src, self.inbox / f"{d.stem}.signed.pdf")
        reached("after-opted-out-signed-copy")
        lang = d.language or self.cfg.default_language
        doc = opted_out_doc(d, decided_at=iso(d.updated_at), language=lang)
        self._write_answer(d.stem, "opted-out", doc, opted_out_text(doc))
        filemodes.ensure_dir(target.parent)
        reached("before-opted-out-archive")
        self._move_original(d, target.parent, "archive")
        if signed_work.exists():
            fsio.move(signed_work, target, durable_dir=False)
        fsio.fsync_dir(target.parent)
        reached("after-opted-out-archive")
        self._write_final_status(d)
        reached("after-opted-out-status")

    def _text(self, code: str | None, params: dict[str, Any], d: Drop) -> str:
        """A status message in the staff's language (the drop's, else the default)."""
        return render(code or "internal-error", params,
                      d.language or self.cfg.default_language)[0]

    def _retry_later(self, d: Drop, e: EconnectorError, floor: float = 0.0) -> Drop:
        attempts = d.attempts + 1
        retry_after = e.retry_after if isinstance(e, Transient) else None
        delay = max(floor, compute_backoff(attempts, base=self.cfg.retry.base,
                                           cap=self.cfg.retry.cap, rand=self.rng.random(),
                                           retry_after=retry_after))
        nxt = self.clock() + delay
        log.warning("retry-later", drop=d.id, code=e.code, attempts=attempts,
                    delay=round(delay, 2))
        message, _ = render(e.code, e.params, d.language or self.cfg.default_language)
        d = self._transition(d, Event.RETRY_LATER, reason=e.code, message=message,
                             attempts=attempts, next_attempt_at=nxt)
        self.due[d.id] = nxt
        return d

    def _hold(self, d: Drop, e: Held) -> Drop:
        log.warning("held", drop=d.id, code=e.code)
        message, _ = render(e.code, e.params, d.language or self.cfg.default_language)
        return self._transition(d, Event.HOLD, reason=e.code, message=message)

    def _reject(self, d: Drop, e: EconnectorError) -> Drop:
        err = e.as_dict()
        log.info("rejected", drop=d.id, stem=names.ref(d.stem), code=e.code, field=e.field)
        # The staff's language: the sidecar's, even from a sidecar refused for another
        # field (SidecarError.language), else the configured default.
        lang = d.language or getattr(e, "language", None) or self.cfg.default_language
        message, _ = render(e.code, e.params, lang)
        d = self._transition(d, Event.REJECT, error=err, reason=e.code, message=message,
                             language=lang)
        reached("after-reject-commit")
        return d

    def _replay(self, d: Drop, first: Drop) -> Drop:
        """An identical re-drop of a delivered document: same receipt, nothing sent."""
        log.info("duplicate-replayed", drop=d.id, of=first.id)
        return self._transition(
            d, Event.REPLAYED, duplicate_of=first.id, signed_sha256=first.signed_sha256,
            signature=first.signature, signed_at=first.signed_at, delivery=first.delivery,
            delivered_at=first.delivered_at, signed_archive=first.signed_archive,
            receipt=first.receipt,
        )

    # ------------------------------------------------------------------ finishing
    async def _finalize_delivered(self, d: Drop) -> None:
        """Receipt and signed copy into the inbox, then the originals into the archive.

        Every step is idempotent, so a crash anywhere here is finished by the
        next start; what is decided (receipt, archive targets) is committed
        before it is acted on.
        """
        assert d.delivery and d.signature and d.signed_at and d.delivered_at
        receipt = d.receipt
        if receipt is None:
            source = d if d.duplicate_of is None else self.store.get(d.duplicate_of)
            assert source.meta is not None
            receipt = receipts.receipt_doc(
                meta=source.meta, delivery=d.delivery, signature=d.signature,
                signed_at=d.signed_at, delivered_at=d.delivered_at,
                original_sha256=source.original_sha256 or "",
                signed_sha256=d.signed_sha256 or "",
            )
        delivered = dt.datetime.fromisoformat(d.delivered_at.replace("Z", "+00:00"))
        folder = self.archive / f"{delivered:%Y}" / f"{delivered:%m}"
        signed_work = self._signed_path(d) if d.duplicate_of is None else None
        if d.receipt is None or (d.duplicate_of is None and d.signed_archive is None):
            filemodes.ensure_dir(folder)
            target = d.signed_archive or (
                str(fsio.free_name(folder, f"{d.stem}.signed.pdf")) if signed_work else None
            )
            d = self.store.update(d.id, self.clock(), receipt=receipt, signed_archive=target)
        await self._in_io(d.stem, self._delivered_files, d, receipt, folder, signed_work)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        reached("after-finalized-commit")
        self._release_stem(d)
        vault_id = d.delivery["vault_document_id"] if d.delivery else None
        log.info("delivered", drop=d.id, stem=names.ref(d.stem), vault_document_id=vault_id,
                 replay=d.duplicate_of is not None)

    def _delivered_files(
        self, d: Drop, receipt: dict[str, Any], folder: Path, signed_work: Path | None
    ) -> None:
        """The file half of finishing a delivery (runs on the stem's I/O thread)."""
        # 1. what the practice reads
        signed_src = signed_work if signed_work and signed_work.exists() else (
            Path(d.signed_archive) if d.signed_archive else None
        )
        # Each file is fsynced before its rename; the inbox folder is synced once
        # for all three (a folder sync costs as much as a file's, ~0.4 ms here).
        if signed_src is not None and os.path.lexists(signed_src):
            _copy_regular(signed_src, self.inbox / f"{d.stem}.signed.pdf")
        reached("after-signed-copy")
        self._write_answer(d.stem, "receipt", receipt, receipts.receipt_text(
            receipt, d.language or self.cfg.default_language))
        # 2. only now, with the receipt durable, do the originals leave the outbox
        filemodes.ensure_dir(folder)
        reached("before-archive-move")
        self._move_original(d, folder, "archive")
        if signed_work is not None and signed_work.exists() and d.signed_archive:
            fsio.move(signed_work, Path(d.signed_archive), durable_dir=False)
        fsio.fsync_dir(folder)
        reached("after-archive-signed")
        self._write_final_status(d)
        reached("after-final-status")

    async def _finalize_rejected(self, d: Drop) -> None:
        await self._in_io(d.stem, self._rejected_files, d)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        self._release_stem(d)

    def _rejected_files(self, d: Drop) -> None:
        """The file half of finishing a refusal (runs on the stem's I/O thread)."""
        err = d.error or {"code": "internal-error", "message": "", "hint": ""}
        lang = d.language or self.cfg.default_language
        message, hint = err["message"], err["hint"]
        if "params" in err or not message:  # rendered in the staff's language
            message, hint = render(err["code"], err.get("params") or {}, lang)
        else:
            lang = "en"  # a refusal recorded before errors kept their params
        others: list[str] = []
        if err["code"] == "sidecar-ambiguous":
            # The stem's other sidecars go to failed/ too: left behind, each would wait
            # for a PDF and end as sidecar-orphaned, over this error file.
            others = [n for n in sorted(os.listdir(self.outbox)) if n != d.sidecar_name
                      and (c := contract.classify(n)).kind is contract.Kind.SIDECAR
                      and names.out_stem(c.stem) == d.stem]
        # Names in full (NAME_MAX bytes, each at most 4 characters when escaped).
        files = [names.shown(n, 4 * names.NAME_MAX)
                 for n in (d.pdf_name, d.sidecar_name, *others) if n]
        doc = receipts.error_doc(
            code=err["code"], message=message, hint=hint, field=err.get("field"),
            document_id=d.document_id, files=files, rejected_at=iso(d.updated_at),
            language=lang,
        )
        self._write_answer(d.stem, "error", doc, receipts.error_text(doc, lang))
        self._move_original(d, self.failed, "failed")
        for name in others:  # moved by name, never opened (a link moves as a link)
            target = names.fit(names.quarantine_name(name, contract.classify(name).stem))
            with contextlib.suppress(FileNotFoundError):
                fsio.move(self.outbox / name, fsio.free_name(self.failed, target),
                          durable_dir=False)
        fsio.fsync_dir(self.failed)
        if d.signed and d.provider_code and d.document_id:
            # Only the drop that signed owns the signed file (a duplicate never signs).
            self._signed_path(d).unlink(missing_ok=True)
        self._write_final_status(d)
        reached("after-rejected-status")

    def _write_answer(self, base: str, kind: str, doc: dict[str, Any], text: str) -> None:
        """``<base>.<kind>.json`` and ``.txt`` (a receipt or an error), each fsynced, then
        one sync of the inbox folder for both (and for the signed copy before them)."""
        fsio.write_json(self.inbox / f"{base}.{kind}.json", doc,
                        crash_point=f"mid-{kind}-write", durable_dir=False)
        reached(f"after-{kind}-json")
        fsio.write_text(self.inbox / f"{base}.{kind}.txt", text, durable_dir=False)
        fsio.fsync_dir(self.inbox)
        reached(f"after-{kind}-txt")

    def _write_final_status(self, d: Drop) -> None:
        self._write_status_raw(d.stem, self._status_doc(d, final=True))

    def _move_original(self, d: Drop, folder: Path, where: str) -> None:
        """Move the pair away, but only files that are still the ones claimed: a PDF or
        sidecar replaced or changed since then stays in the outbox, to be processed as
        a new drop once this one has ended (the archive never holds a sidecar that
        was not the one processed). Refused originals with a bad name get ours."""
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
            fsio.move(src, fsio.free_name(folder, target), durable_dir=False)  # caller syncs
            reached(point)

    def _release_stem(self, d: Drop) -> None:
        if self.busy_stems.get(d.stem) == d.id:
            del self.busy_stems[d.stem]
        self.released.add(d.stem)
        self.parked.discard(d.id)
        self.tracks.pop(d.pdf_name, None)
        self.tracks.pop(d.sidecar_name, None)
        if self._claimed_active() < self.max_claimed // 2:
            self.scan_hint = True  # room for more of a backlog (or a replaced file)
        self.wake.set()

    # ------------------------------------------------------------------ status
    def _transition(self, d: Drop, event: Event, status: bool = True, **fields: Any) -> Drop:
        d = self.store.transition(d.id, event, self.clock(), **fields)
        if status and d.state not in TERMINAL:
            self._write_status(d)
        return d

    def _status_if_still(self, drop_id: int, state: State) -> None:
        d = self.store.get(drop_id)
        if d.state is state:
            self._write_status(d)

    # Status files, receipts and moves are written on I/O threads, one per stem
    # bucket so a stem's files keep their order: each fsync (~0.5 ms of kernel time
    # here, seven per document) then blocks a thread, not the event loop that
    # feeds the signing workers and the uploads.
    async def _in_io(self, stem: str, fn: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io_for(stem), functools.partial(fn, *args))

    def _io_for(self, stem: str) -> ThreadPoolExecutor:
        return self.io[zlib.crc32(stem.encode("utf-8", "surrogateescape")) % len(self.io)]

    def close_io(self) -> None:
        """Let queued status writes finish (at shutdown, after the documents stopped)."""
        for ex in self.io:
            ex.shutdown(wait=True)

    def _write_status(self, d: Drop, crash_point: str | None = None) -> None:
        """Rewrite the stem's status file (not the final one: that is part of finishing).

        A failure to write pauses the daemon (disk full, inbox gone) and is
        retried later.
        """
        stem, doc = d.stem, self._status_doc(d, final=False)

        def write() -> None:
            self._write_status_raw(stem, doc)
            if crash_point:
                reached(crash_point)

        fut = asyncio.get_running_loop().run_in_executor(self._io_for(d.stem), write)
        fut.add_done_callback(functools.partial(self._status_written, d.id))

    def _status_written(self, drop_id: int, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            return
        e = fut.exception()
        if isinstance(e, OSError):
            self._status_failed(drop_id, e)
        elif e is not None:
            log.error("status-write-failed", drop=drop_id, error=type(e).__name__)

    def _status_failed(self, drop_id: int, e: OSError) -> None:
        self._pause_storage(e)
        self.status_stale.add(drop_id)

    def _status_doc(self, d: Drop, final: bool) -> dict[str, Any]:
        state = d.state.value
        message = d.message or ""
        if d.state is State.DELIVERED and d.finalized_at is None and not final:
            state = "delivering"  # receipt not on disk yet
        if not message:
            message = receipts.state_message(state, d.language or self.cfg.default_language)
        doc = receipts.status_doc(
            document_id=d.document_id, stem=d.stem, state=state, updated_at=iso(d.updated_at),
            attempts=d.attempts,
            reason=d.reason if d.state in (State.HELD, State.WAITING_RETRY, State.REJECTED,
                                           State.PATIENT_OPTED_OUT) else None,
            next_attempt_at=iso(d.next_attempt_at)
            if d.state is State.WAITING_RETRY and d.next_attempt_at else None,
            message=message,
        )
        return doc

    def _write_status_raw(self, stem: str, doc: dict[str, Any]) -> None:
        # Atomic and fsynced like every file the practice reads; the folder is not
        # fsynced: after a power cut a status may be one step old, and the
        # daemon rewrites it when it resumes the document.
        fsio.write_json(self.inbox / f"{stem}.status.json", doc, durable_dir=False)


OPTED_OUT_SCHEMA = "econnector.opted-out/v1"


def opted_out_doc(d: Drop, *, decided_at: str, language: str) -> dict[str, Any]:
    """``<stem>.opted-out.json``: the document is finished, signed but not sent; the
    text (in the drop's language) tells staff to print the signed PDF."""
    signed = f"{d.stem}.signed.pdf"
    message, hint = render("patient-opted-out", {"signed": signed}, language)
    return {
        "schema": OPTED_OUT_SCHEMA, "document_id": d.document_id, "state": "patient-opted-out",
        "code": "patient-opted-out", "message": message, "hint": hint, "signed_file": signed,
        "signature": d.signature, "signed_sha256": d.signed_sha256, "decided_at": decided_at,
    }


def opted_out_text(doc: dict[str, Any]) -> str:
    return f"{doc['message']}\n\n{doc['hint']}\n"


def _free_archive_name(folder: Path, name: str) -> Path:
    filemodes.ensure_dir(folder)
    return fsio.free_name(folder, name)


def _same_content(other: Drop, d: Drop) -> bool:
    """Identical documents? Rows rebuilt from receipts only know the original's hash."""
    if other.content_hash is None:
        return other.original_sha256 == d.original_sha256
    return other.content_hash == d.content_hash


def _reusable_signed(
    signed: Path, pdf_stat: dict[str, Any], original_sha256: str
) -> tuple[str, float] | None:
    """Runs on a thread: hash and time of signed bytes made before a crash, if they
    are of this original (our signed file, in work/, starts with the original)."""
    try:
        with open(signed, "rb") as f:
            size = pdf_stat.get("size")
            if size is not None and fsio.sha256_prefix(f, int(size)) != original_sha256:
                return None
        return fsio.sha256_file(signed), signed.stat().st_mtime
    except FileNotFoundError:
        return None


def _expect(
    rec: dict[str, Any] | None,
) -> tuple[int | None, int | None, int | None, int | None] | None:
    fid = safeopen.FileId.from_record(rec)
    return None if fid is None else (fid.dev, fid.ino, fid.size, fid.mtime_ns)


@dataclass(frozen=True, slots=True)
class _ProbeJob:
    key: str
    pdf: Path
    pdf_id: safeopen.FileId
    sidecar: Path
    sidecar_id: safeopen.FileId


BUSY = object()  # a probe's answer: the PDF cannot be read for now


def _probe_pairs(jobs: list[_ProbeJob]) -> dict[str, Any]:
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


def _contract_name(name: str) -> contract.Name | None:
    """Outbox names the contract knows (classified once, on the listing thread)."""
    n = contract.classify(name)
    return None if n.kind is contract.Kind.IGNORED else n


def _file_id(st: readiness.Stat) -> safeopen.FileId:
    return safeopen.FileId(st.dev, st.ino, st.size, st.mtime_ns)


def _mtime(path: Path | None) -> float | None:
    """A watched file's mtime (token, CA bundle); None when absent or unreadable."""
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


def _console(line: str) -> None:
    """One line for whoever watches the daemon's terminal (or the service journal)."""
    print(f"econnector: {line}", file=sys.stderr, flush=True)


def _write_json_quietly(path: Path, doc: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        fsio.write_json(path, doc)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _log_io_failure(fut: Future[None]) -> None:
    e = None if fut.cancelled() else fut.exception()
    if e is not None:
        log.warning("inbox-write-failed", error=type(e).__name__)


def _still_claimed(path: Path, rec: dict[str, Any]) -> bool:
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
