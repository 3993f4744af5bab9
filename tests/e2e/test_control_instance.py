"""``econnector unlock/lock -c /etc/econnector/<instance>.yaml`` finds the daemon of the
template unit ``econnector@<instance>.service`` (issue 13, point 2.2), whose socket is in
``/run/econnector/<instance>/`` (``RuntimeDirectory=econnector/%i``), without being told
``RUNTIME_DIRECTORY``: through the record the daemon writes in ``work/control.json``, and
through the config's name; never another practice's socket. Real daemon, real sockets."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector import config, control
from econnector_testsupport.configs import MINIMAL
from econnector_testsupport.daemon import PROVIDER, econnector_cmd, running_daemon
from econnector_testsupport.softhsm import SoftHsm, SoftToken, token_config
from econnector_testsupport.vault import subprocess_env

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Unix sockets")]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder standing for /run (a socket's path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ec-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI as the admin runs it: no RUNTIME_DIRECTORY in its environment."""
    env = {k: v for k, v in subprocess_env().items() if k != "RUNTIME_DIRECTORY"}
    return subprocess.run(econnector_cmd(*args), capture_output=True, text=True, env=env,
                          timeout=60)


def test_lock_finds_the_socket_the_template_instance_recorded(
        tmp_path: Path, softhsm: SoftHsm, short_dir: Path) -> None:
    token: SoftToken = softhsm.token(f"inst-{secrets.token_hex(3)}", PROVIDER)
    cfg = token_config(tmp_path / "practice1", token, unlock="manual")
    doc = yaml.safe_load(cfg.read_text())
    doc["signing"] = {"workers": 1}  # the stop waits for the workers to have started
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    rundir = short_dir / "econnector" / "practice1"  # what systemd makes for %i
    rundir.mkdir(parents=True)
    with running_daemon(cfg, env={"RUNTIME_DIRECTORY": str(rundir)}) as d:
        work = d.root / "work"
        sock = rundir / "control.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert not (work / "run" / "control.sock").exists()
        record = json.loads((work / "control.json").read_text())
        assert d.proc is not None
        assert record["socket"] == str(sock) and record["pid"] == d.proc.pid
        r = cli("lock", "-c", str(cfg), "--lang", "en")
        assert r.returncode == 0, (r, d.log())
        assert r.stdout.startswith(f"Locked: {PROVIDER}"), r.stdout
    # Stopped: the record is gone with the socket, and the CLI says nobody listens.
    assert not (work / "control.json").exists()
    r = cli("lock", "-c", str(cfg), "--lang", "en")
    assert r.returncode == 2 and "not running" in r.stderr, r


class Practice:
    """The daemon's side of the channel, as the pipeline answers (one per practice)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def unlock_manual(self, pc: str, pin: bytes) -> dict[str, Any]:
        return {"result": "unlocked"}

    async def lock_manual(self, pc: str | None) -> dict[str, Any]:
        return {"result": "locked", "providers": [self.name]}

    def identities_state(self) -> dict[str, dict[str, Any]]:
        return {self.name: {"state": "locked"}}


def test_the_config_name_leads_to_its_instance_socket_never_another(
        tmp_path: Path, short_dir: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    path = etc / "practice1.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "folders": {"root": str(tmp_path / "p1")}}))
    cfg = config.load(path)
    assert control.instance_of(path, etc) == "practice1"
    assert control.unit_socket(path, short_dir, etc) == short_dir / "practice1" / "control.sock"
    assert control.unit_socket(etc / "econnector.yaml", short_dir, etc) \
        == short_dir / "control.sock"
    assert control.instance_of(tmp_path / "practice1.yaml", etc) is None  # not in /etc/...
    # A record left by a crash, naming a socket that is gone: looked past.
    cfg.folders.work.mkdir(parents=True)
    (cfg.folders.work / control.RECORD_NAME).write_text(json.dumps(
        {"schema": control.RECORD_SCHEMA, "socket": str(short_dir / "gone.sock")}))

    def ask() -> dict[str, Any]:
        return control.request(cfg, {"op": "status"}, 5, {}, short_dir, etc)

    async def main() -> tuple[str, dict[str, Any]]:
        others = [control.ControlServer(Practice("practice2"),
                                        short_dir / "practice2" / "control.sock"),
                  control.ControlServer(Practice("plain"), short_dir / "control.sock")]
        for s in others:
            await s.start()
        try:
            with pytest.raises(control.NoDaemon) as e:
                await asyncio.to_thread(ask)
            mine = control.ControlServer(Practice("practice1"),
                                         short_dir / "practice1" / "control.sock")
            await mine.start()
            try:
                return e.value.path, await asyncio.to_thread(ask)
            finally:
                await mine.close()
        finally:
            for s in others:
                await s.close()

    missing, answer = asyncio.run(main())
    assert missing == str(cfg.folders.work / "run" / "control.sock")
    assert answer == {"result": "status", "identities": {"practice1": {"state": "locked"}}}
