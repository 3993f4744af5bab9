"""The doctor's unlock (issue 11, point 4), end to end: a real SoftHSM2 token, the real
daemon, the real ``econnector unlock`` and ``lock`` commands over the real control
socket; and the PIN nowhere on disk, in a log or in the process table."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    assert_pdfsig_last_valid,
    drop,
    econnector_cmd,
    running_daemon,
    sidecar,
    wait_for,
)
from econnector_testsupport.softhsm import SoftHsm, SoftToken, token_config
from econnector_testsupport.vault import subprocess_env, unsigned_pdf

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="Unix socket and /proc: Linux")]


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real CLI, the PIN (if any) on its standard input, never in its arguments."""
    return subprocess.run(econnector_cmd(*args), input=stdin, capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)


def held_for(d: Daemon, stem: str, reason: str) -> dict[str, Any]:
    return wait_for(lambda: (s := d.status(stem)) and s["state"] == "held"
                    and s["reason"] == reason and s, 30, f"{stem} held {reason}",
                    on_fail=lambda: f"status={d.status(stem)}\n{d.log()}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the signing workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(text.rsplit(")", 1)[1].split()[1])
    tree, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        tree += kids
        todo += kids
    return tree


def places_holding(needle: bytes, root: Path, pids: list[int]) -> list[str]:
    """Every file under ``root`` and every process's argv (and the daemon's and its
    workers' environments) that contains ``needle``."""
    found = [str(p) for p in root.rglob("*")
             if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        names = ["cmdline"] + (["environ"] if int(entry) in pids else [])
        for name in names:
            try:
                data = Path(f"/proc/{entry}/{name}").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if needle in data:
                found.append(f"/proc/{entry}/{name}")
    return found


@pytest.fixture
def token(softhsm: SoftHsm) -> SoftToken:
    return softhsm.token(f"unlock-{secrets.token_hex(3)}", PROVIDER)


@pytest.fixture
def practice(tmp_path: Path, token: SoftToken) -> Iterator[tuple[Daemon, Path]]:
    cfg = token_config(tmp_path / "practice", token, unlock="manual")
    with running_daemon(cfg) as d:
        yield d, cfg


def test_manual_token_waits_for_the_doctor_then_signs(
        practice: tuple[Daemon, Path], token: SoftToken) -> None:
    d, cfg = practice
    pin = token.pin
    wrong = "W" + secrets.token_urlsafe(10)

    # Locked from the start: the document waits, and its status says who must act.
    drop(d.outbox, "doc-1", unsigned_pdf("unlock 1"), sidecar("UNLOCK-1", language="en"))
    status = held_for(d, "doc-1", "identity-locked")
    assert "econnector unlock" in status["message"], status
    ident = wait_for(lambda: d.health().get("identities", {}).get(PROVIDER), 10, "health")
    assert ident["state"] == "locked" and ident["reason"] == "identity-locked", ident
    assert ident["must_act"] == "doctor" and ident["command"] == f"econnector unlock {PROVIDER}"

    # The control socket is only for the service's user and group.
    sock = d.root / "work" / "run" / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o750

    # A wrong PIN: a clear answer, exit 1, still locked.
    r = cli("unlock", PROVIDER, "-c", str(cfg), "--lang", "en", stdin=wrong + "\n")
    assert r.returncode == 1, r
    assert r.stdout.startswith("Wrong PIN"), r.stdout
    assert f"{PROVIDER} stays locked" in r.stdout
    assert d.status("doc-1")["state"] == "held"  # type: ignore[index]
    r = cli("unlock", PROVIDER, "-c", str(cfg), "--lang", "fr", stdin=wrong + "\n")
    assert r.returncode == 1 and r.stdout.startswith("Code PIN erroné"), r

    # The right PIN: unlocked, and the waiting document goes on to delivery.
    r = cli("unlock", PROVIDER, "-c", str(cfg), "--lang", "en", stdin=pin + "\n")
    assert r.returncode == 0, (r, d.log())
    assert r.stdout.startswith("Unlocked"), r.stdout
    assert pin not in r.stdout + r.stderr
    assert d.wait_outcome("doc-1", 90)["state"] == "delivered"
    assert_pdfsig_last_valid(d.inbox / "doc-1.signed.pdf")
    ident = wait_for(lambda: d.health()["identities"][PROVIDER]["state"] == "unlocked"
                     and d.health()["identities"][PROVIDER], 10, "health unlocked")
    assert ident["must_act"] is None

    # Nothing holds the PIN: no file under the practice (logs, status files, receipts,
    # work/, the database), no argv on this machine, no environment of ours.
    assert d.proc is not None
    pids = process_tree(d.proc.pid)
    assert len(pids) >= 2, "the signing workers"
    for needle in (pin, wrong):
        assert places_holding(needle.encode(), d.root, pids) == [], needle
    assert b"unlock-request" in (d.root / "econnector.log").read_bytes()

    # Locked again by the doctor: the next document waits.
    r = cli("lock", PROVIDER, "-c", str(cfg), "--lang", "en")
    assert r.returncode == 0 and r.stdout.startswith("Locked"), r
    drop(d.outbox, "doc-2", unsigned_pdf("unlock 2"), sidecar("UNLOCK-2"))
    held_for(d, "doc-2", "identity-locked")
    assert places_holding(pin.encode(), d.root, process_tree(d.proc.pid)) == []


def test_unlock_without_a_daemon_says_so(tmp_path: Path, token: SoftToken) -> None:
    cfg = token_config(tmp_path / "practice", token, unlock="manual")
    r = cli("unlock", PROVIDER, "-c", str(cfg), "--lang", "en", stdin="1234\n")
    assert r.returncode == 2, r
    assert "econnector is not running" in r.stderr, r.stderr
    r = cli("unlock", "90000001", "-c", str(cfg), "--lang", "en", stdin="1234\n")
    assert r.returncode == 1 and "No identity 90000001" in r.stdout, r
    # check-config: locked until the doctor unlocks is how it should be, not a problem;
    # the certificate is read from the card without the PIN.
    r = cli("check-config", "-c", str(cfg), "--offline")
    assert r.returncode == 0, r.stderr
    assert f"locked until the doctor runs: econnector unlock {PROVIDER}" in r.stdout, r.stdout
    assert "TEST-EHEALTH" in r.stdout, r.stdout
