"""Finishing a decided drop: its answer into the inbox, the originals away, finalized.

Every step is idempotent, so a crash anywhere here is finished by the next
start; what is decided (the receipt, archive targets) is committed before it is
acted on. The file half of each outcome runs on the stem's I/O thread
(:class:`.inbox.InboxWriter`); this module decides and commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import structlog

from . import filemodes, fsio, names, receipts
from .crashpoints import reached
from .inbox import InboxWriter
from .states import State
from .statestore import Drop, Store

log = structlog.get_logger("econnector.finishing")


class Finisher:
    """Writes the outcome of delivered, rejected and opted-out drops."""

    def __init__(self, store: Store, inbox: InboxWriter, archive: Path, *,
                 signed_path: Callable[[Drop], Path], clock: Callable[[], float],
                 release: Callable[[Drop], None]) -> None:
        self.store, self.inbox, self.archive = store, inbox, archive
        self.signed_path = signed_path
        self.clock = clock
        self.release = release  # the stem is free for a new drop
        self.node: str | None = None  # named in receipts (config node.id)
        # The assistant's name for a drop's submitted_by (their grant), if any.
        self.sender_name: Callable[[Drop], str | None] = lambda d: None

    async def finalize(self, d: Drop) -> None:
        if d.state is State.DELIVERED:
            await self.delivered(d)
        elif d.state is State.REJECTED:
            await self.rejected(d)
        elif d.state is State.PATIENT_OPTED_OUT:
            await self.opted_out(d)

    async def delivered(self, d: Drop) -> None:
        """Receipt and signed copy into the inbox, then the originals into the archive."""
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
                patient_status=source.patient_status, invoice_qr=source.invoice_qr,
                submitted_by_name=self.sender_name(source), node=self.node,
            )
        delivered = dt.datetime.fromisoformat(d.delivered_at.replace("Z", "+00:00"))
        folder = self.archive / f"{delivered:%Y}" / f"{delivered:%m}"
        signed_work = self.signed_path(d) if d.duplicate_of is None else None
        if d.receipt is None or (d.duplicate_of is None and d.signed_archive is None):
            filemodes.ensure_dir(folder)
            target = d.signed_archive or (
                str(fsio.free_name(folder, f"{d.stem}.signed.pdf")) if signed_work else None
            )
            d = self.store.update(d.id, self.clock(), receipt=receipt, signed_archive=target)
        await self.inbox.run(d.stem, self.inbox.delivered_files, d, receipt, folder,
                             signed_work)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        reached("after-finalized-commit")
        self.release(d)
        vault_id = d.delivery["vault_document_id"] if d.delivery else None
        log.info("delivered", drop=d.id, stem=names.ref(d.stem), vault_document_id=vault_id,
                 replay=d.duplicate_of is not None)

    async def rejected(self, d: Drop) -> None:
        """Error file into the inbox, the originals into failed/."""
        await self.inbox.run(d.stem, self.inbox.rejected_files, d)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        self.release(d)

    async def opted_out(self, d: Drop) -> None:
        """Signed copy and answer file into the inbox, then the original (finished, not
        failed) and the signed bytes into the archive. Idempotent like a delivery: the
        archive target is committed before it is used. The row keeps the time of the
        vault's answer (the answer file's ``decided_at``), even when a restart finishes."""
        if d.signed_archive is None:
            when = dt.datetime.fromtimestamp(d.updated_at, dt.UTC)
            folder = self.archive / f"{when:%Y}" / f"{when:%m}"
            target = await asyncio.to_thread(_free_archive_name, folder, f"{d.stem}.signed.pdf")
            d = self.store.update(d.id, d.updated_at, signed_archive=str(target))
        await self.inbox.run(d.stem, self.inbox.opted_out_files, d)
        d = self.store.update(d.id, self.clock(), finalized_at=self.clock())
        reached("after-opted-out-finalized")
        self.release(d)


def _free_archive_name(folder: Path, name: str) -> Path:
    filemodes.ensure_dir(folder)
    return fsio.free_name(folder, name)
