"""``econnector assistant add | list | revoke`` as the practice runs them (issue 12, point
3): real processes, the doctor's passphrase or PIN on standard input (never in argv),
grants signed with the real PKCS#12 key and with the key on a real SoftHSM2 token,
and what the daemon's check (:meth:`Grants.check`) makes of what the CLI recorded."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from econnector import testid
from econnector.assistants import DB_NAME, Grants
from econnector_testsupport.daemon import PROVIDER, econnector_cmd, write_config
from econnector_testsupport.softhsm import SoftHsm, token_config
from econnector_testsupport.vault import subprocess_env


def cli(cfg: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(econnector_cmd("assistant", *args, "-c", str(cfg)), input=stdin,
                          capture_output=True, text=True, env=subprocess_env(), timeout=120)


def listed(cfg: Path) -> list[dict[str, Any]]:
    r = cli(cfg, "list", "--json")
    assert r.returncode == 0, r
    items: list[dict[str, Any]] = json.loads(r.stdout)["assistants"]
    return items


def cert_sha256(ti: testid.TestIdentity) -> str:
    _, cert, _ = pkcs12.load_key_and_certificates(
        ti.pkcs12.read_bytes(), ti.passphrase_file.read_bytes().rstrip(b"\n"))
    assert cert is not None
    return cert.fingerprint(hashes.SHA256()).hex()


def daemon_check(root: Path, login: str, cert: str) -> str:
    """What the daemon's check says of ``login`` now (``ok`` or the reason)."""
    grants = Grants(root / "work" / DB_NAME)
    try:
        v = grants.check(PROVIDER, login, doctor_login=None, doctor_cert_sha256=cert,
                         now=dt.datetime.now(dt.UTC))
    finally:
        grants.close()
    return "ok" if v.ok else str(v.reason)


def test_add_list_revoke_with_the_doctors_passphrase(
        tmp_path: Path, identity: testid.TestIdentity) -> None:
    root = tmp_path / "practice"
    cfg = write_config(root, [(PROVIDER, identity)])
    passphrase = identity.passphrase_file.read_text().strip()
    cert = cert_sha256(identity)
    add = ("add", "--provider", PROVIDER, "--login", "anna", "--name", "Anna Weber")

    # A wrong passphrase: a clear answer in the asked language, exit 1, nothing recorded.
    r = cli(cfg, *add, "--lang", "en", stdin="not-the-passphrase\n")
    assert r.returncode == 1 and r.stdout.startswith("Wrong passphrase"), r
    r = cli(cfg, *add, "--lang", "de", stdin="not-the-passphrase\n")
    assert r.returncode == 1 and r.stdout.startswith("Falsche Passphrase"), r
    r = cli(cfg, *add, "--lang", "fr", stdin="\n")
    assert r.returncode == 1 and r.stdout.startswith("Rien n'a été saisi"), r
    assert listed(cfg) == []

    # The doctor types the passphrase (even though this identity unlocks from a file).
    r = cli(cfg, *add, "--lang", "en", stdin=passphrase + "\n")
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"Recorded: anna (Anna Weber) may send the documents of "
                               f"{PROVIDER}"), r.stdout
    assert passphrase not in r.stdout + r.stderr
    [anna] = listed(cfg)
    assert anna["login"] == "anna" and anna["name"] == "Anna Weber"
    assert anna["signature"] == "valid" and anna["revoked_at"] is None
    assert anna["doctor_cert_sha256"] == cert
    assert daemon_check(root, "anna", cert) == "ok"
    assert daemon_check(root, "bob", cert) == "unknown-assistant"

    # Registered once: a second add is refused before the doctor types anything.
    r = cli(cfg, *add, "--lang", "en")
    assert r.returncode == 1 and "is already an assistant" in r.stdout, r
    r = cli(cfg, "add", "--provider", "90999900", "--login", "anna", "--name", "A",
            "--lang", "en")
    assert r.returncode == 1 and r.stdout.startswith("No identity 90999900"), r
    r = cli(cfg, "add", "--provider", PROVIDER, "--login", "anna weber", "--name", "A",
            "--lang", "en")
    assert r.returncode == 1 and "cannot be used" in r.stdout, r

    # A second assistant, then her grant edited in the store: INVALID in the list,
    # refused by the daemon's check.
    r = cli(cfg, "add", "--provider", PROVIDER, "--login", "bob", "--name", "Bob Muller",
            "--lang", "en", stdin=passphrase + "\n")
    assert r.returncode == 0, r
    conn = sqlite3.connect(root / "work" / DB_NAME)
    with conn:
        conn.execute("UPDATE grants SET grant_json = replace(grant_json, 'Bob Muller', "
                     "'Bob Mueller'), name = 'Bob Mueller' WHERE login = 'bob'")
    conn.close()
    states = {it["login"]: it["signature"] for it in listed(cfg)}
    assert states == {"anna": "valid", "bob": "invalid"}
    assert daemon_check(root, "bob", cert) == "grant-invalid"
    r = cli(cfg, "list", "--lang", "en")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Login", "Name", "Doctor", "Since", "Revoked", "Signature"]
    assert lines[2].startswith("bob") and lines[2].rstrip().endswith("INVALID"), r.stdout
    assert lines[3].startswith("INVALID: the grant was changed"), r.stdout

    # Revoking needs the doctor too: wrong passphrase refused, then revoked.
    revoke = ("revoke", "--provider", PROVIDER, "--login", "anna", "--lang", "en")
    r = cli(cfg, *revoke, stdin="wrong\n")
    assert r.returncode == 1 and r.stdout.startswith("Wrong passphrase"), r
    assert daemon_check(root, "anna", cert) == "ok"
    r = cli(cfg, *revoke, stdin=passphrase + "\n")
    assert r.returncode == 0 and r.stdout.startswith("Revoked: anna (Anna Weber)"), r
    anna = next(it for it in listed(cfg) if it["login"] == "anna")
    assert anna["revoked_at"] is not None and anna["revocation_signature"] == "valid"
    assert daemon_check(root, "anna", cert) == "revoked"
    r = cli(cfg, *revoke, stdin=passphrase + "\n")
    assert r.returncode == 1 and r.stdout.startswith("anna is not an assistant"), r
    r = cli(cfg, "list", "--provider", PROVIDER, "--lang", "fr")
    assert r.returncode == 0 and r.stdout.startswith("Identifiant"), r


def test_a_doctor_on_a_token_signs_with_the_pin(tmp_path: Path, softhsm: SoftHsm) -> None:
    token = softhsm.token(f"assist-{secrets.token_hex(3)}", PROVIDER)
    root = tmp_path / "practice"
    cfg = token_config(root, token, unlock="manual")
    cert = cert_sha256(token.identity)
    add = ("add", "--provider", PROVIDER, "--login", "anna", "--name", "Anna Weber",
           "--lang", "en")

    r = cli(cfg, *add, stdin="W" + secrets.token_urlsafe(10) + "\n")
    assert r.returncode == 1 and r.stdout.startswith("Wrong PIN: nothing was signed"), r
    assert listed(cfg) == []
    r = cli(cfg, *add, stdin=token.pin + "\n")
    assert r.returncode == 0 and r.stdout.startswith("Recorded: anna"), r
    assert token.pin not in r.stdout + r.stderr
    [anna] = listed(cfg)  # the token's certificate is read without the PIN: compared
    assert anna["signature"] == "valid" and anna["doctor_cert_sha256"] == cert
    assert daemon_check(root, "anna", cert) == "ok"
    r = cli(cfg, "revoke", "--provider", PROVIDER, "--login", "anna", "--lang", "en",
            stdin=token.pin + "\n")
    assert r.returncode == 0 and r.stdout.startswith("Revoked: anna"), r
    assert daemon_check(root, "anna", cert) == "revoked"
    assert listed(cfg)[0]["revocation_signature"] == "valid"


def test_a_grant_signed_before_the_certificate_was_renewed_is_listed_as_such(
        tmp_path: Path, identity: testid.TestIdentity) -> None:
    root = tmp_path / "practice"
    cfg = write_config(root, [(PROVIDER, identity)])
    r = cli(cfg, "add", "--provider", PROVIDER, "--login", "anna", "--name", "Anna Weber",
            stdin=identity.passphrase_file.read_text().strip() + "\n")
    assert r.returncode == 0, r
    renewed = testid.make_identity(tmp_path / "renewed", PROVIDER)
    cfg = write_config(root, [(PROVIDER, renewed)])
    [anna] = listed(cfg)
    assert anna["signature"] == "other-cert"
    assert daemon_check(root, "anna", cert_sha256(renewed)) == "grant-invalid"
    r = cli(cfg, "list", "--lang", "de")
    assert r.returncode == 0 and "anderes Zertifikat" in r.stdout, r
    # The doctor registers her again with the renewed key: revoke, then add.
    new_pass = renewed.passphrase_file.read_text().strip() + "\n"
    r = cli(cfg, "revoke", "--provider", PROVIDER, "--login", "anna", stdin=new_pass)
    assert r.returncode == 0, r
    r = cli(cfg, "add", "--provider", PROVIDER, "--login", "anna", "--name", "Anna Weber",
            stdin=new_pass)
    assert r.returncode == 0, r
    old, new = listed(cfg)
    assert old["revoked_at"] is not None and old["revocation_signature"] == "valid"
    assert new["signature"] == "valid" and new["revoked_at"] is None
    assert daemon_check(root, "anna", cert_sha256(renewed)) == "ok"
