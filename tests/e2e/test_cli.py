"""Command-line rough edges (issue 9, points 10, 11, 13): demo-drop refuses a production
config, Ctrl-C prints no tracebacks, ``status`` survives a closed pipe and says whether
the daemon runs and what waits, the default config path, RFC 4514 signer names."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from econnector import testid
from econnector.errors import CATALOG
from econnector.statestore import Store
from econnector_testsupport.daemon import (
    PROVIDER,
    SECOND_PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    require_tool,
    run_cli,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.english import english_words
from econnector_testsupport.paths import REPO
from econnector_testsupport.vault import subprocess_env, unsigned_pdf

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


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
    r = run_cli("demo-drop", "-c", str(cfg))
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
    r = run_cli("demo-drop", "-c", str(cfg), "--count", "1")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "a" / "outbox").glob("*.pdf"))) == 1
    cfg = write_config(tmp_path / "b", [(PROVIDER, real_doctor_identity(tmp_path / "real"))])
    r = run_cli("demo-drop", "-c", str(cfg), "--count", "1")
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
    r = run_cli("check-config", env={"ECONNECTOR_CONFIG": str(tmp_path / "x.yaml")})
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
        r = run_cli("status", "-c", str(cfg), "--lang", "en")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"daemon: running (pid {d.proc.pid})"  # type: ignore[union-attr]
        assert any(SECOND_PROVIDER in line and "LOCKED" in line.upper() for line in lines), lines
        held = [line for line in lines if "wait" in line.split() and "held" in line.split()]
        assert held and "identity-locked" in held[0], lines
        j = json.loads(run_cli("status", "-c", str(cfg), "--json").stdout)
        assert j["daemon"]["running"] is True
        assert [w["file"] for w in j["waiting"]] == ["wait"]
        assert j["waiting"][0]["reason"] == "identity-locked"
        for doc in j["documents"]:
            assert ISO.match(doc["updated_at"]), doc
        subject = d.receipt("ok")["signature"]["signer_subject"]  # type: ignore[index]
    name = x509.Name.from_rfc4514_string(subject, {"serialNumber": NameOID.SERIAL_NUMBER})
    assert str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).startswith("TEST Dr ")
    assert "CN=TEST" in subject and "Common Name" not in subject
    r = run_cli("status", "-c", str(cfg), "--lang", "en")
    assert r.stdout.splitlines()[0] == "daemon: not running"
    status = json.loads(run_cli("status", "-c", str(cfg), "--json").stdout)
    assert status["daemon"]["running"] is False


# -- status in the staff's language (issue 9: everything a person reads in fr, de, en) -----

LOCKED = "90812200"
LOCAL = re.compile(r"\d\d[./]\d\d[./]\d{4} \d\d:\d\d:\d\d \(UTC\+0[12]:00\)")


def closed_port() -> int:
    """A loopback port nobody listens on: the vault is "down"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health_file(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / "work" / "daemon-status.json").read_text("utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def local_text(stamp: str, fmt: str) -> str:
    """``stamp`` in Luxembourg time as the status text must show it (computed here,
    not with econnector's own helper)."""
    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/Luxembourg"))
    z = when.strftime("%z")
    return f"{when.strftime(fmt)} (UTC{z[:3]}:{z[3:]})"


def without(text: str, *values: str) -> str:
    """``text`` without the catalog codes (they stay English for support) and ``values``
    (paths, a library's detail): what is left is ours to translate."""
    for v in sorted({*values, *CATALOG}, key=len, reverse=True):
        text = text.replace(v, " ")
    return text


@pytest.fixture(scope="module")
def blocked(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real daemon (default language de) whose vault is down, with one doctor whose
    certificate expired and one whose passphrase is wrong; one document each."""
    tmp = tmp_path_factory.mktemp("status-i18n")
    ok = make_identity(tmp / "ok")
    expired = testid.make_identity(tmp / "expired", SECOND_PROVIDER, f"Dr {SECOND_PROVIDER}",
                                   now=dt.datetime.now(dt.UTC) - dt.timedelta(days=800))
    locked = make_identity(tmp / "locked", LOCKED)
    locked.passphrase_file.write_text("not the passphrase\n")
    cfg = write_config(tmp / "p", [(PROVIDER, ok), (SECOND_PROVIDER, expired), (LOCKED, locked)],
                       vault_url=f"https://127.0.0.1:{closed_port()}/", token="tok-0123456789",
                       receipts={"default_language": "de"},
                       # slow probes: out-1 is not caught between two states by a status
                       retry={"base_s": 30.0, "cap_s": 60.0})
    with running_daemon(cfg) as d:
        drop(d.outbox, "out-1", unsigned_pdf("out"), sidecar("OUT-1"))
        drop(d.outbox, "exp-1", unsigned_pdf("exp"), sidecar("EXP-1", provider=SECOND_PROVIDER))
        drop(d.outbox, "lock-1", unsigned_pdf("lock"), sidecar("LOCK-1", provider=LOCKED))
        for stem, state in (("out-1", "waiting-retry"), ("exp-1", "held"), ("lock-1", "held")):
            wait_for(lambda stem=stem, state=state: (s := d.status(stem)) and s["state"] == state,
                     30, f"{stem} {state}", on_fail=lambda: f"{d.log()}")
        wait_for(lambda: health_file(d.root).get("vault", {}).get("state") == "outage", 30,
                 "the outage in the health file", on_fail=lambda: str(health_file(d.root)))
        yield d, cfg


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["de", "fr"])
def test_status_speaks_german_and_french_and_keeps_the_codes(blocked, lang: str) -> None:  # type: ignore[no-untyped-def]
    d, cfg = blocked
    r = run_cli("status", "-c", str(cfg), "--lang", lang)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = r.stdout
    lines = out.splitlines()
    h = health_file(d.root)
    de = lang == "de"
    fmt = "%d.%m.%Y %H:%M:%S" if de else "%d/%m/%Y %H:%M:%S"
    assert lines[0] == (f"econnector: läuft (Prozess {d.proc.pid})" if de else
                        f"econnector : en marche (processus {d.proc.pid})")
    expiry = local_text(h["identities"][SECOND_PROVIDER]["not_after"], fmt)
    exp_line = next(ln for ln in lines if "(certificate-expired)" in ln)
    assert exp_line.startswith("GESPERRT (certificate-expired): " if de else
                               "BLOQUÉ (certificate-expired) : "), exp_line
    assert SECOND_PROVIDER in exp_line and expiry in exp_line, exp_line
    assert ("abgelaufen" if de else "a expiré le") in exp_line
    lock_line = next(ln for ln in lines if "(identity-locked)" in ln)
    assert LOCKED in lock_line and ("falsche Passphrase" if de else
                                    "phrase secrète erronée") in lock_line, lock_line
    vault_line = next(ln for ln in lines if "(vault-unavailable)" in ln)
    assert vault_line.startswith("WARTET (vault-unavailable): Der Safe" if de else
                                 "EN ATTENTE (vault-unavailable) : Le coffre-fort"), vault_line
    assert ("Nächster Versuch: " if de else "Prochain essai : ") in vault_line
    assert LOCAL.search(vault_line), vault_line
    counts = next(ln for ln in lines if ln.startswith(("Dokumente nach", "documents par")))
    assert counts == ("Dokumente nach Status: neuer Versuch geplant 1, zurückgehalten 2" if de
                      else "documents par état : nouvel essai prévu 1, retenu 2"), counts
    head = "wartend oder zurückgehalten:" if de else "en attente ou retenus :"
    listed = lines[lines.index(head) + 1:lines.index(head) + 4]
    waiting = {stem: ln for ln in listed for stem in ln.split() if stem.endswith("-1")}
    assert set(waiting) == {"out-1", "exp-1", "lock-1"}, listed
    assert ("neuer Versuch geplant" if de else "nouvel essai prévu") in waiting["out-1"]
    assert ("vault-unavailable: Safe nicht erreichbar" if de else
            "vault-unavailable: coffre-fort injoignable") in waiting["out-1"]
    assert LOCAL.search(waiting["out-1"]), waiting  # the next try, in local time
    assert ("certificate-expired: Zertifikat des Arztes abgelaufen" if de else
            "certificate-expired: certificat du médecin expiré") in waiting["exp-1"]
    assert ("identity-locked: Signaturschlüssel des Arztes gesperrt" if de else
            "identity-locked: clé de signature du médecin verrouillée") in waiting["lock-1"]
    assert ("zurückgehalten" if de else "retenu") in waiting["lock-1"]
    latest = lines[lines.index("neueste Dokumente:" if de else "derniers documents :") + 1:]
    assert len(latest) == 3 and all(LOCAL.match(ln.strip()) for ln in latest), latest
    assert {"OUT-1", "EXP-1", "LOCK-1"} == {w for ln in latest for w in ln.split()
                                            if w.endswith("-1") and w.isupper()}
    # no English left, once the values that are not ours to translate are taken out
    detail = h["vault"]["params"]["detail"]
    assert not english_words(without(out, detail)), english_words(without(out, detail))
    # the language is the config's default when --lang is not given
    assert run_cli("status", "-c", str(cfg)).stdout.splitlines()[0].startswith("econnector: läuft")


def test_status_has_a_name_for_every_state_in_every_language() -> None:
    from econnector.messages import CLI_STATE_NAMES
    from econnector.states import State

    for lang in ("fr", "de", "en"):
        assert set(CLI_STATE_NAMES[lang]) == {s.value for s in State}, lang
    assert len(set(CLI_STATE_NAMES["fr"].values())) == len(State)  # no two alike


@pytest.mark.e2e
def test_status_json_stays_the_api_whatever_the_language(blocked) -> None:  # type: ignore[no-untyped-def]
    _, cfg = blocked
    j = json.loads(run_cli("status", "-c", str(cfg), "--json").stdout)
    assert j["daemon"]["running"] is True and j["daemon"]["vault"]["state"] == "outage"
    assert sorted((w["file"], w["state"], w["reason"]) for w in j["waiting"]) == [
        ("exp-1", "held", "certificate-expired"), ("lock-1", "held", "identity-locked"),
        ("out-1", "waiting-retry", "vault-unavailable")]
    assert all(ISO.match(doc["updated_at"]) for doc in j["documents"])
    english = run_cli("status", "-c", str(cfg), "--lang", "en").stdout
    assert "LOCKED (certificate-expired): The signing certificate of provider" in english
    assert "held" in english and "waiting-retry" in english
    assert english_words(without(english))  # the check that fr and de pass does see English


@pytest.mark.e2e
def test_status_names_missing_folders_in_french_and_says_when_the_daemon_stopped(
    tmp_path: Path,
) -> None:
    share = tmp_path / "share"  # a network share that is not mounted
    outbox, inbox = share / "outbox", share / "inbox"
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))],
                       folders={"outbox": str(outbox), "inbox": str(inbox)})
    with running_daemon(cfg) as d:
        wait_for(lambda: health_file(d.root).get("inbox_missing") is True, 10,
                 "the health file", on_fail=lambda: str(health_file(d.root)))
        r = run_cli("status", "-c", str(cfg), "--lang", "fr")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert (f"EN ATTENTE (outbox-missing) : Le dossier outbox {outbox} est absent ou "
                "illisible ; econnector l'attend. Prévenez le service informatique") in r.stdout
        assert f"EN ATTENTE (inbox-missing) : Le dossier inbox {inbox} est absent" in r.stdout
        assert "documents par état : aucun pour l'instant" in lines
        assert not english_words(without(r.stdout, str(outbox), str(inbox))), r.stdout
        de = run_cli("status", "-c", str(cfg), "--lang", "de").stdout
        assert f"WARTET (inbox-missing): Der Ordner inbox {inbox} fehlt" in de
    fr = run_cli("status", "-c", str(cfg)).stdout.splitlines()  # the default: fr
    assert fr[0] == ("econnector : à l'arrêt, aucun document n'est traité ; prévenez le "
                     "service informatique")
    assert not english_words(without("\n".join(fr))), fr


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
    require_tool("make")
    require_tool("flock")
    (tmp_path / "service").mkdir()
    (tmp_path / "Makefile").write_bytes((REPO / "Makefile").read_bytes())
    for project in ("", "vault", "testsupport"):  # the three the Makefile installs
        (tmp_path / project).mkdir(exist_ok=True)
        (tmp_path / project / "pyproject.toml").write_text(f"[project]\nname = 'x{project}'\n")
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
