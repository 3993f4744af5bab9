"""Command-line rough edges (issue 9, points 10, 11, 13): demo-drop refuses a production
config, Ctrl-C prints no tracebacks, ``status`` survives a closed pipe and says whether
the daemon runs and what waits, the default config path, RFC 4514 signer names."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from daemonutil import (
    PROVIDER,
    SECOND_PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector import testid
from econnector.store import Store
from vaultutil import subprocess_env, unsigned_pdf

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(econnector_cmd(*args), capture_output=True, text=True,
                          env={**subprocess_env(), **(env or {})}, timeout=120)


def real_doctor_identity(folder: Path) -> testid.TestIdentity:
    """A PKCS#12 that is not a TEST identity (no TEST in its name, no TEST serial)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr Anne Muller"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, "LU-EHEALTH-90812100")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=300)).sign(key, hashes.SHA256()))
    p12 = folder / "real.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"real", key, cert, None, serialization.BestAvailableEncryption(b"pass-word")))
    passphrase = folder / "real.passphrase"
    passphrase.write_text("pass-word\n")
    for p in (p12, passphrase):
        os.chmod(p, 0o600)
    return testid.TestIdentity(p12, passphrase, p12, "Dr Anne Muller")


# -- point 10: demo-drop ---------------------------------------------------------------------


def test_demo_drop_refuses_a_real_identity_with_a_real_vault(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "p", [(PROVIDER, real_doctor_identity(tmp_path / "id"))],
                       vault_url="https://vault.example.lu/", token="tok-0123456789")
    outbox = tmp_path / "p" / "outbox"
    r = cli("demo-drop", "-c", str(cfg))
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"econnector: demo-drop refuses this config: it would drop fake patients under "
        f"provider {PROVIDER} (Dr {PROVIDER}), not a TEST identity, into the vault "
        "https://vault.example.lu/; use the embedded default (make run, "
        "data/econnector.yaml) or a config with vault kind local")
    assert not outbox.exists() or not any(outbox.iterdir())


def test_demo_drop_allows_a_test_identity_or_the_local_vault(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a", [(PROVIDER, make_identity(tmp_path / "id"))],
                       vault_url="https://vault.example.lu/", token="tok-0123456789")
    r = cli("demo-drop", "-c", str(cfg), "--count", "1")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "a" / "outbox").glob("*.pdf"))) == 1
    cfg = write_config(tmp_path / "b", [(PROVIDER, real_doctor_identity(tmp_path / "real"))])
    r = cli("demo-drop", "-c", str(cfg), "--count", "1")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "b" / "outbox").glob("*.pdf"))) == 1


# -- point 11: the command line -------------------------------------------------------------


def test_without_c_the_config_is_looked_for_in_etc_econnector(tmp_path: Path) -> None:
    env = {k: v for k, v in subprocess_env().items() if k != "ECONNECTOR_CONFIG"}
    if Path("/etc/econnector/econnector.yaml").exists():
        pytest.fail("this test needs a machine without /etc/econnector/econnector.yaml")
    r = subprocess.run(econnector_cmd("check-config"), capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "econnector: config file not found: /etc/econnector/econnector.yaml")
    r = cli("check-config", env={"ECONNECTOR_CONFIG": str(tmp_path / "x.yaml")})
    assert r.stderr.strip() == f"econnector: config file not found: {tmp_path / 'x.yaml'}"


def test_status_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))])
    work = tmp_path / "p" / "work"
    work.mkdir(parents=True)
    store = Store(work / "state.sqlite")
    for n in range(30):
        store.create(f"doc-{n}", f"doc-{n}.pdf", f"doc-{n}.yaml", None, 1.7e9 + n)
    store.close()
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line (as `| head -3` ends)
    try:
        r = subprocess.run(econnector_cmd("status", "-c", str(cfg)), stdout=write,
                           stderr=subprocess.PIPE, text=True, env=subprocess_env(), timeout=60)
    finally:
        os.close(write)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    # and the real pipeline a person types
    r = subprocess.run(f"{' '.join(econnector_cmd('status', '-c', str(cfg)))} | head -3",
                       shell=True, capture_output=True, text=True, env=subprocess_env(),
                       timeout=60)
    assert len(r.stdout.splitlines()) == 3 and r.stderr == "", r.stderr


@pytest.mark.e2e
def test_ctrl_c_stops_the_daemon_without_tracebacks(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))],
                       signing={"workers": 2})
    out = tmp_path / "console.txt"
    with out.open("wb") as f:
        proc = subprocess.Popen(econnector_cmd("run", "-c", str(cfg)), stdout=f,
                                stderr=subprocess.STDOUT, env=subprocess_env(),
                                start_new_session=True)  # its own process group, as a shell's job
    try:
        wait_for(lambda: b"watching" in out.read_bytes() or proc.poll() is not None, 30,
                 "the daemon to start")
        outbox = tmp_path / "p" / "outbox"
        drop(outbox, "c1", unsigned_pdf("c1"), sidecar("CTRLC-1"))
        wait_for(lambda: (tmp_path / "p" / "inbox" / "c1.receipt.json").exists(), 30,
                 "a receipt (the workers are up)")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text


@pytest.mark.e2e
def test_status_says_what_runs_what_waits_and_why(tmp_path: Path) -> None:
    """And the receipt's signer_subject is an RFC 4514 name (point 13)."""
    good = make_identity(tmp_path / "id1")
    locked = make_identity(tmp_path / "id2", SECOND_PROVIDER)
    locked.passphrase_file.write_text("wrong\n")
    cfg = write_config(tmp_path / "p", [(PROVIDER, good), (SECOND_PROVIDER, locked)])
    with running_daemon(cfg) as d:
        drop(d.outbox, "ok", unsigned_pdf("ok"), sidecar("STATUS-1"))
        drop(d.outbox, "wait", unsigned_pdf("wait"), sidecar("STATUS-2", provider=SECOND_PROVIDER))
        assert d.wait_outcome("ok")["state"] == "delivered"
        wait_for(lambda: (s := d.status("wait")) and s["state"] == "held", 30, "held",
                 on_fail=d.log)
        r = cli("status", "-c", str(cfg))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"daemon: running (pid {d.proc.pid})"  # type: ignore[union-attr]
        assert any(SECOND_PROVIDER in line and "LOCKED" in line.upper() for line in lines), lines
        held = [line for line in lines if "wait" in line.split() and "held" in line.split()]
        assert held and "identity-locked" in held[0], lines
        j = json.loads(cli("status", "-c", str(cfg), "--json").stdout)
        assert j["daemon"]["running"] is True
        assert [w["file"] for w in j["waiting"]] == ["wait"]
        assert j["waiting"][0]["reason"] == "identity-locked"
        for doc in j["documents"]:
            assert ISO.match(doc["updated_at"]), doc
        subject = d.receipt("ok")["signature"]["signer_subject"]  # type: ignore[index]
    name = x509.Name.from_rfc4514_string(subject, {"serialNumber": NameOID.SERIAL_NUMBER})
    assert str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).startswith("TEST Dr ")
    assert "CN=TEST" in subject and "Common Name" not in subject
    r = cli("status", "-c", str(cfg))
    assert r.stdout.splitlines()[0] == "daemon: not running"
    assert json.loads(cli("status", "-c", str(cfg), "--json").stdout)["daemon"]["running"] is False


FAKE_PYTHON = """#!/bin/sh
# Stands in for python3 and pip (no network): "-m venv DIR" makes DIR/bin/python (this
# script) and DIR/bin/econnector; "pip install" takes 2 s, as a real one takes minutes.
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"; cp "$0" "$3/bin/python"
  printf '#!/bin/sh\\necho econnector "$@"\\n' > "$3/bin/econnector"; chmod +x "$3/bin/econnector"
  exit 0
fi
if [ "$3" = "install" ]; then sleep 2; echo "installed $5"; fi
"""


def test_a_second_make_waits_for_the_installation(tmp_path: Path) -> None:
    """`make demo-drop` while `make run` is still installing waits (and says so) instead of
    failing with `No module named pip`. The repository's Makefile, python stubbed."""
    from daemonutil import require_tool

    require_tool("make")
    require_tool("flock")
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "service").mkdir()
    (tmp_path / "Makefile").write_bytes((repo / "Makefile").read_bytes())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "service" / "install-deps.sh").write_text("exit 0\n")
    fake = tmp_path / "fakepy"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    make = ["make", "--no-print-directory", "PYTHON=./fakepy"]
    first = subprocess.Popen([*make, "run"], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (tmp_path / ".venv" / "bin" / "python").exists(), 30, "the venv")
        second = subprocess.run([*make, "demo-drop"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
    finally:
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert second.returncode == 0, second.stdout + second.stderr
    assert "another make is installing into .venv/; waiting for it to finish" in second.stdout
    assert "econnector demo-drop -c data/econnector.yaml" in second.stdout
    assert "installed" not in second.stdout  # it did not install a second time
