"""A downgrade is refused (issue 13, upgrades): ``econnector run`` meeting a state
store written by a newer release says so in one line (store-too-new: the file, its
version, the highest this release knows, what to do) and exits with the
configuration's code 2, which systemd does not restart (RestartPreventExitStatus=2);
the file stays byte for byte as it was."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from econnector import statestore
from econnector.cli import EXIT_CONFIG
from econnector.statestore import Store
from econnector_testsupport.daemon import PROVIDER, econnector_cmd, make_identity, write_config
from econnector_testsupport.vault import subprocess_env

pytestmark = pytest.mark.e2e


def test_run_refuses_a_state_store_from_a_newer_release(tmp_path: Path) -> None:
    root = tmp_path / "practice"
    cfg = write_config(root, [(PROVIDER, make_identity(tmp_path / "id"))])
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    db = root / "work" / "state.sqlite"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {statestore.SCHEMA_VERSION + 1}")
    conn.close()
    data = db.read_bytes()

    for command in ("run", "status"):
        done = subprocess.run(econnector_cmd(command, "-c", str(cfg)), capture_output=True,
                              text=True, timeout=60, env=subprocess_env())
        assert done.returncode == EXIT_CONFIG, (command, done.stderr)
        assert "Traceback" not in done.stderr
        line = next(x for x in done.stderr.splitlines() if "store-too-new" in x)
        assert line.startswith("econnector: store-too-new: ")
        assert str(db) in line
        assert f"version {statestore.SCHEMA_VERSION + 1}" in line
        assert f"up to {statestore.SCHEMA_VERSION}" in line
        assert "backup" in line
    assert db.read_bytes() == data
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith("state")) == [
        "state.sqlite"]  # not set aside as damaged, no database rebuilt beside it
