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


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie no one has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_worker_holding_a_job_dies_with_its_daemon(ident: TestIdentity, tmp_path: Path) -> None:
    """The chaos test once found signed bytes in work/signed/ after every document was
    delivered and archived: the killed daemon's worker had finished its job and renamed
    them in after the next daemon was done. A worker now dies with its daemon, even in
    the middle of a job, and never writes its output."""
    import subprocess
    import sys
    import time

    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("orphan"))
    dst = tmp_path / "out.pdf"
    secret = ident.passphrase_file.read_bytes().rstrip(b"\r\n")
    daemon = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, os, signal, sys
from econnector import signer
from econnector.signer import Policy, SignJob
pool = signer.SigningPool(workers=1, memory_mb=1024, timeout=600.0)
async def main():
    pool.start([signer.KeySpec({PC!r}, "B-B", {secret!r}, {str(ident.pkcs12)!r})], Policy())
    w = pool._all[0].proc
    os.kill(w.pid, signal.SIGSTOP)  # the job waits in its pipe until we are dead
    print(w.pid, flush=True)
    await pool.sign(SignJob({PC!r}, {str(src)!r}, {str(dst)!r}, 100, 16384, "Luxembourg"))
asyncio.run(main())
"""], stdout=subprocess.PIPE, text=True)
    assert daemon.stdout is not None
    worker = int(daemon.stdout.readline())
    time.sleep(1.0)  # the job is in the worker's pipe
    daemon.kill()
    daemon.wait()
    with __import__("contextlib").suppress(ProcessLookupError):
        os.kill(worker, signal.SIGCONT)  # were it alive, it would sign now
    deadline = time.monotonic() + 30
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(worker), "the worker outlived its daemon"
    time.sleep(1.0)
    assert not dst.exists() and not Path(str(dst) + ".check.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.pdf"]


def test_a_worker_whose_daemon_is_already_gone_leaves_at_once(tmp_path: Path) -> None:
    """Started for a parent that is not its parent any more: it exits without waiting
    for its keys (its input stays open: a worker that waited would never end)."""
    import subprocess
    import sys

    w = subprocess.Popen([sys.executable, "-c", signer._worker_cmd().replace(
        f"parent={os.getpid()}", "parent=1")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert w.wait(timeout=60) == 0
        assert w.stdout is not None and w.stdout.read() == b""
    finally:
        w.kill()
        w.wait()
