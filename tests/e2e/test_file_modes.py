"""File modes are set explicitly, never left to the umask (issue 8, point 8).

The real ``econnector run`` under umask 022 and 077, with and without a
practice group (``folders.group``); and, as root, a practice user in that group
who reads its receipts while another user reads neither them nor the state
database.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from econnector import filemodes
from econnector.config import Folders
from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf

IS_ROOT = os.geteuid() == 0


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def need_root(what: str) -> None:
    """Skip outside CI when not root; in CI (CI=true) fail loudly instead."""
    if IS_ROOT:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} needs root in CI (creating OS users and groups)")
    pytest.skip(f"{what} needs root (creates OS users and groups)")


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, errors="replace",
                          timeout=60)


@contextlib.contextmanager
def os_group() -> Iterator[tuple[str, int]]:
    name = f"ecg{uuid.uuid4().hex[:8]}"
    r = _run("groupadd", name)
    assert r.returncode == 0, r.stderr
    try:
        yield name, grp.getgrnam(name).gr_gid
    finally:
        _run("groupdel", name)


@contextlib.contextmanager
def os_user(group: str | None = None) -> Iterator[str]:
    name = f"ecu{uuid.uuid4().hex[:8]}"
    args = ["useradd", "-M", "-N", "-s", "/bin/sh"]
    if group:
        args += ["-g", group]
    r = _run(*args, name)
    assert r.returncode == 0, r.stderr
    try:
        yield name
    finally:
        _run("userdel", name)


@pytest.fixture
def practice_group() -> Iterator[tuple[str, int]]:
    """A group to give the practice: a fresh OS group as root, else one of ours."""
    if IS_ROOT:
        with os_group() as g:
            yield g
        return
    gid = next((g for g in os.getgroups() if g != os.getegid()), os.getegid())
    yield str(gid), gid


def _drop_two(outbox: Path) -> None:
    drop(outbox, "good", unsigned_pdf("good"), sidecar("MODES-1"))
    drop(outbox, "bad", unsigned_pdf("bad"), sidecar("MODES-2", type_="no-such-type"))


@pytest.mark.e2e
@pytest.mark.parametrize("process_umask", [0o022, 0o077], ids=["umask022", "umask077"])
@pytest.mark.parametrize("with_group", [False, True], ids=["nogroup", "group"])
def test_daemon_sets_modes_whatever_the_umask(
    tmp_path: Path, process_umask: int, with_group: bool, practice_group: tuple[str, int]
) -> None:
    ident = make_identity(tmp_path / "id")
    extra = {"folders": {"group": practice_group[0]}} if with_group else {}
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], signing={"workers": 1},
                       **extra)
    gid = practice_group[1] if with_group else None
    dir_shared = filemodes.GROUP_DIR if with_group else 0o700
    file_shared = 0o640 if with_group else 0o600
    # A leftover of an older version: an inbox made under umask 022 is fixed at start.
    (tmp_path / "practice" / "inbox").mkdir(mode=0o755)
    os.chmod(tmp_path / "practice" / "inbox", 0o755)
    with umask(process_umask), running_daemon(cfg) as d:
        _drop_two(d.outbox)
        assert d.wait_outcome("good")["state"] == "delivered"
        assert d.wait_outcome("bad")["state"] == "rejected"
        work = d.root / "work"
        # while running: the database and its -wal/-shm
        wait_for(lambda: (work / "state.sqlite-wal").exists(), 10, "the WAL file")
        for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
            if (work / name).exists():
                assert mode(work / name) == 0o600, name
    root = d.root
    assert mode(root) == (0o750 if with_group else 0o700)
    assert mode(root / "work") == 0o700
    assert mode(root / "work" / "signed") == 0o700
    for p in (root / "work").iterdir():
        if p.is_file():
            assert mode(p) & 0o077 == 0, (p, oct(mode(p)))
    assert mode(root / "outbox") == (filemodes.GROUP_OUTBOX if with_group else 0o700)
    for folder in ("inbox", "archive", "failed"):
        assert mode(root / folder) == dir_shared, folder
    inbox_files = sorted(p for p in d.inbox.iterdir() if p.is_file())
    names = {p.name for p in inbox_files}
    assert {"good.receipt.json", "good.receipt.txt", "good.signed.pdf", "good.status.json",
            "bad.error.json", "bad.error.txt", "bad.status.json"} <= names, names
    archived = [p for p in d.archive.rglob("*")]
    assert any(p.name == "good.pdf" for p in archived) and any(
        p.name == "good.signed.pdf" for p in archived)
    failed = list(d.failed.iterdir())
    assert {p.name for p in failed} >= {"bad.pdf", "bad.yaml"}
    for p in [*inbox_files, *archived, *failed]:
        if p.is_dir():  # archive/YYYY and archive/YYYY/MM
            assert mode(p) == dir_shared, (p, oct(mode(p)))
        else:
            assert mode(p) == file_shared, (p, oct(mode(p)))
        if gid is not None:
            assert os.lstat(p).st_gid == gid, p
    if gid is not None:
        for folder in ("outbox", "inbox", "archive", "failed"):
            assert os.lstat(root / folder).st_gid == gid, folder
    log = root / "econnector.log"
    assert mode(log) & 0o077 == 0, oct(mode(log))


def test_prepare_folders_fixes_what_it_owns_and_spares_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "r"
    folders = Folders(outbox=root / "outbox", inbox=root / "inbox", archive=root / "archive",
                      failed=root / "failed", work=root / "work", root=root)
    with umask(0o022):
        (root / "outbox").mkdir(parents=True)
        (root / "inbox").mkdir()
        (root / "work").mkdir()
        (root / "work" / "state.sqlite").write_bytes(b"")
        (root / "work" / "state.sqlite-wal").write_bytes(b"")
        os.chmod(root / "outbox", 0o775)
    if IS_ROOT:  # a folder owned by someone else (a share) is left alone
        (root / "failed").mkdir(mode=0o755)
        os.chown(root / "failed", 65534, -1)
    assert filemodes.prepare_folders(folders, root, None) == []
    assert mode(root / "outbox") == 0o775  # existing outbox: set up by the practice's IT
    assert mode(root / "inbox") == 0o700
    assert mode(root / "archive") == 0o700  # created
    assert mode(root / "work") == 0o700 and mode(root / "work" / "signed") == 0o700
    assert mode(root / "work" / "state.sqlite") == 0o600
    assert mode(root / "work" / "state.sqlite-wal") == 0o600
    if IS_ROOT:
        assert mode(root / "failed") == 0o755


def test_atomic_writer_and_move_follow_the_policy(tmp_path: Path) -> None:
    from econnector import fsio

    root = tmp_path / "r"
    folders = Folders(outbox=root / "outbox", inbox=root / "inbox", archive=root / "archive",
                      failed=root / "failed", work=root / "work", root=root)
    gid = os.getegid()
    assert filemodes.prepare_folders(folders, root, gid) == []
    filemodes.set_policy(filemodes.policy_for(folders, gid))
    try:
        with umask(0o000):
            fsio.write_text(folders.inbox / "a.txt", "x")
            fsio.write_text(folders.work / "b.json", "x")
            src = folders.outbox / "c.pdf"
            src.write_bytes(b"%PDF-")
            os.chmod(src, 0o666)
            fsio.move(src, folders.archive / "2026" / "05" / "c.pdf")
            # a folder deleted while running is recreated with its mode (storage probe)
            os.rmdir(folders.failed)
            filemodes.ensure_dir(folders.failed)
            filemodes.ensure_dir(folders.work / "signed")
            filemodes.ensure_dir(folders.outbox / "sub")  # not managed: plain mkdir
    finally:
        filemodes.set_policy(None)
    assert mode(folders.inbox / "a.txt") == 0o640
    assert mode(folders.work / "b.json") == 0o600
    assert mode(folders.archive / "2026") == filemodes.GROUP_DIR
    assert mode(folders.archive / "2026" / "05") == filemodes.GROUP_DIR
    assert mode(folders.archive / "2026" / "05" / "c.pdf") == 0o640
    assert mode(folders.failed) == filemodes.GROUP_DIR
    assert mode(folders.work / "signed") == 0o700
    assert mode(folders.outbox / "sub") & 0o777 == 0o777  # the umask (0 here) decides


def test_check_config_refuses_an_unknown_group(tmp_path: Path) -> None:
    from econnector import config

    ident = make_identity(tmp_path / "id")
    cfg_path = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                            folders={"group": f"no-such-group-{uuid.uuid4().hex[:6]}"})
    problems = config.check_usable(config.load(cfg_path))
    assert problems and "no such group" in problems[0]


def _runuser(user: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return _run("runuser", "-u", user, "--", *cmd)


@pytest.mark.e2e
def test_practice_user_reads_its_receipts_and_nobody_else_does() -> None:
    need_root("the practice-user test")
    if shutil.which("runuser") is None:
        if os.environ.get("CI"):
            pytest.fail("runuser (util-linux) is required in CI")
        pytest.skip("runuser is not installed")
    # pytest's tmp_path is under a 0700 folder: other users need a path they can traverse.
    base = Path(tempfile.mkdtemp(prefix="ec-modes-", dir="/tmp"))
    os.chmod(base, 0o711)
    try:
        with os_group() as (gname, _gid), os_user(gname) as practice, os_user() as stranger:
            ident = make_identity(base / "id")
            cfg = write_config(base / "practice", [(PROVIDER, ident)], signing={"workers": 1},
                               folders={"group": gname})
            stage = base / "stage"
            stage.mkdir(mode=0o755)
            os.chmod(stage, 0o755)
            (stage / "doc.pdf").write_bytes(unsigned_pdf("practice user"))
            (stage / "doc.yaml").write_text(yaml.safe_dump(sidecar("PRACTICE-1")))
            for p in stage.iterdir():
                os.chmod(p, 0o644)
            with running_daemon(cfg) as d:
                # the practice user drops a document itself, as its software would
                o = d.outbox
                script = (f"cp {stage}/doc.pdf {o}/doc.pdf.part && mv {o}/doc.pdf.part {o}/doc.pdf"
                          f" && cp {stage}/doc.yaml {o}/doc.yaml.part"
                          f" && mv {o}/doc.yaml.part {o}/doc.yaml")
                r = _runuser(practice, "sh", "-c", script)
                assert r.returncode == 0, r.stderr
                assert d.wait_outcome("doc")["state"] == "delivered"
                db = d.root / "work" / "state.sqlite"
                r = _runuser(practice, "cat", str(d.inbox / "doc.receipt.json"))
                assert r.returncode == 0, r.stderr
                assert "PRACTICE-1" in r.stdout
                for name in ("doc.signed.pdf", "doc.status.json", "doc.receipt.txt"):
                    r = _runuser(practice, "cat", str(d.inbox / name))
                    assert r.returncode == 0, (name, r.stderr)
                archived = [p for p in d.archive.rglob("*") if p.is_file()]
                assert len(archived) == 3, archived  # pdf, sidecar, signed pdf
                for p in archived:
                    r = _runuser(practice, "cat", str(p))
                    assert r.returncode == 0, (p, r.stderr)
                assert _runuser(practice, "ls", str(d.inbox)).returncode == 0
                # the state database is the service's alone
                assert _runuser(practice, "cat", str(db)).returncode != 0
                assert _runuser(practice, "ls", str(d.root / "work")).returncode != 0
                # a user outside the group reads nothing
                for p in (db, d.inbox / "doc.receipt.json", d.inbox / "doc.signed.pdf",
                          archived[0]):
                    r = _runuser(stranger, "cat", str(p))
                    assert r.returncode != 0, p
                assert _runuser(stranger, "ls", str(d.inbox)).returncode != 0
                assert _runuser(stranger, "touch", str(d.outbox / "x.pdf")).returncode != 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
