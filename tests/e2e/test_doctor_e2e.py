"""``econnector doctor`` on real folders, a real vault on loopback and a real lock (issue
13, point 3): the real CLI, its exit code and the lines IT reads."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from econnector_testsupport.daemon import PROVIDER, make_identity, run_cli, write_config
from econnector_testsupport.vault import make_tls, running_vault, subprocess_env

pytestmark = pytest.mark.e2e


def doctor(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", "-c", str(cfg), "--lang", "en", *args)


def lines(r: subprocess.CompletedProcess[str], status: str) -> list[str]:
    return [x for x in r.stdout.splitlines() if x.startswith(status)]


def test_a_good_setup_without_the_daemon_warns_and_says_why(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault", tls=make_tls(tmp_path / "tls")) as vp:
        cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], vault=vp)
        r = doctor(cfg)
        assert r.returncode == 1, r.stdout + r.stderr
        assert lines(r, "FAIL") == [] and r.stderr == "", r.stdout + r.stderr
        work = tmp_path / "p" / "work"
        assert f"WARN  daemon: not running (nothing holds {work / 'daemon.lock'})" in r.stdout
        assert f"ok    vault: {vp.base_url} answers: TLS verified, token accepted" in r.stdout
        assert f"ok    certificate: {PROVIDER} (Dr {PROVIDER}): valid for 730 more days" \
            in r.stdout
        (clock,) = [x for x in r.stdout.splitlines() if " clock: " in x]
        assert " s from the vault" in clock, clock  # the vault's Date was compared
        assert "ok    secret file: vault.token_file " in r.stdout
        assert "ok    heartbeat: not checked: the daemon is not running" in r.stdout
        r = doctor(cfg, "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["exit"] == 1
    by_name = {c["name"]: c for c in doc["checks"]}
    assert by_name["daemon"]["status"] == "warn"
    assert by_name["daemon"]["params"]["lock"] == str(work / "daemon.lock")
    assert {c["status"] for c in doc["checks"]} <= {"ok", "warn"}
    assert {c["name"] for c in doc["checks"]} >= {
        "config", "certificate", "vault", "secrets", "daemon", "heartbeat", "clock", "disk",
        "filesystems", "inotify"}


def test_a_passphrase_file_others_can_read_fails_naming_it(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)])
    ident.passphrase_file.chmod(0o644)
    r = doctor(cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"FAIL  secret file: identities[0].passphrase_file {ident.passphrase_file}: mode "
            "0644, others may read or change it") in r.stdout, r.stdout
    assert "Traceback" not in r.stderr


HOLD_LOCK = textwrap.dedent("""
    import sys
    from pathlib import Path
    from econnector import instancelock
    fd = instancelock.acquire(Path(sys.argv[1]))
    print("held", flush=True)
    sys.stdin.read()
""")


def test_a_running_daemon_with_a_stale_heartbeat_fails(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))],
                       heartbeat={"enabled": True})
    root = tmp_path / "p"
    for name in ("inbox", "work"):
        (root / name).mkdir(mode=0o700)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    beat = {"schema": "econnector.heartbeat/v1",
            "updated_at": stale.strftime("%Y-%m-%dT%H:%M:%SZ"), "interval_s": 5,
            "ok": True, "watcher_healthy": True, "vault": {"reachable": True, "state": "open"}}
    (root / "inbox" / "_econnector.json").write_text(json.dumps(beat))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root / "work")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=subprocess_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        r = doctor(cfg)
    finally:
        holder.communicate("", timeout=10)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"ok    daemon: running (pid {holder.pid}, " in r.stdout, r.stdout
    (fail,) = [x for x in lines(r, "FAIL") if "heartbeat" in x]
    assert fail.startswith(f"FAIL  heartbeat: {root / 'inbox' / '_econnector.json'} last "
                           "written 12"), fail
    assert fail.endswith("s ago, expected every 5.0 s: the daemon is stuck; restart the "
                         "service and read its log"), fail


def test_a_config_that_does_not_load_is_one_failure_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (cli.main, as the console script calls it): nothing here needs a
    second process, and the interpreter's start-up is most of a CLI run's time."""
    from econnector import cli

    bad = tmp_path / "econnector.yaml"
    bad.write_text("folders: [\n")
    assert cli.main(["doctor", "-c", str(bad), "--lang", "en"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"FAIL  config: the configuration cannot be used: {bad}: not valid YAML (line 2)"]
    assert err == ""
    assert cli.main(["doctor", "-c", str(bad), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit"] == 2 and [c["status"] for c in doc["checks"]] == ["fail"]
