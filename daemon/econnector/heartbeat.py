"""``inbox/_econnector.json``: a heartbeat the practice software reads (issue 13).

The practice software cannot ask systemd whether econnector runs; it can read a
file in the inbox it already watches. The daemon rewrites this one every
``heartbeat.interval_s`` (atomically, like every file the practice reads), and
the last write at shutdown says ``stopped: true``. A reader shows the green
light when ``ok`` is true and ``stale_after`` has not passed, and otherwise the
``message`` in the staff's language. The format (schema
``econnector.heartbeat/v1``) is in docs/folder-contract.md.

The document is built by the pure :func:`build` from counts and states only:
never a stem, a name or a matricule. The write runs on the inbox writer's I/O
thread (a disk that blocks never blocks the event loop); a write still pending
when the next is due is skipped, not queued behind it.

The name cannot collide with a document's files: stems start with a letter or
a digit (:data:`econnector.contract.STEM_RE`), and ``bad-name-<hash>`` with a
``b``. Several PCs sharing one inbox (``node.shared_outbox``) each write
``_econnector.<node id>.json``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from . import fsio
from .messages import LANGUAGES
from .messages.heartbeat import HEARTBEAT_TEXTS
from .receipts import iso
from .states import ACTIVE, State

if TYPE_CHECKING:
    from .config import Config
    from .pipeline import Pipeline
    from .statestore import Store

log = structlog.get_logger("econnector.heartbeat")

SCHEMA = "econnector.heartbeat/v1"
FILE = "_econnector.json"
STALE_FACTOR = 3  # a file not rewritten for this many intervals: econnector is not running

# The vault gate's states (vault_gate.GateState) as the catalog's codes.
_VAULT_REASONS = {"outage": "vault-unavailable", "unauthorized": "vault-unauthorized",
                  "tls": "vault-tls"}
_WAITING = tuple(sorted(s.value for s in ACTIVE))


def file_name(node: str, shared: bool) -> str:
    """``_econnector.json``, or ``_econnector.<node>.json`` when several PCs share the inbox
    (node ids are letters, digits, ``-`` and ``_``)."""
    return f"_econnector.{node}.json" if shared else FILE


@dataclass(frozen=True, slots=True)
class Oldest:
    """The document that has waited longest: its state and since when (claimed at)."""

    state: str
    since: float


def oldest_waiting(store: Store) -> Oldest | None:
    """The unfinished document claimed first (indexed by state: a cheap query even with
    thousands parked during a vault outage); None when nothing waits."""
    marks = ",".join("?" * len(_WAITING))
    row = store.conn.execute(
        f"SELECT state, created_at FROM drops WHERE state IN ({marks})"
        " ORDER BY created_at, id LIMIT 1", _WAITING).fetchone()
    return None if row is None else Oldest(str(row[0]), float(row[1]))


def _days_left(not_after: Any, now: float) -> int | None:
    """Whole days until the certificate's end (negative once expired)."""
    if not isinstance(not_after, str) or not not_after:
        return None
    try:
        end = dt.datetime.fromisoformat(not_after)
    except ValueError:
        return None
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return math.floor((end.timestamp() - now) / 86400)


def identities_section(report: Mapping[str, Mapping[str, Any]], now: float
                       ) -> dict[str, dict[str, Any]]:
    """The health file's identities (Identities.report) cut to what the front desk needs:
    state, why, who must act, and the certificate's days left."""
    return {pc: {"state": ident.get("state"), "reason": ident.get("reason"),
                 "must_act": ident.get("must_act"),
                 "certificate_days_left": _days_left(ident.get("not_after"), now)}
            for pc, ident in sorted(report.items())}


def reasons(*, stopped: bool, watcher_healthy: bool, vault_state: str,
            identities: Mapping[str, Mapping[str, Any]], storage_paused: bool,
            outbox_missing: bool, inbox_missing: bool) -> list[str]:
    """Why the light is red, most serious first; [] when econnector works."""
    if stopped:
        return ["stopped"]
    out = [code for code, on in (("storage-paused", storage_paused),
                                 ("inbox-missing", inbox_missing),
                                 ("outbox-missing", outbox_missing)) if on]
    if vault_state in _VAULT_REASONS:
        out.append(_VAULT_REASONS[vault_state])
    for ident in identities.values():
        if ident.get("state") != "unlocked":
            code = str(ident.get("reason") or "identity-locked")
            if code not in out:
                out.append(code)
    if not watcher_healthy:
        out.append("watcher-down")
    return out


def message(codes: list[str], identities: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """One text per language for the front desk: "econnector is running", or each
    reason's sentence (the identities' in two: what the doctor can fix, what IT must)."""
    locked = [] if "stopped" in codes else [
        (pc, i) for pc, i in identities.items() if i.get("state") != "unlocked"]
    doctor = ", ".join(pc for pc, i in locked if i.get("must_act") == "doctor")
    it = ", ".join(pc for pc, i in locked if i.get("must_act") != "doctor")
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        texts = HEARTBEAT_TEXTS[lang]
        if not codes:
            out[lang] = texts["ok"]
            continue
        lines = [texts[c] for c in codes if c in texts]
        if doctor:
            lines.append(texts["identity-doctor"].format(providers=doctor))
        if it:
            lines.append(texts["identity-it"].format(providers=it))
        out[lang] = " ".join(lines)
    return out


def build(
    *, version: str, node: str, pid: int, started_at: str, now: float, interval: float,
    counts: Mapping[str, int], oldest: Oldest | None, last_full_scan_at: float | None,
    watcher_healthy: bool, vault_state: str, identities: Mapping[str, Mapping[str, Any]],
    storage_paused: bool, outbox_missing: bool, inbox_missing: bool, stopped: bool = False,
) -> dict[str, Any]:
    """The heartbeat document. Pure: counts, states and times only.

    ``identities`` is the health file's map (Identities.report); ``stale_after`` is
    ``updated_at`` + 3 intervals, the time after which a reader must assume that
    econnector no longer runs (unless ``stopped`` already says so)."""
    updated = float(math.floor(now))
    idents = identities_section(identities, now)
    codes = reasons(stopped=stopped, watcher_healthy=watcher_healthy, vault_state=vault_state,
                    identities=idents, storage_paused=storage_paused,
                    outbox_missing=outbox_missing, inbox_missing=inbox_missing)
    return {
        "schema": SCHEMA,
        "version": version,
        "node": node,
        "pid": pid,
        "started_at": started_at,
        "updated_at": iso(updated),
        "interval_s": int(interval) if float(interval).is_integer() else interval,
        "stale_after": iso(updated + STALE_FACTOR * interval),
        "stopped": stopped,
        "ok": not codes,
        "reasons": codes,
        "message": message(codes, idents),
        "stale_message": {lang: HEARTBEAT_TEXTS[lang]["stale"] for lang in LANGUAGES},
        "counts": {s.value: int(counts.get(s.value, 0)) for s in State},
        "oldest_waiting": None if oldest is None else {
            "state": oldest.state, "since": iso(oldest.since),
            "age_s": max(0, int(now - oldest.since))},
        "last_full_scan_at": None if last_full_scan_at is None else iso(last_full_scan_at),
        "watcher_healthy": watcher_healthy,
        "vault": {"reachable": vault_state == "open", "state": vault_state},
        "storage_paused": storage_paused,
        "outbox_missing": outbox_missing,
        "inbox_missing": inbox_missing,
        "identities": idents,
    }


class Heartbeat:
    """Gathers the daemon's state on the event loop, writes it on an I/O thread."""

    def __init__(self, cfg: Config, pipeline: Pipeline, watcher_ok: Callable[[], bool],
                 version: str, clock: Callable[[], float] = time.time) -> None:
        self.pipeline, self.watcher_ok, self.version, self.clock = (
            pipeline, watcher_ok, version, clock)
        self.node, self.interval = cfg.node.id, cfg.heartbeat.interval
        self.path = cfg.folders.inbox / file_name(cfg.node.id, cfg.node.shared_outbox)
        self._pending: asyncio.Future[None] | None = None
        self._failing = False  # said once per change, not at every beat

    def document(self, stopped: bool = False) -> dict[str, Any]:
        p = self.pipeline
        b = p.blockers
        return build(
            version=self.version, node=self.node, pid=os.getpid(), started_at=b.started_at,
            now=self.clock(), interval=self.interval, counts=p.store.counts(),
            oldest=oldest_waiting(p.store),
            last_full_scan_at=getattr(p, "last_full_scan_at", None),
            watcher_healthy=self.watcher_ok(), vault_state=str(p.gate.state),
            identities=p.ids.report(p.providers), storage_paused=b.storage_paused is not None,
            outbox_missing=b.outbox_missing, inbox_missing=b.inbox_missing, stopped=stopped)

    def beat(self) -> None:
        """One rewrite, unless the last one is still on its way to the disk."""
        if self._pending is not None and not self._pending.done():
            return
        try:
            doc = self.document()
        except Exception as e:  # the heartbeat never stops the daemon; a stale file says it
            log.error("heartbeat-failed", error=type(e).__name__)
            return
        self._pending = self.pipeline.inbox.schedule(self.path.name, lambda: self._write(doc))

    async def run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.interval)

    def stopped(self) -> None:
        """The last write (at shutdown, after the drain): ``stopped: true``. Queued behind
        any write in flight on the same thread; closing the inbox writer waits for it."""
        try:
            doc = self.document(stopped=True)
        except Exception as e:
            log.error("heartbeat-failed", error=type(e).__name__)
            return
        self.pipeline.inbox.submit(self.path.name, self._write, doc)

    def _write(self, doc: dict[str, Any]) -> None:
        """On the I/O thread: atomic and fsynced (fsio); a failure is logged once."""
        try:
            fsio.write_json(self.path, doc)
        except Exception as e:
            if not self._failing:
                self._failing = True
                log.warning("heartbeat-write-failed", file=self.path.name,
                            error=type(e).__name__, detail=getattr(e, "strerror", None))
            return
        if self._failing:
            self._failing = False
            log.info("heartbeat-write-resumed", file=self.path.name)


def remove(inbox: Path, node: str, shared: bool) -> None:
    """``heartbeat.enabled: false``: take away the file an earlier run left, so the
    practice software shows no light instead of a stale or a stopped one."""
    (inbox / file_name(node, shared)).unlink(missing_ok=True)
