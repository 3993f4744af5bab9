"""One daemon per set of folders (issue 9, point 8): a second ``econnector run`` on the same
folders exits at once with one line and exit code 2; the first keeps delivering, and the lock
dies with its holder (even by SIGKILL), so a restart after a crash is never blocked."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.vault import subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e


def test_a_second_daemon_on_the_same_folders_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, make_identity(tmp_path / "id"))])
    with running_daemon(cfg) as d:
        second = subprocess.run(econnector_cmd("run", "-c", str(cfg)), capture_output=True,
                                env=subprocess_env(), timeout=60)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "already running" in lines[0], lines
        assert f"pid {d.proc.pid}" in lines[0]  # type: ignore[union-attr]
        drop(d.outbox, "one", unsigned_pdf("one"), sidecar("ONE-1"))
        assert d.wait_outcome("one")["state"] == "delivered"
        d.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        d.proc.wait()  # type: ignore[union-attr]
    # the lock went with the killed process: a restart runs
    with running_daemon(cfg) as d:
        drop(d.outbox, "two", unsigned_pdf("two"), sidecar("TWO-1"))
        assert d.wait_outcome("two")["state"] == "delivered"
