"""The running service: wiring, signals and an ordered shutdown with a deadline.

Signals (and the service manager) only set the stop event. Shutdown then runs
in a fixed order, as huey's consumer and dramatiq's worker do: close the control
channel (no unlock or lock from then on), stop taking new work (scanning ends with
the loop), let documents in flight finish until the deadline, write the heartbeat's
last word (stopped), stop the watcher, stop the signing workers, close the vault
client, close the store. Every step is safe to interrupt; a restart resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from . import control, heartbeat, sdnotify
from .config import Config, folder_gid
from .errors import ConfigError
from .pipeline import Pipeline
from .signer import SigningPool
from .statestore import Store
from .vault_transport import make_vault_client
from .watcher import Watcher

log = structlog.get_logger("econnector.daemon")

SHUTDOWN_DEADLINE = 10.0
STATUS_EVERY = 5.0  # seconds between two STATUS= lines (sent only when the text changed)
# Asked of systemd before the start's long part (prepare: many unfinished documents, a
# PKCS#11 token that is slow to answer), beyond the unit's TimeoutStartSec if shorter.
START_EXTENSION = 90.0

# Test only (tests/e2e/test_sdnotify_e2e.py; never set it in production): with
# ECONNECTOR_TEST_STALL_LOOP_S=N the event loop blocks in time.sleep(N), once,
# STALL_AFTER seconds after READY=1, as a stuck loop would: WATCHDOG=1 must stop.
STALL_ENV = "ECONNECTOR_TEST_STALL_LOOP_S"
STALL_AFTER = 2.0


def open_store(path: Path) -> Store:
    """Open the state database; a damaged one is set aside and rebuilt.

    Rebuilding is safe: receipts in the inbox tell what was delivered, signed
    bytes in work/ are reused, and the vault replays what it already holds.
    """
    try:
        store = Store(path)
        if store.integrity_ok():
            return store
        store.close()
    except sqlite3.DatabaseError:
        pass
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            src.rename(path.with_name(f"{path.name}.damaged-{stamp}{suffix}"))
    log.error("state-database-damaged", path=str(path),
              kept_as=f"{path.name}.damaged-{stamp}", action="rebuilding from the inbox")
    return Store(path)


def _watch_outbox(cfg: Config, pipeline: Pipeline,
                  loop: asyncio.AbstractEventLoop) -> Watcher:
    """File events hint the pipeline to scan: one loop wake-up per burst of events (the
    observer thread calls ``poke``), not one per event."""
    hint_pending = [False]

    def deliver_hint() -> None:
        hint_pending[0] = False
        pipeline.hint()

    def poke() -> None:
        if not hint_pending[0]:
            hint_pending[0] = True
            loop.call_soon_threadsafe(deliver_hint)

    watcher = Watcher(cfg.folders.outbox, poke, cfg.watch.observer)
    pipeline.on_outbox_changed = lambda: watcher.restart("outbox replaced or back")
    return watcher


async def _start_control(cfg: Config, pipeline: Pipeline, loop: asyncio.AbstractEventLoop
                         ) -> control.ControlServer | control.PipeServer | None:
    """The local channel of ``econnector unlock`` and ``lock``. Without it the daemon
    still runs (identities that unlock from a file sign); the manual ones wait, said."""
    try:
        gid = folder_gid(cfg)
    except ConfigError:
        gid = None  # refused at start already (cmd_run)
    server = control.make_server(cfg, pipeline, gid, loop)
    try:
        await server.start()
    except OSError as e:
        log.error("control-unavailable", error=str(e))
        if any(i.manual for i in cfg.identities):
            print(f"econnector: the unlock channel cannot open ({e}); identities with "
                  "unlock: manual cannot be unlocked", file=sys.stderr, flush=True)
        return None
    return server


def watcher_healthy(watcher: Watcher) -> bool:
    """The file watcher runs, or is not meant to: ``observer: none``, or the outbox is
    gone (the pipeline restarts the watcher when it is back; a restart of the service
    would not bring a share back)."""
    if watcher.kind == "none":
        return True
    if watcher.observer is not None and watcher.observer.is_alive():
        return True
    return not watcher.folder.is_dir()


def _test_stall(environ: Mapping[str, str] = os.environ) -> float | None:
    raw = environ.get(STALL_ENV)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"econnector: {STALL_ENV} must be a number of seconds") from None


def _notify_tasks(notifier: sdnotify.Notifier, pipeline: Pipeline, watcher: Watcher,
                  sup: asyncio.Task[None], loop: asyncio.AbstractEventLoop
                  ) -> list[asyncio.Task[None]]:
    """STATUS= every few seconds and, when systemd asks for it, WATCHDOG=1 from the event
    loop itself: a blocked loop sends nothing, and systemd restarts the service."""

    async def report_status() -> None:
        last = ""
        while True:
            try:
                text = sdnotify.status_line(pipeline.store.counts(), str(pipeline.gate.state),
                                            watcher_healthy(watcher))
            except Exception as e:  # the status line never stops the daemon
                text = f"status unavailable ({type(e).__name__})"
            if text != last:
                notifier.status(text)
                last = text
            await asyncio.sleep(STATUS_EVERY)

    async def keep_watchdog(interval: float) -> None:
        while True:
            if sup.done():  # the watcher's supervisor died: nothing restarts the watcher
                log.error("watchdog-withheld", reason="watcher supervisor stopped")
            elif not watcher_healthy(watcher):
                log.warning("watchdog-withheld", reason="file watcher down")
            else:
                notifier.watchdog()
            await asyncio.sleep(interval)

    tasks = [loop.create_task(report_status())]
    if notifier.watchdog_interval is not None:
        tasks.append(loop.create_task(keep_watchdog(notifier.watchdog_interval)))
    return tasks


def _heartbeat(cfg: Config, pipeline: Pipeline, watcher_ok: Callable[[], bool]
               ) -> heartbeat.Heartbeat:
    from .cli import installed_version  # loaded already: it runs us

    return heartbeat.Heartbeat(cfg, pipeline, watcher_ok, installed_version())


async def serve(cfg: Config, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    notifier = sdnotify.Notifier.from_env()  # and out of the environment of children
    stall = _test_stall()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    store = open_store(cfg.folders.work / "state.sqlite")
    vault = make_vault_client(cfg)
    pool = SigningPool(cfg.signing.workers, cfg.limits.worker_memory_mb, cfg.limits.worker_timeout)
    pipeline = Pipeline(cfg, store, vault, pool)
    if cfg.vault.kind == "http" and cfg.vault.ca_bundle is not None:
        # IT may replace the CA bundle while we run (a wrong one holds all deliveries
        # as vault-tls): the pipeline then builds a client that trusts the new one.
        pipeline.remake_vault = functools.partial(make_vault_client, cfg)
    watcher = _watch_outbox(cfg, pipeline, loop)

    async def supervise() -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            watcher.ensure_alive()

    log.info("starting", outbox=str(cfg.folders.outbox), inbox=str(cfg.folders.inbox),
             vault=cfg.vault.kind, identities=len(cfg.identities))
    notifier.extend_timeout(START_EXTENSION)
    pipeline.prepare()  # folders, leftovers of a crash, identities, unfinished work
    # The doctors' unlock reaches us here (before "watching": from then on it answers).
    ctl = await _start_control(cfg, pipeline, loop)
    print(f"econnector: watching {cfg.folders.outbox}\n"
          f"econnector: receipts and status files appear in {cfg.folders.inbox}",
          file=sys.stderr, flush=True)
    sup: asyncio.Task[None] | None = None
    notes: list[asyncio.Task[None]] = []
    beat: heartbeat.Heartbeat | None = None
    try:
        try:
            watcher.start()
        except OSError as e:  # e.g. the outbox is on a share that is not there yet
            log.error("watcher-failed", error=str(e))
        sup = supervisor = loop.create_task(supervise())
        if cfg.heartbeat.enabled:  # inbox/_econnector.json, for the practice software
            beat = _heartbeat(cfg, pipeline, lambda: not supervisor.done()
                              and watcher_healthy(watcher))
            notes.append(loop.create_task(beat.run()))
        else:
            pipeline.inbox.submit(heartbeat.FILE, heartbeat.remove, cfg.folders.inbox,
                                  cfg.node.id, cfg.node.shared_outbox)
        # Ready: the store is open, the signing workers run (prepare), the control
        # channel answers and the watcher runs (if it could not start, rescans do its
        # work: still ready, and the STATUS= line says the watcher is down).
        if notifier.enabled:
            notes += _notify_tasks(notifier, pipeline, watcher, sup, loop)
            notifier.ready()
        if stall is not None:
            log.warning("test-stall-armed", seconds=stall, after=STALL_AFTER)
            loop.call_later(STALL_AFTER, time.sleep, stall)
        await pipeline.run(stop)
    finally:
        notifier.stopping()  # first: systemd shows "deactivating" during the drain
        notifier.status("stopping: finishing the documents in flight")
        for task in notes:
            task.cancel()
        deadline = time.monotonic() + SHUTDOWN_DEADLINE
        log.info("stopping")
        if ctl is not None:  # first: no unlock or lock while the rest shuts down
            await ctl.close()
        if sup is not None:
            sup.cancel()
        await pipeline.drain(deadline)
        if beat is not None:  # the last word in the inbox: stopped (written before close_io)
            beat.stopped()
        pipeline.close_io()
        watcher.close()
        pool.stop()
        await pipeline.close_vaults()
        store.close()
        notifier.close()
        log.info("stopped")
    return 0
