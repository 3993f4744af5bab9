"""The pipeline: outbox -> validate -> sign -> vault -> inbox, resumable at every step.

A short coordinator over modules that decide: :mod:`.intake` judges what the
scans list (claim, refuse, wait), :mod:`.actions` says what each drop needs
next, the steps do it (:mod:`.receive`, :mod:`.delivery`, :mod:`.finishing`),
:mod:`.vault_gate` decides who may upload through an outage, and every
transition goes through :mod:`.drops` to the store and then the listeners
(the status files first). Everything the practice reads is written by
:mod:`.inbox`; what blocks the whole daemon goes to :mod:`.health`.

Originals stay in the outbox until their outcome is on disk (receipt or error
file); only then are they moved to ``archive/YYYY/MM/`` or ``failed/``. A
*drop* row in the state store marks a stem as taken while it is processed.

Loop: directory scans (startup, periodic, and whenever the watcher hints)
feed the intake decisions; ready pairs are claimed; due drops are dispatched
as tasks, bounded in number so a backlog of thousands costs memory for a few
at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import random
import time
from collections.abc import Callable
from typing import Any

import structlog

from . import assistants, audit, contract, filemodes, ledger, names, readiness, safeopen
from . import claims as claims_mod
from .actions import Do, Reason, hold_kind, next_action
from .assistants import Grants
from .blockers import Blockers
from .claims import Claims
from .config import Config
from .crashpoints import reached
from .delivery import Deliverer
from .drops import Drops, signed_path
from .failures import Failures
from .finishing import Finisher
from .followup import Followup
from .identities import WAITING_FOR_DOCTOR, Absent, Identities, Locked, Outcome, open_identity
from .inbox import InboxWriter
from .intake import Claim, Intake, Refuse, Rescan, StemFiles, Wait, contract_name, probe_pairs
from .listeners import Listeners, TransitionListener
from .patients import PatientStatuses
from .queries import QueryDesk
from .receive import Receiver
from .recovery import clean_temp, creatable, rebuild_from_inbox, release_signature_holds
from .schedule import DueQueue
from .signer import KeySpec, SigningPool, policy_for
from .states import Event, State
from .statestore import Drop, Store
from .statusfiles import StatusFiles
from .vault_client import VaultClient
from .vault_credentials import VaultCredentials
from .vault_gate import GateState, VaultGate, Wake

log = structlog.get_logger("econnector.pipeline")


def _outcome_name(outcome: Outcome, ok: bool) -> str:
    """An unlock's outcome for the log: never the PIN."""
    if ok:
        return "unlocked"
    return {Absent: "token-absent", Locked: "refused"}.get(type(outcome), "cannot-sign")


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
        inbox: InboxWriter | None = None,
        listeners: list[TransitionListener] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg, self.store, self.pool, self.clock, self.mono = cfg, store, pool, clock, mono
        self.folders = f = cfg.folders
        # Several PCs on one outbox (claims.py): this node works on the pairs it moved
        # into its claim folder, and signed bytes are shared (a takeover reuses them).
        self.claims = (Claims(f.outbox, cfg.node.id, cfg.node.lease)
                       if cfg.node.shared_outbox else None)
        self.drop_dir = self.claims.layout.mine if self.claims else f.outbox
        self.signed_dir = self.claims.layout.signed if self.claims else f.work / "signed"
        self.lease_task: asyncio.Task[None] | None = None
        self.intake = Intake(f.outbox, readiness.Timing(
            settle=cfg.watch.settle, incomplete_timeout=cfg.watch.incomplete_timeout,
            orphan_timeout=cfg.watch.orphan_timeout))
        self.busy_stems: dict[str, int] = {}  # stem -> drop id in progress
        self.released: set[str] = set()  # stems finished since the current scan began
        self.due = DueQueue()  # drop id -> wall time when it may run
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.ids = Identities()
        # One change of the identities at a time: rescans, the doctor's unlock and lock.
        self.id_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.scan_hint = False
        self.next_recheck: float | None = None
        self.max_inflight = max(4, cfg.signing.workers * 2 + cfg.vault.concurrency * 2)
        # At most this many drops are claimed and unfinished at once: a backlog of
        # thousands is taken in slices, so the first receipts come at once and
        # memory stays bounded.
        self.max_claimed = max(256, self.max_inflight * 16)
        if self.claims is not None:
            # On a shared outbox a node takes only what it can work on now: the rest
            # stays for the other PCs (a backlog held by one node is a queue the
            # others cannot help with, and lost for a lease if it dies).
            self.max_claimed = self.max_inflight
        self.rng = rng or random.Random()
        self.gate = VaultGate(base=cfg.retry.base, cap=cfg.retry.cap)
        self.outbox_id: tuple[int, int] | None = None
        self.on_outbox_changed: Callable[[], None] = lambda: None
        self.providers = [i.provider_code for i in cfg.identities]
        self.vault_creds = VaultCredentials(cfg, vault)
        self._wire(inbox, listeners or [])

    def _wire(self, inbox: InboxWriter | None, listeners: list[TransitionListener]) -> None:
        """The steps and the writers, sharing the store, the queue and the clock."""
        cfg, f, path = self.cfg, self.folders, functools.partial(signed_path, self.signed_dir)
        self.inbox = inbox or InboxWriter(inbox=f.inbox, outbox=self.drop_dir, failed=f.failed,
                                          signed_path=path,
                                          default_language=cfg.default_language)
        self.blockers = Blockers(f, self.signed_dir, gate=self.gate, ids=self.ids,
                                 providers=self.providers, inbox=self.inbox, clock=self.clock)
        self.status = StatusFiles(self.inbox, self.store, cfg.default_language,
                                  on_failure=self.blockers.pause_storage)
        self.listeners = Listeners(self.status, *listeners)
        self.drops = Drops(self.store, self.listeners, self.due, clock=self.clock,
                           default_language=cfg.default_language, retry_base=cfg.retry.base,
                           retry_cap=cfg.retry.cap, rng=self.rng)
        self.patients = PatientStatuses(self.store, lambda: self.vault_creds.client,
                                        cfg.patients.status_ttl, self.clock)
        self.grants = Grants(assistants.db_path(cfg))
        self.receiver = Receiver(cfg, self.store, self.drops, self.ids, self.pool, self.due,
                                 signed_path=path, check_validity=self.check_validity,
                                 clock=self.clock, patients=self.patients,
                                 grants=self.grants)
        self.receiver.outbox = self.drop_dir  # the files of a claimed drop
        if self.claims is not None:
            self.receiver.tmp_dir = str(self.claims.layout.scratch())
        self.deliverer = Deliverer(self.vault_creds.client, self.gate, self.drops, self.store,
                                   self.status, concurrency=cfg.vault.concurrency,
                                   signed_path=path, clock=self.clock, rng=self.rng,
                                   gate_changed=self.blockers.write_health,
                                   schedule=self._schedule, patients=self.patients)
        self.failures = Failures(self.store, self.drops, self.status, self.due,
                                 retry_base=cfg.retry.base, retry_cap=cfg.retry.cap,
                                 storage_retry=cfg.watch.rescan_interval, clock=self.clock,
                                 rng=self.rng, pause_storage=self.blockers.pause_storage)
        self.queries: QueryDesk | None = QueryDesk(cfg, self.patients, clock=self.clock,
                                                   mono=self.mono)
        self.finisher = Finisher(self.store, self.inbox, f.archive, signed_path=path,
                                 clock=self.clock, release=self._release_stem)
        self.finisher.sender_name = self.deliverer.sender_name = self._sender_name
        self.finisher.node = cfg.node.id
        # The audit trail hears every transition after the store committed it
        # (catch_up at start fills what a crash between the two left out).
        self.audit = audit.AuditTrail(audit.trail_path(cfg))
        self.listeners.add(audit.AuditListener(self.audit, self.store))
        # The fee of each delivered document, for the quarterly statement (likewise).
        self.ledger = ledger.Ledger(ledger.ledger_path(cfg))
        self.listeners.add(ledger.LedgerListener(self.ledger, self.store))
        self.anchoring: asyncio.Task[None] | None = None
        self.followup = Followup(self.store, lambda: self.vault_creds.client, cfg.followup,
                                 self.clock, on_opened=self.status.write)

    # ------------------------------------------------------------------ startup
    prepared = False

    def prepare(self) -> None:
        self.prepared = True
        f = self.folders
        # An outbox or inbox outside folders.root is never created (an unmounted
        # share must not become an empty local folder): it is waited for.
        for p in (f.outbox, f.inbox):
            if creatable(f, p):
                filemodes.ensure_dir(p)
        for p in (f.archive, f.failed, self.signed_dir):
            filemodes.ensure_dir(p)
        # A shared inbox: other nodes write their temp files there too, now.
        clean_temp(f.inbox, older_than=None if self.claims is None else 3600.0)
        if self.claims is not None:
            self.claims.start()  # our lock and lease on the shared outbox
        else:
            claims_mod.refuse_if_shared(f.outbox, self.cfg.node.lease)
        if self.claims is None:  # shared: our workers' temp files are in our own folder
            clean_temp(self.signed_dir, signed=True)
        self.unlock_identities(start_pool=True)
        self.blockers.folder_state("outbox", not f.outbox.is_dir(), health=False)
        self.blockers.folder_state("inbox", not f.inbox.is_dir(), health=False)
        for pc in self.ids.blocked():
            reason, detail = self.ids.why(pc)
            self.blockers.console(f"identity {pc} cannot sign ({reason}): {detail}; "
                                  "its documents wait until this is fixed")
        # At once: a file left by an earlier process never remains.
        self.blockers.write_health()
        if self.store.fresh:
            rebuild_from_inbox(self.store, f.inbox, self.clock)
        release_signature_holds(self.drops, functools.partial(signed_path, self.signed_dir))
        now = self.clock()
        added = audit.catch_up(self.audit, self.store, now)
        if added:
            log.warning("audit-caught-up", entries=added)
        audit.record_config(self.audit, self.cfg.path, now)
        ledger.catch_up(self.ledger, self.store)
        if self.claims is not None:
            self._resume_claims()
        for d in self.store.unfinished():
            self.busy_stems[d.stem] = d.id
            self.due[d.id] = d.next_attempt_at or 0.0
        if self.due:
            log.info("resuming", documents=len(self.due))

    def _resume_claims(self, at_start: bool = True) -> None:
        """Start of a node on a shared outbox: drops whose pair another node took while
        we were away end here (that node finishes them); files in our claim folder
        that no drop names go back to the outbox."""
        assert self.claims is not None
        tomb = self.claims.tombstone()
        mine = self.claims.layout.mine
        taken = 0
        for d in self.store.unfinished():
            names_ = [n for n in (d.pdf_name, d.sidecar_name) if n]
            if tomb is not None and d.state is not State.DELIVERED and d.id not in self.tasks \
                    and not any(os.path.lexists(mine / n) for n in names_):
                self.busy_stems.pop(d.stem, None)
                self.due.pop(d.id, None)
                self.store.transition(d.id, Event.TAKEN_OVER, self.clock(),
                                      finalized_at=self.clock())
                taken += 1
        if tomb is not None:
            log.warning("claims-taken-while-away", taken_by=tomb.get("taken_by"),
                        documents=taken)
            self.claims.clear_tombstone()
        if not at_start:
            return  # a claim may be between its rename and its row right now
        owned = {n for d in self.store.unfinished() for n in (d.pdf_name, d.sidecar_name) if n}
        back = self.claims.release_unowned(owned)
        if back:
            log.warning("claims-given-back", files=back)

    async def _lease_loop(self) -> None:
        """Renew our lease; give back the pairs of nodes whose lease expired."""
        assert self.claims is not None
        while True:
            try:
                taken = await asyncio.to_thread(self.claims.take_over)
                if not self.claims.layout.mine.is_dir():
                    # Another node took our claims: we stalled longer than the lease.
                    log.error("claims-lost-while-running", lease_s=self.claims.lease_s)
                    await asyncio.to_thread(self.claims.rejoin)
                    self._resume_claims(at_start=False)
                if taken:
                    self.scan_hint = True
                    self.wake.set()
            except OSError as e:  # the share stalls or went away: the scans say so
                log.warning("lease-renewal-failed", error=e.strerror or type(e).__name__)
            await asyncio.sleep(self.claims.lease_s / 4)

    def _now_dt(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def check_validity(self) -> None:
        """A certificate that expired while we ran stops signing at once (its documents
        are held from now on); its worker keeps the key but gets no more jobs."""
        if self.ids.expire(self._now_dt()):
            self.blockers.write_health()

    def unlock_identities(self, start_pool: bool = False) -> bool:
        """Try every identity that cannot sign; restart the workers if one became usable.
        Blocking (at start, before the loop runs); the loop uses :meth:`_maybe_unlock`."""
        self.check_validity()
        changed = self.ids.unlock(self.cfg.identities, self._now_dt())
        if changed or start_pool:
            self._restart_pool()
        return changed

    def _restart_pool(self) -> None:
        """The workers again, with the identities that can sign now (their secrets go over
        the workers' pipes); one that is locked or whose token is gone is dropped."""
        self.pool.start(self._keys(), policy_for(self.cfg.signing))

    def _keys(self) -> list[KeySpec]:
        """The unlocked identities as the signing workers open them."""
        keys = []
        for pc in self.ids.unlocked:
            ident = self.cfg.identity(pc)
            assert ident is not None
            keys.append(KeySpec(pc, ident.level, self.ids.secrets[pc],
                                str(ident.pkcs12) if ident.pkcs12 else None, ident.pkcs11))
        return keys

    async def _maybe_unlock(self) -> None:
        """Try the identities that cannot sign again (a token plugged back in, a
        passphrase file provided, a manual identity's token to look for); the openings
        run in a thread (a card may take a second to answer)."""
        async with self.id_lock:
            self.check_validity()
            before = self.ids.report(self.providers)
            tried = self.ids.to_try(self.cfg.identities, self._now_dt())
            outcomes = await asyncio.to_thread(
                lambda: [self.ids.attempt(ident, pin) for ident, pin in tried]) if tried else []
            changed = False
            for (ident, _), outcome in zip(tried, outcomes, strict=True):
                changed |= self.ids.settle(ident, outcome, self._now_dt(), self.clock())
            if changed:
                self._restart_pool()
            if self.ids.report(self.providers) != before:
                self.ids.log_blocked()
                self.blockers.write_health()
            if changed:
                self._release_held()

    def _release_held(self) -> None:
        """The documents held for an identity that can sign now go on at once."""
        for d in self.store.unfinished():
            if d.state is State.HELD and hold_kind(d.reason) is Reason.IDENTITY_HOLD and (
                self.ids.can_sign(d.provider_code)
            ):
                self.drops.transition(d, Event.RELEASE, reason=None, message="")
                self.due[d.id] = 0.0
        self.wake.set()

    # ------------------------------------------------------------------ the doctor's unlock
    async def unlock_manual(self, pc: str, pin: bytes) -> dict[str, Any]:
        """``econnector unlock``: check the doctor's PIN on the token (in a thread), keep it
        in memory, restart the workers with it and release the doctor's held documents.
        The answer names the outcome, never the PIN (control.py sends it back)."""
        ident = self.cfg.identity(pc)
        if ident is None:
            return {"result": "unknown-provider", "provider": pc}
        if not ident.manual:
            return {"result": "not-manual", "provider": pc}
        async with self.id_lock:
            outcome = await asyncio.to_thread(open_identity, ident, pin)
            before = self.ids.report(self.providers)
            was = self.ids.secrets.get(pc)
            ok = self.ids.give(ident, outcome, self._now_dt(), self.clock())
            if ok and was != pin:
                self._restart_pool()
            if self.ids.report(self.providers) != before:
                self.blockers.write_health()
            if ok:
                self._release_held()
        log.info("unlock-request", provider=pc, outcome=_outcome_name(outcome, ok))
        if ok:
            self._audit_event(audit.UNLOCKED, pc, {})
            return {"result": "unlocked", "provider": pc}
        if isinstance(outcome, Absent):
            return {"result": "token-absent", "provider": pc, "detail": outcome.detail}
        if isinstance(outcome, Locked):
            return {"result": "wrong-pin" if outcome.wrong_secret else "locked",
                    "provider": pc,
                    "detail": outcome.detail, "tries_left": outcome.tries_left}
        code, detail = self.ids.why(pc)  # opened, but its certificate must not sign
        return {"result": "cannot-sign", "provider": pc, "reason": code, "detail": detail}

    async def lock_manual(self, pc: str | None, detail: str = WAITING_FOR_DOCTOR
                          ) -> dict[str, Any]:
        """``econnector lock [PROVIDER]``: forget the PIN of one or every manual identity;
        the workers are restarted without it (its documents wait again)."""
        manual = [i.provider_code for i in self.cfg.identities if i.manual]
        if pc is not None:
            ident = self.cfg.identity(pc)
            if ident is None:
                return {"result": "unknown-provider", "provider": pc}
            if not ident.manual:
                return {"result": "not-manual", "provider": pc}
        targets = [pc] if pc is not None else manual
        async with self.id_lock:
            before = self.ids.report(self.providers)
            changed = False
            for p in targets:
                changed |= self.ids.lock(p, detail)
            if changed:
                self._restart_pool()
            if self.ids.report(self.providers) != before:
                self.blockers.write_health()
        log.info("lock-request", providers=targets, changed=changed)
        if changed:
            for p in targets:
                self._audit_event(audit.LOCKED, p, {"detail": detail})
        return {"result": "locked", "providers": targets}

    async def _auto_lock(self) -> None:
        """Manual identities idle for longer than their ``auto_lock_after_s`` lock."""
        idle = self.ids.idle(self.cfg.identities, self.clock())
        for pc in idle:
            log.info("identity-auto-locked", provider=pc)
            await self.lock_manual(pc)

    def _audit_event(self, kind: str, pc: str | None, data: dict[str, Any]) -> None:
        """An event outside the documents' transitions (the unlock, the lock)."""
        try:
            self.audit.append(kind, self.clock(), provider_code=pc, data=data)
        except Exception as e:  # the trail must never stop the daemon's work
            log.error("audit-append-failed", kind=kind, error=type(e).__name__)

    def _anchor_audit(self) -> None:
        """Timestamp the audit trail's head with signing.tsa when it is due (in the
        background: a slow TSA never delays the documents)."""
        tsa = self.cfg.signing.tsa
        if tsa is None or (self.anchoring is not None and not self.anchoring.done()):
            return
        head = self.audit.head()
        last, anchored = self.audit.anchor_state()
        now = self.clock()
        if head is None or not audit.anchor_due(now, last, head.seq, anchored,
                                                self.cfg.audit.anchor_every):
            return

        async def anchor() -> None:
            try:
                await audit.anchor(self.audit, tsa, self.clock())
            except audit.AnchorFailed as e:
                log.warning("audit-anchor-failed", detail=str(e))

        self.anchoring = asyncio.get_running_loop().create_task(anchor(), name="audit-anchor")

    def identities_state(self) -> dict[str, dict[str, Any]]:
        """Each identity's state as the health file says it (for ``control`` status)."""
        return self.ids.report(self.providers)

    # ------------------------------------------------------------------ main loop
    async def run(self, stop: asyncio.Event) -> None:
        if not self.prepared:
            self.prepare()
        if self.claims is not None and self.lease_task is None:
            self.lease_task = asyncio.get_running_loop().create_task(self._lease_loop())
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
                    self.last_full_scan_at = self.clock()  # for the heartbeat file
                    await self._periodic()
            self.wake.clear()
            self.dispatch()
            timeout = self._sleep_for(next_rescan)
            if self.scan_hint:
                timeout = min(timeout, max(0.001, last_scan + hint_gap - self.mono()))
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def _periodic(self) -> None:
        """What every rescan interval looks at again, beyond the outbox."""
        self.check_validity()
        await self._auto_lock()
        if self.ids.blocked() and self.receiver.signing_in_flight == 0:
            await self._maybe_unlock()
        await self.blockers.check_inbox()
        if self.blockers.storage_paused and self.blockers.probe_storage():
            # Resume the documents that waited, and their statuses that failed.
            now = self.clock()
            for drop_id in list(self.due):
                self.due[drop_id] = min(self.due[drop_id], now)
            self.status.rewrite_all_stale()
        if self.vault_creds.token_changed():
            self._schedule(self.gate.credentials_changed(GateState.UNAUTHORIZED, self.clock()))
        self._anchor_audit()
        if self.gate.state is GateState.OPEN:
            self.followup.tick(self.clock())
        client = await self.vault_creds.ca_bundle_changed()
        if client is not None:
            self.deliverer.vault = client
            self._schedule(self.gate.credentials_changed(GateState.TLS, self.clock()))

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

    def _schedule(self, wake: Wake) -> None:
        """Apply what the vault gate decided: who is due, and when."""
        for drop_id, when in wake.due:
            self.due[drop_id] = when
        if wake.rescan:
            self.scan_hint = True  # a document parked at the gate frees room for claims
        if wake.now:
            self.wake.set()

    @property
    def remake_vault(self) -> Callable[[], VaultClient] | None:
        return self.vault_creds.remake

    @remake_vault.setter
    def remake_vault(self, fn: Callable[[], VaultClient] | None) -> None:
        """Builds a new vault client (IT replaced the CA bundle: a TLS context cannot
        be changed in place); None when the vault is not reached over TLS."""
        self.vault_creds.remake = fn

    async def close_vaults(self) -> None:
        await self.vault_creds.close()

    def close_io(self) -> None:
        """Let queued status writes finish (at shutdown, after the documents stopped)."""
        self.inbox.close()
        self.grants.close()
        self.audit.close()
        self.ledger.close()

    def _sender_name(self, d: Drop) -> str | None:
        """The assistant's name for the receipt and the vault's metadata: only from a
        grant that checks (the doctor's current certificate signed it, not revoked)."""
        login = (d.meta or {}).get("submitted_by")
        pc = d.provider_code
        if not login or not pc:
            return None
        info, ident = self.ids.unlocked.get(pc), self.cfg.identity(pc)
        if info is None:
            return None
        v = self.grants.check(pc, login, doctor_login=ident.login if ident else None,
                              doctor_cert_sha256=info.cert_sha256, now=self.clock())
        return v.name if v.ok and v.role == "assistant" else None

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
        # The background rounds and the queries stop too (what they recorded stays; a
        # query not answered yet is answered after the next start).
        if self.queries is not None:
            await self.queries.close()
        await self.followup.aclose()
        if self.lease_task is not None:
            self.lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.lease_task
        if self.anchoring is not None and not self.anchoring.done():
            self.anchoring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.anchoring

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
        listing = await self._list_outbox()
        if listing is None:
            return
        queries = [e for e in listing if e.tag.kind is contract.Kind.QUERY]
        if queries:
            listing = [e for e in listing if e.tag.kind is not contract.Kind.QUERY]
        if self.queries is not None and (queries or self.queries.pending()):
            await self.queries.handle(queries, now_m)
        groups = self.intake.group(listing, now_m)
        # Nothing is taken while no answer could be written (disk full, inbox away).
        todo = [(key, g) for key, g in sorted(groups.items())
                if key not in self.busy_stems and self.blockers.claims_allowed]
        jobs = self.intake.probe_jobs(todo, now_m, self.max_claimed - self.claimed_active())
        probes = await asyncio.to_thread(probe_pairs, jobs) if jobs else {}
        self.next_recheck = None
        to_claim: list[tuple[str, StemFiles, Claim | Refuse]] = []
        for key, g in todo:
            if key in self.busy_stems or key in self.released:
                continue  # claimed or finished while we were reading
            if self.claimed_active() + len(to_claim) >= self.max_claimed:
                break  # the rest waits for room (_release_stem asks for a scan)
            try:
                decision = self.intake.judge(key, g, now_m, probes.get(key))
                if self.claims is not None and isinstance(decision, Claim | Refuse):
                    to_claim.append((key, g, decision))  # ours only once renamed
                else:
                    self._take(key, g, decision)
            except Exception as e:  # one bad stem never stops the others
                log.exception("scan-stem-failed", stem=names.ref(key),
                              error=type(e).__name__)
        if to_claim:
            await self._claim_shared(to_claim)
        for stem in [s for s in self.inbox.waiting if s not in groups]:
            self.inbox.clear_waiting(stem)

    async def _list_outbox(self) -> list[safeopen.Entry] | None:
        """The outbox's contract names; None (and the outbox said missing) if unreadable."""
        f = self.folders
        try:
            ident, entries = await asyncio.to_thread(safeopen.list_dir, f.outbox, contract_name)
        except OSError as e:
            # A network share that went away, or a folder removed by someone: keep
            # running, keep everything already claimed, and look again later.
            if not self.blockers.outbox_missing:
                log.error("outbox-unreadable", path=str(f.outbox), error=e.strerror)
            self.blockers.folder_state("outbox", True)
            return None
        if self.blockers.outbox_missing or (self.outbox_id is not None and ident != self.outbox_id):
            # Back, or replaced by another folder: the old watch is dead.
            self.blockers.folder_state("outbox", False)
            if self.outbox_id is not None and ident != self.outbox_id:
                log.warning("outbox-replaced", path=str(f.outbox))
            self.on_outbox_changed()
        self.outbox_id = ident
        return entries

    async def _claim_shared(self, todo: list[tuple[str, StemFiles, Claim | Refuse]]) -> None:
        """A shared outbox: rename each pair into our claim folder (on a thread); act
        only on those we won (another node took the others)."""
        assert self.claims is not None
        try:
            won = await asyncio.to_thread(self.claims.take, [
                (key, g.pdf, sorted(g.sidecars)) for key, g, _ in todo])
        except OSError as e:
            log.warning("claim-failed", error=e.strerror or type(e).__name__)
            self.scan_hint = True
            return
        for key, g, decision in todo:
            if key not in won:
                self.intake.forget(*(n for n in (g.pdf, *g.sidecars) if n))
                continue
            try:
                self._take(key, g, decision)
            except Exception as e:  # one bad stem never stops the others
                log.exception("scan-stem-failed", stem=names.ref(key),
                              error=type(e).__name__)

    def _take(self, stem: str, g: StemFiles, decision: Claim | Refuse | Wait | Rescan) -> None:
        """Act on the intake's decision for one stem."""
        if isinstance(decision, Rescan):
            self.scan_hint = True
        elif isinstance(decision, Wait):
            self._recheck_at(decision.until)
            if decision.reason is not None:
                self.inbox.set_waiting(stem, decision.reason, self.clock())
        elif isinstance(decision, Refuse):
            d = self._new_drop(stem, g)
            d = self.drops.reject(d, decision.error())
            self.due[d.id] = 0.0
        else:
            d = self._new_drop(stem, g)
            self.due[d.id] = 0.0
            log.info("claimed", drop=d.id, stem=names.ref(stem))
            self.inbox.supersede_answers(stem)
            self.drops.claimed(d)

    def _recheck_at(self, t: float | None) -> None:
        if t is not None and (self.next_recheck is None or t < self.next_recheck):
            self.next_recheck = t

    def _new_drop(self, stem: str, g: StemFiles) -> Drop:
        pdf_stat, side_stat = self.intake.claim_stats(g)
        d = self.store.create(stem, g.pdf or "", g.sidecar or "", pdf_stat, self.clock(),
                              sidecar_stat=side_stat)
        self.busy_stems[stem] = d.id
        self.inbox.claimed(stem)
        reached("after-claim")
        return d

    def claimed_active(self) -> int:
        """Claimed drops that still need local work (those parked at the vault gate are
        signed and cost nothing until it opens, so they do not hold back new claims)."""
        return len(self.busy_stems) - self.gate.waiting - len(self.failures.parked)

    def _release_stem(self, d: Drop) -> None:
        if self.busy_stems.get(d.stem) == d.id:
            del self.busy_stems[d.stem]
        self.released.add(d.stem)
        self.failures.parked.discard(d.id)
        self.intake.forget(d.pdf_name, d.sidecar_name)
        if self.claimed_active() < self.max_claimed // 2:
            self.scan_hint = True  # room for more of a backlog (or a replaced file)
        self.wake.set()

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
        except Exception as e:  # a failure that is not the document's (failures.py)
            self.gate.drop_probe(drop_id)
            self.failures.failed(drop_id, e)

    async def _advance(self, drop_id: int) -> None:
        """Drive one drop as far as it can go now, one :func:`next_action` at a time."""
        self.status.rewrite_stale(drop_id)  # a status write failed while storage was paused
        while True:
            d = self.store.get(drop_id)
            now = self.clock()
            act = next_action(d, now, identity_ready=self.ids.can_sign(d.provider_code))
            if act.gated and not self.gate.admit(d.id, now):
                self._hold_back(d)
                return
            if act.do is Do.SLEEP:
                self.due[d.id] = act.until or 0.0
                return
            if act.do is Do.IDLE:
                return
            if act.do is Do.FINALIZE:
                await self.finisher.finalize(d)
                return
            if act.do is Do.RESUME:
                self.drops.transition(d, Event.RESUME)
                continue
            if act.do is Do.RELEASE:
                self.drops.transition(d, Event.RELEASE, reason=None, message="")
                continue
            if act.do is Do.RECEIVE:
                d = await self.receiver.receive(d)
                if d.state is State.RECEIVED:
                    return  # deferred (waits for an identical duplicate in flight)
            elif act.do is Do.UPLOAD:
                d = await self.deliverer.deliver(self.drops.transition(d, Event.UPLOAD))
            else:  # Do.DELIVER
                d = await self.deliverer.deliver(d)
            if d.state in (State.WAITING_RETRY, State.HELD):
                return

    def _hold_back(self, d: Drop) -> None:
        """The vault gate did not admit ``d``: it waits as the gate says."""
        parking = self.gate.hold_back(d.id, d.state)
        if parking.unschedule:
            self.due.pop(d.id, None)
        if parking.event is not None:
            self.drops.transition(
                d, parking.event, reason=parking.reason,
                message=self.drops.text(parking.reason, parking.params, d),
                **({"next_attempt_at": parking.next_attempt_at}
                   if parking.event is Event.RETRY_LATER else {}))
        self._schedule(parking.wake)
