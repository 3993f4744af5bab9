"""Waiting, retrying and resuming: a vault that is not there yet, a daemon killed
mid-way, a signing key that is locked until the doctor provides the passphrase."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import free_port, running_vault, subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e


def test_vault_down_then_up_delivers_without_restart(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    port = free_port()
    token = "resume-token-0123456789"
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url=f"http://127.0.0.1:{port}", token=token)
    with running_daemon(cfg) as d:
        drop(d.outbox, "early", unsigned_pdf("early"), sidecar("RES-1"))
        st = wait_for(lambda: (s := d.status("early")) and s["state"] == "waiting-retry"
                      and s["attempts"] >= 2 and s, 30, "waiting-retry with attempts")
        assert st["reason"] == "vault-unavailable"
        assert st["next_attempt_at"].endswith("Z")
        assert (d.outbox / "early.pdf").exists()  # the original stays until delivered
        signed_work = list((d.root / "work" / "signed").glob("*.pdf"))
        assert len(signed_work) == 1  # signed once, before the first attempt
        signed_bytes = signed_work[0].read_bytes()
        # the vault comes up on the configured port
        with running_vault(tmp_path / "vault", token=token, port=port) as vp:
            st = d.wait_outcome("early", timeout=30)
            assert st["state"] == "delivered"
            receipt = d.receipt("early")
            assert receipt is not None
            stored = list(vp.data_dir.rglob(f"{receipt['vault_document_id']}.pdf"))
            assert stored[0].read_bytes() == signed_bytes  # the same bytes every retry


def test_killed_daemon_resumes_and_sends_once(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    port = free_port()
    token = "resume-token-0123456789"
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url=f"http://127.0.0.1:{port}", token=token)
    root = tmp_path / "practice"
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    for i in range(5):
        drop(root / "outbox", f"k{i}", unsigned_pdf(f"k{i}"), sidecar(f"KILL-{i}"))
    # first life: the vault is down, documents get signed and wait; then SIGKILL
    proc = subprocess.Popen(econnector_cmd("run", "-c", str(cfg)), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(
            (s := _status(root, f"k{i}")) and s["state"] == "waiting-retry" for i in range(5)),
            30, "all five waiting for the vault")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with running_vault(tmp_path / "vault", token=token, port=port) as vp, \
            running_daemon(cfg) as d:
        for i in range(5):
            assert d.wait_outcome(f"k{i}", timeout=30)["state"] == "delivered"
        stored = list((vp.data_dir / "documents").rglob("*.pdf"))
        assert len(stored) == 5
        assert sorted(p.name for p in d.archived() if p.name.endswith(".yaml")) == [
            f"k{i}.yaml" for i in range(5)]


def _status(root: Path, stem: str) -> dict | None:  # type: ignore[type-arg]
    try:
        return json.loads((root / "inbox" / f"{stem}.status.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_locked_identity_holds_until_the_passphrase_arrives(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    secret = ident.passphrase_file.read_bytes()
    ident.passphrase_file.unlink()  # the doctor has not unlocked the key yet
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg) as d:
        drop(d.outbox, "held", unsigned_pdf("held"), sidecar("HELD-1"))
        drop(d.outbox, "gone", unsigned_pdf("gone"), sidecar("HELD-2"))
        st = wait_for(lambda: (s := d.status("held")) and s["state"] == "held" and s, 20,
                      "a held status")
        wait_for(lambda: (s := d.status("gone")) and s["state"] == "held", 20, "held")
        # the vendor withdraws one of them while it waits
        (d.outbox / "gone.pdf").unlink()
        assert st["reason"] == "identity-locked"
        assert PROVIDER in st["message"]
        time.sleep(0.5)
        assert (d.outbox / "held.pdf").exists()
        ident.passphrase_file.write_bytes(secret)  # unlocked: picked up at the next rescan
        assert d.wait_outcome("held", timeout=30)["state"] == "delivered"
        st = d.wait_outcome("gone", timeout=30)
        assert st["state"] == "rejected" and st["reason"] == "drop-withdrawn"
        err = d.error("gone")
        assert err is not None and "gone.pdf" in err["message"]
        assert (d.failed / "gone.yaml").exists()  # what was left is kept
