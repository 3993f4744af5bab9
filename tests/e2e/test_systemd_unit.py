"""The systemd units as IT installs them (issue 13, point 1): ``systemd-analyze verify``
finds nothing to say about them once rendered with paths that exist, their exposure in
``systemd-analyze security --offline=yes`` stays at 2.5 or below, and the hardening
that could break signing (``MemoryDenyWriteExecute=``) does not: the real daemon signs
and delivers under the kernel's own W^X guard (``PR_SET_MDWE``), with a key file and
with a PKCS#11 token.

systemd is not PID 1 here, so the units cannot be started; these are the checks that
can run without it. docs/install-linux.md explains each hardening line."""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from econnector.cli import EXIT_CONFIG
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    assert_pdfsig_last_valid,
    drop,
    econnector_cmd,
    require_tool,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.paths import REPO
from econnector_testsupport.softhsm import SoftHsm, token_config
from econnector_testsupport.vault import VaultProcess, subprocess_env, unsigned_pdf

MAX_EXPOSURE = 2.5
SERVICE = REPO / "service"
INSTALLED_BIN = "/opt/econnector/.venv/bin/econnector"
OVERALL = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) (\w+)")

# The lines each unit must carry (the notify protocol, restarts, limits), as
# (key, value); hardening lines are covered by the exposure score.
REQUIRED = [
    ("Type", "notify"), ("NotifyAccess", "main"), ("WatchdogSec", "30s"),
    ("Restart", "on-failure"), ("RestartPreventExitStatus", str(EXIT_CONFIG)),
    ("LimitNOFILE", "16384"), ("LimitCORE", "0"), ("UMask", "0077"),
    ("CapabilityBoundingSet", ""), ("PrivateDevices", "yes"), ("ProtectSystem", "strict"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("MemoryDenyWriteExecute", "yes"), ("NoNewPrivileges", "yes"),
    ("LockPersonality", "yes"), ("SystemCallFilter", "@system-service"),
]
# Off on purpose (docs/install-linux.md says why); a line turning one on must come
# with a change to the docs and to this list.
MUST_STAY_OFF = ["PrivateNetwork", "IPAddressDeny", "PrivateUsers", "DynamicUser"]


def unit_lines(text: str) -> list[tuple[str, str]]:
    """The unit's ``Key=value`` lines in order (keys repeat: SystemCallFilter=)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def render(template: Path, folder: Path, config: Path, state: Path, logs: Path) -> Path:
    """The unit with this machine's paths: the venv's econnector, a real config, folders
    that exist (what verify and the sandbox look for). User= stays: verify does not look
    users up, and the exposure score counts a dedicated user (root would cost 0.3)."""
    econnector = econnector_cmd()[0]
    assert Path(econnector).is_file() and os.access(econnector, os.X_OK), econnector
    text = template.read_text()
    assert INSTALLED_BIN in text
    text = text.replace(INSTALLED_BIN, econnector)
    text = re.sub(r"^Environment=ECONNECTOR_CONFIG=\S+$",
                  f"Environment=ECONNECTOR_CONFIG={config}", text, flags=re.M)
    text = re.sub(r"^ReadWritePaths=.*$", f"ReadWritePaths={state} {logs}", text,
                  flags=re.M)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / template.name
    out.write_text(text)
    return out


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze ARGS``, its warnings on stderr (by default they may go to the
    journal or the kernel log, where a test would never see them)."""
    tool = require_tool("systemd-analyze")
    env = {**os.environ, "SYSTEMD_LOG_TARGET": "console", "SYSTEMD_LOG_LEVEL": "info",
           "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
    return subprocess.run([tool, *args], capture_output=True, text=True, env=env,
                          timeout=120)


def exposure(unit: Path, name: str | None = None) -> float:
    """The overall exposure ``systemd-analyze security --offline=yes`` gives the unit
    (``name``: an instance of a template, looked up next to it)."""
    r = analyze("security", "--offline=yes", "--no-pager", str(unit.parent / (name or unit.name)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.strip() == "", r.stderr  # no directive it could not parse
    m = OVERALL.search(r.stdout)
    assert m, r.stdout
    return float(m.group(2))


@pytest.fixture
def practice(tmp_path: Path, identity: TestIdentity) -> tuple[Path, Path, Path]:
    """A real config (what the unit's ExecStartPre checks) and the state and log
    folders the unit makes writable."""
    state, logs = tmp_path / "var-lib", tmp_path / "var-log"
    logs.mkdir()
    cfg = write_config(state, [(PROVIDER, identity)])
    return cfg, state, logs


@pytest.mark.parametrize("unit", ["econnector.service", "econnector@.service"])
def test_unit_carries_the_notify_protocol_restart_rules_and_hardening(unit: str) -> None:
    lines = unit_lines((SERVICE / unit).read_text())
    for key, value in REQUIRED:
        assert (key, value) in lines, f"{unit}: {key}={value} missing"
    keys = {k for k, _ in lines}
    for key in MUST_STAY_OFF:
        assert key not in keys, f"{unit}: {key}= must stay off (docs/install-linux.md)"
    # the chown exception comes after the deny list, or systemd would not re-allow it
    filters = [v for k, v in lines if k == "SystemCallFilter"]
    assert filters == ["@system-service", "~@privileged", "@chown"], filters


def test_unit_verifies_clean_and_scores_at_most_2_5(
        tmp_path: Path, practice: tuple[Path, Path, Path]) -> None:
    cfg, state, logs = practice
    unit = render(SERVICE / "econnector.service", tmp_path / "units", cfg, state, logs)
    r = analyze("verify", "--man=no", str(unit))
    assert r.returncode == 0 and (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr
    score = exposure(unit)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"
    # the shipped file (not rendered) scores the same: rendering changes no hardening
    assert exposure(SERVICE / "econnector.service") == score


def test_template_instance_verifies_clean_and_scores_at_most_2_5(
        tmp_path: Path, practice: tuple[Path, Path, Path]) -> None:
    cfg, state, logs = practice
    unit = render(SERVICE / "econnector@.service", tmp_path / "units", cfg, state, logs)
    instance = unit.parent / "econnector@practice1.service"
    r = analyze("verify", "--man=no", str(instance))
    assert r.returncode == 0 and (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr
    score = exposure(unit, instance.name)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"
    # the shipped template's own instance paths
    text = (SERVICE / "econnector@.service").read_text()
    for line in ("Environment=ECONNECTOR_CONFIG=/etc/econnector/%i.yaml",
                 "RuntimeDirectory=econnector/%i", "User=econnector-%i",
                 "ReadWritePaths=/var/lib/econnector/%i /var/log/econnector/%i"):
        assert line in text.splitlines(), line


def test_verify_does_report_a_broken_line(tmp_path: Path,
                                          practice: tuple[Path, Path, Path]) -> None:
    """The clean verdicts above mean something: a mistyped directive is reported."""
    cfg, state, logs = practice
    unit = render(SERVICE / "econnector.service", tmp_path / "units", cfg, state, logs)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt"))
    r = analyze("verify", "--man=no", str(unit))
    assert "strikt" in r.stdout + r.stderr, r.stdout + r.stderr


def test_units_start_command_finds_its_config_through_the_environment(
        tmp_path: Path, practice: tuple[Path, Path, Path]) -> None:
    """ExecStartPre= as the unit runs it: no -c, the config from Environment=."""
    cfg, state, logs = practice
    unit = render(SERVICE / "econnector.service", tmp_path / "units", cfg, state, logs)
    lines = dict(unit_lines(unit.read_text()))
    name, _, value = lines["Environment"].partition("=")
    r = subprocess.run(shlex.split(lines["ExecStartPre"]), capture_output=True, text=True,
                       env={**subprocess_env(), name: value}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(cfg) in r.stdout, r.stdout


# -- MemoryDenyWriteExecute=: the daemon under the kernel's W^X guard -----------------------

PR_SET_MDWE, PR_GET_MDWE, MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

# Sets PR_SET_MDWE (Linux 6.3+: no mapping both writable and executable, none made
# executable later; kept across fork and exec) and runs the rest of argv. systemd's
# MemoryDenyWriteExecute= refuses the same with seccomp (and any mprotect to PROT_EXEC).
MDWE_EXEC = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE failed: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
"""

# Run under MDWE_EXEC: the guard holds after exec (a W+X mapping is refused).
PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
p = libc.mmap(None, 4096, 7, 0x22, -1, 0)  # PROT_READ|WRITE|EXEC, MAP_PRIVATE|ANONYMOUS
print(libc.prctl(66, 0, 0, 0, 0), p == ctypes.c_void_p(-1).value)
"""


@pytest.fixture
def mdwe(tmp_path: Path) -> list[str]:
    """The command prefix that runs a program under PR_SET_MDWE."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) < 0:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    script = tmp_path / "mdwe_exec.py"
    script.write_text(MDWE_EXEC)
    prefix = [sys.executable, str(script)]
    r = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "True"], r.stdout  # on after exec, and it refuses W+X
    return prefix


def test_daemon_signs_and_delivers_over_tls_without_writable_executable_memory(
        tmp_path: Path, identity: TestIdentity, tls_vault: VaultProcess,
        mdwe: list[str]) -> None:
    """pyHanko, cryptography (compiled cffi and Rust: no cffi callbacks made at run
    time), OpenSSL's TLS to the vault, the QR-free PAdES path: all without W+X."""
    cfg = write_config(tmp_path / "practice", [(PROVIDER, identity)], vault=tls_vault)
    with running_daemon(cfg, prefix=mdwe) as d:
        drop(d.outbox, "mdwe-1", unsigned_pdf("W^X"), sidecar("MDWE-1"))
        outcome = d.wait_outcome("mdwe-1", 60)
        assert outcome["state"] == "delivered", f"{outcome}\n{d.log()}"
    assert_pdfsig_last_valid(d.inbox / "mdwe-1.signed.pdf")


def test_pkcs11_token_signs_without_writable_executable_memory(
        tmp_path: Path, softhsm: SoftHsm, mdwe: list[str]) -> None:
    """python-pkcs11 (Cython) loading a PKCS#11 module (SoftHSM2) under W^X."""
    token = softhsm.token(f"mdwe-{secrets.token_hex(3)}", PROVIDER)
    pin = tmp_path / "secrets" / "pin"
    pin.parent.mkdir(mode=0o700)
    pin.write_text(token.pin + "\n")
    pin.chmod(0o600)
    cfg = token_config(tmp_path / "practice", token, unlock="file", passphrase_file=str(pin))
    with running_daemon(cfg, prefix=mdwe) as d:
        drop(d.outbox, "mdwe-tok", unsigned_pdf("W^X token"), sidecar("MDWE-TOK"))
        outcome = d.wait_outcome("mdwe-tok", 60)
        assert outcome["state"] == "delivered", f"{outcome}\n{d.log()}"
    assert_pdfsig_last_valid(d.inbox / "mdwe-tok.signed.pdf")
