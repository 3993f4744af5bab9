"""Secrets hygiene (issue 8, point 11): no secret in a child's environment, no core
dumps and not dumpable where keys are held, exposed secret files refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from econnector import hardening
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
from econnector_testsupport.vault import subprocess_env, unsigned_pdf

IS_ROOT = os.geteuid() == 0
LINUX = sys.platform.startswith("linux")
# As root, the daemon runs with this gid so that a non-dumpable process is visible:
# the kernel then gives its /proc/<pid>/* files to root:root instead of uid:gid.
OBSERVER_GID = 65534


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def status_ids(pid: int) -> tuple[int, int]:
    """The process's effective uid and gid, from /proc/<pid>/status."""
    uid = gid = -1
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[2])
        elif line.startswith("Gid:"):
            gid = int(line.split()[2])
    return uid, gid


def core_limit(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            soft, hard = line[len("Max core file size"):].split()[:2]
            return soft, hard
    raise AssertionError("no core limit line")


def not_dumpable(pid: int) -> bool:
    """The robust observable: /proc/<pid>/status belongs to root:root although the
    process runs with another uid or gid (the kernel's rule for non-dumpable tasks)."""
    uid, gid = status_ids(pid)
    assert (uid, gid) != (0, 0), "run the process with a non-root uid or gid to observe this"
    st = os.stat(f"/proc/{pid}/status")
    return (st.st_uid, st.st_gid) == (0, 0)


def observer_kwargs() -> dict[str, object]:
    return {"group": OBSERVER_GID, "extra_groups": []} if IS_ROOT else {}


def test_the_dumpable_observable_tells_the_difference() -> None:
    """Control: an ordinary process started the same way is dumpable by this rule."""
    if not LINUX:
        pytest.skip("/proc is Linux")
    ctl = subprocess.Popen(["sleep", "30"], **observer_kwargs())  # type: ignore[call-overload]
    try:
        wait_for(lambda: Path(f"/proc/{ctl.pid}/status").exists()
                 and "sleep" in Path(f"/proc/{ctl.pid}/status").read_text(), 5, "sleep")
        assert not not_dumpable(ctl.pid)
    finally:
        ctl.kill()
        ctl.wait()


def use_passphrase_env(config: Path, name: str) -> None:
    doc = yaml.safe_load(config.read_text())
    for ident in doc["identities"]:
        del ident["passphrase_file"]
        ident["passphrase_env"] = name
    config.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.e2e
@pytest.mark.skipif(not LINUX, reason="/proc and prctl are Linux")
def test_workers_get_no_secret_no_core_and_are_not_dumpable(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    secret = ident.passphrase_file.read_text().strip()
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], signing={"workers": 2})
    use_passphrase_env(cfg, "EC_TEST_DOCTOR_PASSPHRASE")
    env = {"EC_TEST_DOCTOR_PASSPHRASE": secret,
           "EC_TEST_SOME_OTHER_SECRET": "other-secret-4711"}  # not econnector's, not passed
    # as root with a non-root gid: /proc then shows who may read a process
    with running_daemon(cfg, env, **observer_kwargs()) as d:
        assert d.proc is not None
        main = d.proc.pid
        workers = wait_for(lambda: (c := children(main)) and len(c) == 2 and c, 20,
                           "two signing workers", on_fail=d.log)
        # the passphrase from the environment still unlocks the key (it travels on the pipe)
        drop(d.outbox, "env", unsigned_pdf("env"), sidecar("SECRETS-1"))
        assert d.wait_outcome("env")["state"] == "delivered"
        for pid in [*workers, main]:
            # A worker hardens itself first thing in serve(), before it reads the
            # identities; under load the second one may still be importing pyHanko.
            wait_for(lambda p=pid: not_dumpable(p), 20, f"{pid} not dumpable")  # type: ignore[misc]
            assert core_limit(pid) == ("0", "0"), pid
            assert not_dumpable(pid), pid
        for pid in workers:
            if IS_ROOT:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                assert secret.encode() not in environ
                assert b"EC_TEST_DOCTOR_PASSPHRASE" not in environ
                assert b"other-secret-4711" not in environ
                assert b"PATH=" in environ
            else:  # not dumpable: even its own user cannot read it
                with pytest.raises(PermissionError):
                    Path(f"/proc/{pid}/environ").read_bytes()


@pytest.mark.skipif(not LINUX, reason="prctl is Linux")
def test_harden_process_sets_no_core_and_not_dumpable() -> None:
    code = ("import resource; from econnector import hardening; "
            "assert hardening.dumpable() is True; hardening.harden_process(); "
            "print(hardening.dumpable(), resource.getrlimit(resource.RLIMIT_CORE))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False (0, 0)"


def test_child_env_is_an_allow_list() -> None:
    src = {"PATH": "/usr/bin", "HOME": "/var/lib/econnector", "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "PYTHONPATH": "/opt/x", "SOFTHSM2_CONF": "/etc/s.conf",
           "DOCTOR_PASS": "s3cret", "VAULT_TOKEN": "tok", "NOTIFY_SOCKET": "/run/n",
           "CREDENTIALS_DIRECTORY": "/run/cred", "AWS_SECRET_ACCESS_KEY": "x",
           "PYTHON_DOCTOR_PIN": "1234"}
    saved = set(hardening._forbidden)
    try:
        hardening.forbid_env(["DOCTOR_PASS", "PYTHON_DOCTOR_PIN", None])
        env = hardening.child_env(src)
    finally:
        hardening._forbidden.clear()
        hardening._forbidden.update(saved)
    assert env == {"PATH": "/usr/bin", "HOME": "/var/lib/econnector", "LANG": "C.UTF-8",
                   "LC_ALL": "C.UTF-8", "PYTHONPATH": "/opt/x",
                   "SOFTHSM2_CONF": "/etc/s.conf"}


@pytest.mark.parametrize("mode,refused", [
    (0o600, False), (0o400, False), (0o640, False), (0o440, False),
    (0o644, True), (0o604, True), (0o660, True), (0o620, True), (0o666, True), (0o601, True),
])
def test_secret_file_modes(tmp_path: Path, mode: int, refused: bool) -> None:
    from econnector import config

    ident = make_identity(tmp_path / "id")
    cfg = config.load(write_config(tmp_path / "practice", [(PROVIDER, ident)]))
    os.chmod(ident.passphrase_file, mode)
    problems = hardening.exposed_secret_files(cfg)
    if refused:
        assert len(problems) == 1, problems
        assert problems[0].startswith("secret-file-exposed: identities[0].passphrase_file: ")
        assert f"mode {mode:04o}" in problems[0]
        assert f"chmod 600 {ident.passphrase_file}" in problems[0]
    else:
        assert problems == []


def _exposed_config(tmp_path: Path) -> tuple[Path, Path, Path]:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url="https://127.0.0.1:9/", token="tok-0123456789")
    token = tmp_path / "practice" / "vault.token"
    os.chmod(token, 0o644)
    os.chmod(ident.passphrase_file, 0o644)
    return cfg, token, ident.passphrase_file


def test_check_config_refuses_world_readable_secret_files(tmp_path: Path) -> None:
    cfg, token, passfile = _exposed_config(tmp_path)
    r = subprocess.run(econnector_cmd("check-config", "--offline", "-c", str(cfg)),
                       capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert all(line.startswith("econnector: secret-file-exposed: ") for line in lines)
    assert f"the secret file {passfile} has mode 0644 (readable by all users)" in r.stderr
    assert f"chmod 600 {passfile}" in r.stderr
    assert f"the secret file {token} has mode 0644" in r.stderr
    assert f"chmod 600 {token}" in r.stderr
    os.chmod(token, 0o600)
    os.chmod(passfile, 0o600)
    # --offline: nothing listens at the vault URL; the secrets are what is checked here
    r = subprocess.run(econnector_cmd("check-config", "--offline", "-c", str(cfg)),
                       capture_output=True,
                       text=True, env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr


def test_daemon_refuses_to_start_with_an_exposed_secret_file(tmp_path: Path) -> None:
    cfg, _token, passfile = _exposed_config(tmp_path)
    r = subprocess.run(econnector_cmd("run", "-c", str(cfg)), capture_output=True, text=True,
                       env=subprocess_env(), timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("econnector: secret-file-exposed: identities[0].passphrase_file")
    assert f"chmod 600 {passfile}" in r.stderr
