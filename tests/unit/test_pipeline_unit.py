"""In-process pipeline tests with one test double: a signing pool whose worker cannot
read the file at first (a Windows-style lock or a permission problem, which root
cannot reproduce on Linux). Everything else is real: store, files, local vault."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from econnector import safeopen, signer, signworker
from econnector.pipeline import Pipeline
from econnector.statestore import Store
from econnector.vault_transport import make_vault_client
from econnector_testsupport.daemon import PROVIDER, drop, inprocess_config, make_identity, sidecar
from econnector_testsupport.vault import unsigned_pdf


class LockedThenReadablePool:
    """Signs in process; the first ``locked`` attempts fail as a locked file would."""

    def __init__(self, locked: int) -> None:
        self.locked = locked
        self.calls = 0

    def start(self, identities: Any) -> None:
        signworker._SIGNERS.clear()
        signworker.init_worker(identities, 0)

    async def sign(self, job: signer.SignJob) -> signer.SignOutcome:
        self.calls += 1
        if self.calls <= self.locked:
            return signer.SignOutcome(ok=False, code="file-busy",
                                      params={"detail": "Permission denied"})
        return await asyncio.to_thread(signworker.sign_file, job)

    def stop(self) -> None:
        pass


def test_a_locked_file_is_retried_with_backoff_not_rejected(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = inprocess_config(tmp_path, ident, 0.1, 0.3)
    drop(cfg.folders.outbox, "locked", unsigned_pdf("locked"), sidecar("LOCK-1"))
    store = Store(cfg.folders.work / "state.sqlite")
    pool = LockedThenReadablePool(locked=3)
    statuses: list[dict[str, Any]] = []

    async def main() -> None:
        vault = make_vault_client(cfg)
        pipe = Pipeline(cfg, store, vault, pool)  # type: ignore[arg-type]
        # Every status file version as it is written (a retry can replace one within
        # milliseconds, faster than polling the file would see).
        write_status = pipe._write_status_raw

        def recording(stem: str, doc: dict[str, Any]) -> None:
            write_status(stem, doc)
            if not statuses or statuses[-1] != doc:
                statuses.append(doc)

        pipe._write_status_raw = recording  # type: ignore[method-assign]
        stop = asyncio.Event()
        runner = asyncio.create_task(pipe.run(stop))
        status = cfg.folders.inbox / "locked.status.json"
        for _ in range(400):
            await asyncio.sleep(0.025)
            if status.exists() and json.loads(status.read_text())["state"] in (
                "delivered", "rejected"
            ):
                break
        stop.set()
        await runner
        await pipe.drain(0)
        await vault.aclose()

    asyncio.run(main())
    store.close()
    assert statuses[-1]["state"] == "delivered", statuses
    assert pool.calls == 4
    waits = [s for s in statuses if s["state"] == "waiting-retry"]
    assert waits and all(s["reason"] == "file-busy" for s in waits)
    assert max(s["attempts"] for s in waits) == 3
    assert not any(s["state"] == "rejected" for s in statuses)


def test_worker_maps_a_permission_error_to_file_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = make_identity(tmp_path / "id")
    signworker._SIGNERS.clear()
    signworker.init_worker([(PROVIDER, str(ident.pkcs12),
                              ident.passphrase_file.read_bytes().strip())], 0)
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("x"))

    def locked_open(*a: Any, **k: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    # The source is opened by descriptor (safeopen): refuse it there, as a lock would.
    monkeypatch.setattr(safeopen, "open_fd", locked_open)
    out = signworker.sign_file(signer.SignJob(PROVIDER, str(src), str(tmp_path / "o.pdf"), 10,
                                              16384, ""))
    assert (out.ok, out.code) == (False, "file-busy")


def test_certificate_validity_is_judged_again_as_time_passes(tmp_path: Path) -> None:
    """Not yet valid: held, then signed once its day comes; expired while running: the
    next document is held. The pipeline's clock is moved; everything else is real."""
    ident = make_identity(tmp_path / "id")  # valid from yesterday for 730 days
    cfg = inprocess_config(tmp_path, ident, 0.1, 0.3)
    store = Store(cfg.folders.work / "state.sqlite")
    real = time.time()
    clock = [real - 2 * 86400.0]  # the day before yesterday: not valid yet

    def status(stem: str) -> dict[str, Any] | None:
        p = cfg.folders.inbox / f"{stem}.status.json"
        return json.loads(p.read_text()) if p.exists() else None

    async def until(stem: str, state: str) -> dict[str, Any]:
        for _ in range(400):
            await asyncio.sleep(0.025)
            s = status(stem)
            if s and s["state"] == state:
                return s
        raise AssertionError(f"{stem}: {status(stem)}")

    async def main() -> tuple[dict[str, Any], ...]:
        vault = make_vault_client(cfg)
        pipe = Pipeline(cfg, store, vault, LockedThenReadablePool(0),  # type: ignore[arg-type]
                        clock=lambda: clock[0])
        stop = asyncio.Event()
        runner = asyncio.create_task(pipe.run(stop))
        try:
            drop(cfg.folders.outbox, "early", unsigned_pdf("early"), sidecar("EARLY-1"))
            early = await until("early", "held")
            clock[0] = real  # its day has come
            delivered = await until("early", "delivered")
            clock[0] = real + 731 * 86400.0  # and it ran out while the daemon ran
            drop(cfg.folders.outbox, "late", unsigned_pdf("late"), sidecar("LATE-1"))
            late = await until("late", "held")
        finally:
            stop.set()
            await runner
            await pipe.drain(0)
            pipe.close_io()
            await vault.aclose()
        return early, delivered, late

    early, delivered, late = asyncio.run(main())
    store.close()
    assert early["reason"] == "certificate-not-yet-valid", early
    assert delivered["attempts"] == 1
    assert late["reason"] == "certificate-expired", late
    assert not (cfg.folders.inbox / "late.signed.pdf").exists()
