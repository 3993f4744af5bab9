"""What blocks the whole daemon, not one document: a missing outbox or inbox, storage
paused (disk full, a folder unusable). Each change is said once (log and console)
and written to the health file (:mod:`.health`), with the vault gate and the
identities beside it.

While storage is paused or the inbox is away nothing new is claimed (no answer
could be written); documents in flight wait, and resume by themselves when a
probe finds every folder writable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from . import filemodes, fsio, health
from .config import Folders
from .identities import Identities
from .inbox import InboxWriter
from .receipts import iso
from .recovery import creatable
from .vault_gate import VaultGate

log = structlog.get_logger("econnector.blockers")


class Blockers:
    """The daemon-wide conditions, and the one writer of the health file."""

    def __init__(self, folders: Folders, signed_dir: Path, *, gate: VaultGate,
                 ids: Identities, providers: list[str], inbox: InboxWriter,
                 clock: Callable[[], float]) -> None:
        self.folders, self.signed_dir = folders, signed_dir
        self.gate, self.ids, self.providers = gate, ids, providers
        self.inbox = inbox  # the health file is written on one of its I/O threads
        self.clock = clock
        self.started_at = iso(clock())
        self.storage_paused: str | None = None
        self.outbox_missing = False
        self.inbox_missing = False  # nothing is claimed: no answer could be written
        self.console: Callable[[str], None] = _console  # what IT sees on the terminal

    @property
    def claims_allowed(self) -> bool:
        """May new pairs be taken? Not while no answer could be written."""
        return not self.storage_paused and not self.inbox_missing

    def folder_state(self, which: str, missing: bool, health: bool = True) -> None:
        """Record (and say, once per change) that the outbox or inbox is missing or back."""
        attr = f"{which}_missing"
        if getattr(self, attr) == missing:
            return
        setattr(self, attr, missing)
        path = self.folders.outbox if which == "outbox" else self.folders.inbox
        if missing:
            log.error(f"{which}-missing", path=str(path))
            self.console(f"folders.{which}: {path} is missing or unreadable "
                         f"({which}-missing); econnector waits for it")
        else:
            log.warning(f"{which}-back", path=str(path))
            self.console(f"folders.{which}: {path} is back; resuming")
        if health:
            self.write_health()

    async def check_inbox(self) -> None:
        self.folder_state("inbox", not await asyncio.to_thread(self._inbox_ok))

    def _inbox_ok(self) -> bool:
        """Runs on a thread: is the inbox there? One of ours (inside folders.root) that
        was deleted is made again; one outside it is waited for."""
        inbox = self.folders.inbox
        if inbox.is_dir():
            return True
        if creatable(self.folders, inbox):
            with contextlib.suppress(OSError):
                filemodes.ensure_dir(inbox)
                return True
        return False

    def pause_storage(self, e: BaseException) -> None:
        reason = f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}"
        if self.storage_paused is None:
            log.error("storage-paused", reason=reason,
                      hint="free disk space or fix the folder; econnector resumes by itself")
        self.storage_paused = reason
        self.write_health()

    def probe_storage(self) -> bool:
        """Can we write every folder again? True when storage just resumed."""
        f = self.folders
        try:
            for folder in (f.inbox, f.archive, f.failed, self.signed_dir):
                if folder != f.inbox or creatable(f, folder):
                    filemodes.ensure_dir(folder)
                fsio.write_bytes(folder / ".econnector-probe", b"ok")
                (folder / ".econnector-probe").unlink()
        except OSError as e:
            self.storage_paused = f"{type(e).__name__}: {e.strerror or e}"
            return False
        log.warning("storage-resumed")
        self.storage_paused = None
        self.write_health()
        return True

    def write_health(self) -> None:
        """work/daemon-status.json, on an I/O thread (always the same one, so versions
        stay in order): the write is fsynced, and the event loop never waits for a disk."""
        f = self.folders
        doc = health.build(
            started_at=self.started_at, now=self.clock(), storage_paused=self.storage_paused,
            vault=health.vault_section(self.gate), identities_locked=self.ids.blocked(),
            identities=self.ids.report(self.providers),
            outbox=health.Folder("outbox", f.outbox, self.outbox_missing),
            inbox=health.Folder("inbox", f.inbox, self.inbox_missing))
        self.inbox.submit(health.FILE, health.write, f.work / health.FILE, doc)


def _console(line: str) -> None:
    """One line for whoever watches the daemon's terminal (or the service journal)."""
    print(f"econnector: {line}", file=sys.stderr, flush=True)
