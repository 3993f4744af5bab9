"""The signing pool's real worker processes: a stuck worker is stopped at the timeout and
a dead one is answered for, and the next document gets a fresh worker (signing in
process is tests/unit/test_signer.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from econnector import signer
from econnector.signer import Policy
from econnector.testid import TestIdentity, make_identity
from econnector_testsupport.signing import key_spec
from econnector_testsupport.vault import unsigned_pdf

PC = "90812100"


@pytest.fixture(scope="module")
def ident(tmp_path_factory: pytest.TempPathFactory) -> TestIdentity:
    return make_identity(tmp_path_factory.mktemp("id"), PC)


def job(src: Path, dst: Path, max_pages: int = 100) -> signer.SignJob:
    return signer.SignJob(PC, str(src), str(dst), max_pages, 16384, "Luxembourg")


def test_pool_stops_a_document_that_takes_too_long(ident: TestIdentity, tmp_path: Path) -> None:
    # A stopped worker never answers, deterministically (a FIFO no longer blocks it:
    # outbox files are opened non-blocking and refused unless regular).
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("after"))
    pool = signer.SigningPool(workers=1, memory_mb=1024, timeout=5.0)

    async def scenario() -> None:
        pool.start([key_spec(ident)], Policy())
        first = pool._all[0].proc
        os.kill(first.pid, signal.SIGSTOP)
        out = await pool.sign(job(src, tmp_path / "out.pdf"))
        assert (out.ok, out.code) == (False, "pdf-processing-timeout")
        assert out.params == {"seconds": 5}
        assert first.poll() is not None  # the stuck worker was killed ...
        out = await pool.sign(job(src, tmp_path / "out.pdf"))  # ... and replaced
        assert out.ok, out

    try:
        asyncio.run(scenario())
    finally:
        pool.stop()
    assert pool._all == []


def test_pool_answers_for_a_worker_that_dies(ident: TestIdentity, tmp_path: Path) -> None:
    """A worker killed mid-job (as the kernel does when it runs out of memory) is a
    'too complex' document, and the next document gets a fresh worker."""

    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("after"))
    pool = signer.SigningPool(workers=1, memory_mb=1024, timeout=60.0)

    async def scenario() -> None:
        pool.start([key_spec(ident)], Policy())
        victim = pool._all[0].proc
        os.kill(victim.pid, signal.SIGSTOP)  # mid-job for as long as we like
        task = asyncio.ensure_future(pool.sign(job(src, tmp_path / "out.pdf")))
        await asyncio.sleep(1.0)
        os.kill(victim.pid, signal.SIGKILL)
        out = await task
        assert (out.ok, out.code) == (False, "pdf-too-complex")
        assert (await pool.sign(job(src, tmp_path / "out.pdf"))).ok

    try:
        asyncio.run(scenario())
    finally:
        pool.stop()
