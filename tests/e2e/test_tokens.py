"""PKCS#11 identities (issue 11, point 3) through the real daemon and a real SoftHSM2
token: a PIN from a file signs end to end; a token that is not there holds the
doctor's documents (``token-absent``, never rejected) until it is plugged in."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    assert_pdfsig_last_valid,
    drop,
    econnector_cmd,
    pyhanko_status,
    running_daemon,
    sidecar,
    wait_for,
)
from econnector_testsupport.softhsm import SoftHsm, token_config
from econnector_testsupport.vault import subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e


def pin_file(folder: Path, pin: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "token.pin"
    p.write_text(pin + "\n")
    p.chmod(0o600)
    return p


def held_for(d: Daemon, stem: str, reason: str) -> dict[str, Any]:
    return wait_for(lambda: (s := d.status(stem)) and s["state"] == "held"
                    and s["reason"] == reason and s, 30, f"{stem} held {reason}",
                    on_fail=lambda: f"status={d.status(stem)}\n{d.log()}")


def test_pin_from_a_file_signs_end_to_end(tmp_path: Path, softhsm: SoftHsm) -> None:
    token = softhsm.token(f"file-{secrets.token_hex(3)}", PROVIDER)
    cfg = token_config(tmp_path / "practice", token, unlock="file",
                       passphrase_file=str(pin_file(tmp_path / "secrets", token.pin)))
    check = subprocess.run(econnector_cmd("check-config", "-c", str(cfg), "--offline"),
                           capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"identity {PROVIDER}" in check.stdout and "unlocked" in check.stdout, check.stdout
    with running_daemon(cfg) as d:
        drop(d.outbox, "tok-1", unsigned_pdf("token 1"), sidecar("TOKEN-1"))
        assert d.wait_outcome("tok-1", 60)["state"] == "delivered"
        signed = d.inbox / "tok-1.signed.pdf"
        assert_pdfsig_last_valid(signed)
        status, _ = pyhanko_status(signed, token.identity.ca_cert)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        receipt = d.receipt("tok-1")
        assert receipt is not None
        assert receipt["signature"]["signer_subject"].startswith("serialNumber=TEST-EHEALTH-")


def test_absent_token_holds_until_it_is_plugged_in(tmp_path: Path, softhsm: SoftHsm) -> None:
    label = f"later-{secrets.token_hex(3)}"
    pin = secrets.token_urlsafe(12)
    cfg = token_config(tmp_path / "practice", softhsm.planned(label, PROVIDER, pin), unlock="file",
                       passphrase_file=str(pin_file(tmp_path / "secrets", pin)))
    with running_daemon(cfg) as d:
        drop(d.outbox, "tok-2", unsigned_pdf("token 2"), sidecar("TOKEN-2", language="en"))
        status = held_for(d, "tok-2", "token-absent")
        assert "not connected" in status["message"], status
        ident = d.health()["identities"][PROVIDER]
        assert ident["reason"] == "token-absent" and ident["must_act"] == "doctor", ident
        # Plugged in: found at the next rescan, and the document goes on.
        softhsm.token(label, PROVIDER, pin=pin)
        assert d.wait_outcome("tok-2", 60)["state"] == "delivered"
        assert_pdfsig_last_valid(d.inbox / "tok-2.signed.pdf")
        assert d.error("tok-2") is None


def test_pulled_token_holds_and_a_manual_identity_signs_again_when_back(
        tmp_path: Path, softhsm: SoftHsm) -> None:
    """Unplugged while the daemon runs: the doctor's documents wait ``token-absent``
    (not failed); plugged back in, the PIN the daemon holds opens it again."""
    token = softhsm.token(f"pulled-{secrets.token_hex(3)}", PROVIDER)
    cfg = token_config(tmp_path / "practice", token, unlock="manual")
    with running_daemon(cfg) as d:
        r = subprocess.run(econnector_cmd("unlock", PROVIDER, "-c", str(cfg), "--lang", "en"),
                           input=token.pin + "\n", capture_output=True, text=True,
                           env=subprocess_env(), timeout=120)
        assert r.returncode == 0, (r, d.log())
        drop(d.outbox, "tok-3", unsigned_pdf("token 3"), sidecar("TOKEN-3"))
        assert d.wait_outcome("tok-3", 60)["state"] == "delivered"
        token.delete()
        drop(d.outbox, "tok-4", unsigned_pdf("token 4"), sidecar("TOKEN-4"))
        held_for(d, "tok-4", "token-absent")
        assert d.error("tok-4") is None
        # The same card back (same key, certificate and PIN).
        softhsm.token(token.label, PROVIDER, pin=token.pin, identity=token.identity)
        assert d.wait_outcome("tok-4", 60)["state"] == "delivered"
        wait_for(lambda: d.health()["identities"][PROVIDER]["state"] == "unlocked", 10,
                 "unlocked again")
