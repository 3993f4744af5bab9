"""Another user who can write the outbox or the inbox (issue 8, points 1, 2, 5, 9, 10, 12).

Each test reproduces an attack from the security review against the real
``econnector run`` process and checks what happens now: the pair is refused
with a code, the daemon stays up, keeps delivering and stops on SIGTERM.

Where the attack needs two users (a file the daemon cannot read yet, swapped
for a link to a file only the daemon can read), the daemon runs as root
*without* ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH`` (``setpriv``), so
file modes bind it exactly as they bind a service user, and the attacker's
files belong to a separate OS user created for the test.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector import names, safeopen, signer, signworker
from econnector.pipeline import Pipeline
from econnector.signer import Policy
from econnector.statestore import Store
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    drop,
    econnector_cmd,
    inprocess_config,
    make_identity,
    require_tool,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.fakes import MockVault, ScriptedPool
from econnector_testsupport.signing import key_spec
from econnector_testsupport.vault import free_port, running_vault, subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e

VENDOR = "ectest-vendor"


@pytest.fixture(scope="module")
def ident(tmp_path_factory: pytest.TempPathFactory) -> TestIdentity:
    return make_identity(tmp_path_factory.mktemp("id"))


@pytest.fixture
def daemon(tmp_path: Path, ident: TestIdentity) -> Iterator[Daemon]:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg) as d:
        yield d


@pytest.fixture(scope="module")
def vendor_uid() -> int:
    """A separate OS user, the practice software's (here: the attacker's)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the two-user attacks must run in CI, which runs as root")
        pytest.skip("creating a second OS user needs root")
    try:
        return pwd.getpwnam(VENDOR).pw_uid
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", VENDOR], check=True, capture_output=True)
        return pwd.getpwnam(VENDOR).pw_uid


def service_user_prefix() -> list[str]:
    """Run the daemon as root that file modes bind (no DAC override)."""
    return [require_tool("setpriv"), "--bounding-set", "-dac_override,-dac_read_search", "--"]


def as_vendor(path: Path, uid: int) -> None:
    os.chown(path, uid, -1, follow_symlinks=False)


def put_bytes(folder: Path, name: bytes, data: bytes, mode: int = 0o644) -> Path:
    """Write a file under a name that may not be UTF-8 (as bytes, like any program can)."""
    path = os.path.join(os.fsencode(folder), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(os.fsdecode(path))


def side_bytes(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta).encode()


def wait_state(d: Daemon, stem: str, state: str, reason: str | None = None,
               timeout: float = 30) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        s = d.status(stem)
        return s if s and s["state"] == state and (reason is None or
                                                    s.get("reason") == reason) else None
    return wait_for(ok, timeout, f"{stem} {state} {reason}",  # type: ignore[no-any-return]
                    on_fail=lambda: f"status={d.status(stem)}\n{d.log()}")


def assert_still_delivering(d: Daemon, stem: str) -> None:
    drop(d.outbox, stem, unsigned_pdf(stem), sidecar(stem.upper()))
    st = d.wait_outcome(stem)
    assert st["state"] == "delivered", st
    assert d.alive()


# -- 1 and 9: names that are not UTF-8, hold control characters, or are too long -------------

BAD_STEMS = [
    b"bad\xffname",  # not UTF-8: killed the daemon on every restart
    b"esc\x1b[31mred",  # a terminal escape
    b"new\nline",
    b"cr\rname",
    "rlo\u202efdp.exe".encode(),  # a right-to-left override
    b"A" * 250,  # too long to take a suffix: jammed the pipeline (point 5)
]


def test_hostile_names_are_refused_under_a_name_of_ours(
    tmp_path: Path, ident: TestIdentity
) -> None:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg) as d:
        for i, raw in enumerate(BAD_STEMS):
            put_bytes(d.outbox, raw + b".pdf", unsigned_pdf(f"bad {i}"))
            put_bytes(d.outbox, raw + b".json", side_bytes(sidecar(f"BAD-{i}")))
        outs = [names.out_stem(os.fsdecode(raw)) for raw in BAD_STEMS]
        for raw, out in zip(BAD_STEMS, outs, strict=True):
            st = d.wait_outcome(out)
            assert (st["state"], st["reason"]) == ("rejected", "bad-file-name"), st
            assert st["file"] == out and out.startswith("bad-name-")
            err = d.error(out)
            assert err is not None and err["code"] == "bad-file-name"
            assert err["files"] == [names.shown(os.fsdecode(raw) + ext, 1020)
                                    for ext in (".pdf", ".json")]
            assert sorted(p.name for p in d.failed.iterdir() if p.name.startswith(out)) == [
                f"{out}.json", f"{out}.pdf"]
        # point 5: the long stem dropped a second time is refused again, for good
        long_raw = BAD_STEMS[-1]
        put_bytes(d.outbox, long_raw + b".pdf", unsigned_pdf("long again"))
        put_bytes(d.outbox, long_raw + b".json", side_bytes(sidecar("BAD-LONG-2")))
        wait_for(lambda: len([p for p in d.failed.iterdir() if p.name.startswith(outs[-1])]) == 4,
                 30, "the second refusal in failed/", on_fail=d.log)
        assert_still_delivering(d, "after-bad-names")
        assert list(d.outbox.iterdir()) == []
    # nothing we wrote holds a raw control character, bidi override or non-UTF-8 byte
    raw_bits = [b"\x1b", b"\r", "\u202e".encode(), b"\xff"]
    for folder in (d.inbox, d.failed):
        for p in folder.iterdir():
            assert all(b not in os.fsencode(p.name) for b in raw_bits), p.name
            data = p.read_bytes() if p.suffix in (".json", ".txt") else b""
            assert all(b not in data for b in raw_bits), p
    log_text = d.log_path.read_bytes()
    assert all(b not in log_text for b in raw_bits)
    assert b"A" * 100 not in log_text and b"bad\\udcffname" not in log_text
    assert b"internal-error" not in log_text  # no refusal was an error of ours, none retried
    # a restart does not trip over what the store recorded (it used to exit 1, every time)
    with running_daemon(cfg) as d:
        assert_still_delivering(d, "after-restart")
    # and the CLI, which a person reads in a terminal, echoes nothing raw either
    out = subprocess.run(econnector_cmd("status", "-c", str(cfg)), capture_output=True,
                         env=subprocess_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert all(b not in out.stdout for b in raw_bits)
    assert b"bad-name-" in out.stdout


# -- 2: files swapped under the daemon ---------------------------------------------------------


def test_sidecar_swapped_for_a_fifo_while_busy_is_refused_not_read(
    tmp_path: Path, ident: TestIdentity, vendor_uid: int
) -> None:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg, prefix=service_user_prefix()) as d:
        pdf = d.outbox / "fifo-side.pdf"
        pdf.write_bytes(unsigned_pdf("fifo side"))
        side = d.outbox / "fifo-side.yaml"
        side.write_bytes(side_bytes(sidecar("FIFO-SIDE")))
        for p in (pdf, side):
            as_vendor(p, vendor_uid)
        side.chmod(0o000)  # the daemon cannot read it yet: it retries as file-busy
        wait_state(d, "fifo-side", "waiting-retry", "file-busy")
        fifo = d.outbox / ".swap.fifo"
        os.mkfifo(fifo, 0o666)
        as_vendor(fifo, vendor_uid)
        os.replace(fifo, side)  # an open() by path would now block the event loop for ever
        st = d.wait_outcome("fifo-side")
        assert (st["state"], st["reason"]) == ("rejected", "file-not-regular"), st
        err = d.error("fifo-side")
        assert err is not None and "FIFO" in err["message"]
        assert_still_delivering(d, "after-fifo")  # the loop was never blocked


def test_status_file_replaced_by_a_fifo_is_never_read_back(daemon: Daemon) -> None:
    d = daemon
    (d.outbox / "lonely.pdf").write_bytes(unsigned_pdf("lonely"))
    wait_state(d, "lonely", "waiting", "awaiting-sidecar")
    status = d.inbox / "lonely.status.json"
    status.unlink()
    os.mkfifo(status, 0o666)
    (d.outbox / "lonely.pdf").unlink()  # the daemon drops its waiting status now
    wait_for(lambda: not os.path.lexists(status), 10, "the waiting status removed",
             on_fail=d.log)
    assert_still_delivering(d, "after-status-fifo")


def test_pdf_swapped_for_a_symlink_while_busy_is_not_followed(
    tmp_path: Path, ident: TestIdentity, vendor_uid: int
) -> None:
    # A file the vendor's user cannot read: the service user's own, mode 0600.
    private = tmp_path / "private"
    private.mkdir(mode=0o711)
    secret = private / "secret.pdf"
    secret_bytes = unsigned_pdf("SERVICE USER SECRET")
    secret.write_bytes(secret_bytes)
    secret.chmod(0o600)
    denied = subprocess.run(["cat", str(secret)], user=vendor_uid, capture_output=True)
    assert denied.returncode != 0  # the attacker cannot read it themselves
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg, prefix=service_user_prefix()) as d:
        # (a) claimed, and retried as file-busy (its sidecar cannot be read yet)
        pdf = d.outbox / "link-pdf.pdf"
        pdf.write_bytes(unsigned_pdf("decoy"))
        side = d.outbox / "link-pdf.yaml"
        side.write_bytes(side_bytes(sidecar("LINK-PDF")))
        # (b) not claimed yet: the PDF itself cannot be read (waiting, file-busy)
        pdf_b = d.outbox / "link-pdf-b.pdf"
        pdf_b.write_bytes(unsigned_pdf("decoy b"))
        side_b = d.outbox / "link-pdf-b.yaml"
        side_b.write_bytes(side_bytes(sidecar("LINK-PDF-B")))
        for p in (pdf, side, pdf_b, side_b):
            as_vendor(p, vendor_uid)
        side.chmod(0o000)
        pdf_b.chmod(0o000)
        wait_state(d, "link-pdf", "waiting-retry", "file-busy")
        wait_state(d, "link-pdf-b", "waiting", "file-busy")
        for target in (pdf, pdf_b):
            link = d.outbox / ".swap.pdf"
            link.symlink_to(secret)
            as_vendor(link, vendor_uid)
            os.replace(link, target)
        side.chmod(0o644)  # readable again: the retry reads the pair
        for stem in ("link-pdf", "link-pdf-b"):
            st = d.wait_outcome(stem)
            assert (st["state"], st["reason"]) == ("rejected", "file-not-regular"), st
            assert d.receipt(stem) is None
            # the link (a new file since the claim, so a drop of its own when it was
            # swapped in after the claim) ends in failed/ too, kept as evidence
            wait_for(lambda s=stem: (d.failed / f"{s}.pdf").is_symlink(), 10,  # type: ignore[misc]
                     f"{stem}.pdf link in failed/", on_fail=d.log)
        assert_still_delivering(d, "after-link")
    # the secret was never signed: no signed file anywhere holds its bytes
    for p in (d.root / "work").rglob("*.pdf"):
        assert secret_bytes not in p.read_bytes()
    for p in d.inbox.glob("*.signed.pdf"):
        assert secret_bytes not in p.read_bytes()
    assert secret.read_bytes() == secret_bytes


def test_the_signing_worker_opens_only_the_claimed_regular_file(
    tmp_path: Path, ident: TestIdentity
) -> None:
    """Even when the swap comes after the claim's checks, the worker refuses it."""
    signworker._SIGNERS.clear()
    signworker.init_worker([key_spec(ident, PROVIDER)], Policy(), 0)
    real = tmp_path / "real.pdf"
    real.write_bytes(unsigned_pdf("real"))
    st = real.stat()
    claimed = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def sign(src: Path, expect: Any = claimed) -> signer.SignOutcome:
        return signworker.sign_file(signer.SignJob(
            PROVIDER, str(src), str(tmp_path / "out.pdf"), 100, 16384, "", expect=expect))

    assert sign(real).ok
    link = tmp_path / "link.pdf"
    link.symlink_to(real)
    assert (sign(link).code, sign(link, None).code) == ("file-not-regular",) * 2
    fifo = tmp_path / "fifo.pdf"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert sign(fifo, None).code == "file-not-regular"  # at once, not blocked
    assert time.monotonic() - t0 < 5
    other = tmp_path / "other.pdf"
    other.write_bytes(unsigned_pdf("other"))
    os.replace(other, real)  # a new inode under the claimed name
    assert sign(real).code == "file-replaced"


def test_safeopen_refuses_what_is_not_the_claimed_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"one")
    fid = safeopen.FileId(f.stat().st_dev, f.stat().st_ino, 3, f.stat().st_mtime_ns)
    assert safeopen.read_limited(f, 10, fid) == b"one"
    f.write_bytes(b"three")  # the same inode, changed
    with pytest.raises(safeopen.Rejected) as e:
        safeopen.read_limited(f, 10, fid)
    assert e.value.code == "file-replaced"
    (tmp_path / "d").mkdir()
    with pytest.raises(safeopen.Rejected) as e:
        safeopen.read_limited(tmp_path / "d", 10)
    assert e.value.code == "file-not-regular" and "folder" in e.value.message


# -- 5: an error that cannot get better is final -----------------------------------------------


@pytest.mark.parametrize("exc, max_calls", [
    (OSError(errno.ENAMETOOLONG, "File name too long"), 1),  # can never get better
    (RuntimeError("a bug of ours"), 6),  # might: a few retries, then final
])
def test_an_internal_error_that_persists_is_final(
    tmp_path: Path, ident: TestIdentity, exc: Exception, max_calls: int
) -> None:
    import asyncio

    cfg = inprocess_config(tmp_path, ident, 0.01, 0.05)
    drop(cfg.folders.outbox, "jam", unsigned_pdf("jam"), sidecar("JAM-1"))
    store = Store(cfg.folders.work / "state.sqlite")
    # Every job fails with ``exc`` (the failure is ours, not the document's): the
    # daemon must stop retrying it, not loop holding a claim slot.
    pool = ScriptedPool([exc] * 20)
    pipe = Pipeline(cfg, store, MockVault().client(), pool)  # type: ignore[arg-type]

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(pipe.run(stop))
        err = cfg.folders.inbox / "jam.error.json"
        for _ in range(400):
            if err.exists():
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.5)  # would it try again?
        stop.set()
        await runner
        await pipe.drain(0)
        pipe.close_io()

    asyncio.run(scenario())
    error = json.loads((cfg.folders.inbox / "jam.error.json").read_text())
    assert error["code"] == "internal-error"
    assert pool.calls == max_calls
    assert sorted(p.name for p in cfg.folders.failed.iterdir()) == ["jam.pdf", "jam.yaml"]
    assert pipe.claimed_active() == 0
    store.close()


# -- 10: a sidecar replaced after validation ---------------------------------------------------


def test_sidecar_replaced_after_validation_is_not_archived_as_processed(
    tmp_path: Path, ident: TestIdentity
) -> None:
    port = free_port()
    token = "replaced-sidecar-token-0123"
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url=f"http://127.0.0.1:{port}", token=token,
                       watch={"orphan_timeout_s": 3})
    with running_daemon(cfg) as d:
        drop(d.outbox, "swap", unsigned_pdf("swap"), sidecar("SWAP-1", mat="1893120105732"))
        # validated and signed; the vault is not there yet, so it waits
        wait_state(d, "swap", "waiting-retry", "vault-unavailable")
        other = sidecar("SWAP-2", mat="1893120105732")
        other["patient"]["last_name"] = "Autre"
        tmp = d.outbox / "swap.yaml.part"
        tmp.write_bytes(json.dumps(other).encode())
        os.replace(tmp, d.outbox / "swap.yaml")  # another patient's sidecar, same stem
        with running_vault(tmp_path / "vault", token=token, port=port):
            receipt = wait_for(lambda: d.receipt("swap"), 30, "the receipt", on_fail=d.log)
            assert receipt["document_id"] == "SWAP-1"
            # the replacement stayed, and became a new drop once the first had ended
            err = wait_for(lambda: d.error("swap"), 30, "the orphaned sidecar's error",
                           on_fail=d.log)
            assert err["code"] == "sidecar-orphaned" and err["files"] == ["swap.yaml"]
        # the archive holds only what was processed: the PDF and its signed copy
        assert sorted(p.name for p in d.archived()) == ["swap.pdf", "swap.signed.pdf"]
        assert [p.name for p in d.failed.iterdir()] == ["swap.yaml"]
        assert json.loads((d.failed / "swap.yaml").read_text())["document_id"] == "SWAP-2"
        assert list(d.outbox.iterdir()) == []


# -- 12: stems are not logged ------------------------------------------------------------------


def test_a_stem_holding_a_name_and_a_matricule_is_never_logged(daemon: Daemon) -> None:
    d = daemon
    stem = "Rechnung-Weber-Anne-198001-0112302"
    drop(d.outbox, stem, unsigned_pdf("privacy"), sidecar("PRIV-1"))
    assert d.wait_outcome(stem)["state"] == "delivered"
    log_text = d.log_path.read_text("utf-8")
    assert f'"stem": "{names.ref(stem)}"' in log_text  # what the log says instead
    for part in (stem, "Weber", "Anne", "198001", "0112302"):
        assert part not in log_text, part
