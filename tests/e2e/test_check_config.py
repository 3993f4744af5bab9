"""``econnector check-config`` tells IT the truth (issue 9, points 1, 2, 4, 5, 9): exit 0
means ready. Each test writes a config with one mistake, runs the real CLI, and checks
the exit code and the one line that names the key and the fix."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from econnector import testid
from econnector_testsupport.configs import with_
from econnector_testsupport.daemon import (
    PROVIDER,
    econnector_cmd,
    make_identity,
    require_tool,
    run_cli,
    running_daemon,
    write_config,
)
from econnector_testsupport.paths import DOCS
from econnector_testsupport.vault import free_port, make_tls, running_vault, subprocess_env

IS_ROOT = os.geteuid() == 0


def check(cfg: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", "-c", str(cfg), *args, env=env)


def problems(r: subprocess.CompletedProcess[str]) -> list[str]:
    """The stderr lines that are not warnings."""
    return [line for line in r.stderr.strip().splitlines()
            if line and not line.startswith("econnector: warning:")]


def edit(cfg: Path, change: dict[str, object]) -> Path:
    doc = yaml.safe_load(cfg.read_text())
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        if value is None:
            del node[last]
        else:
            node[last] = value
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


def dated_identity(folder: Path, days_from: int, days_to: int) -> testid.TestIdentity:
    now = dt.datetime.now(dt.UTC)
    return testid.make_identity(folder, PROVIDER, f"Dr {PROVIDER}",
                                not_before=now + dt.timedelta(days=days_from),
                                not_after=now + dt.timedelta(days=days_to))


def day(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).date().isoformat()


# -- point 1: certificate validity -----------------------------------------------------------


def test_an_expired_certificate_fails_naming_the_identity_and_the_dates(tmp_path: Path) -> None:
    ident = dated_identity(tmp_path / "id", -800, -3)
    r = check(write_config(tmp_path / "p", [(PROVIDER, ident)]))
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = problems(r)
    assert line.startswith("econnector: identities[0].pkcs12: certificate-expired: "), line
    assert f"identity {PROVIDER} (Dr {PROVIDER})" in line
    assert f"expired on {day(-3)}" in line and f"valid {day(-800)} to {day(-3)}" in line
    assert "renewed certificate" in line
    assert "config ok" not in r.stdout and "Traceback" not in r.stderr


def test_a_certificate_not_valid_yet_fails(tmp_path: Path) -> None:
    ident = dated_identity(tmp_path / "id", 5, 700)
    r = check(write_config(tmp_path / "p", [(PROVIDER, ident)]))
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = problems(r)
    assert "certificate-not-yet-valid" in line and f"valid only from {day(5)}" in line
    assert f"identity {PROVIDER} (Dr {PROVIDER})" in line


def test_a_certificate_expiring_within_30_days_is_a_warning(tmp_path: Path) -> None:
    ident = dated_identity(tmp_path / "id", -300, 20)
    r = check(write_config(tmp_path / "p", [(PROVIDER, ident)]))
    assert r.returncode == 0, r.stderr
    (warning,) = r.stderr.strip().splitlines()
    assert warning.startswith("econnector: warning: identities[0].pkcs12: "), warning
    assert f"expires on {day(20)}, in 20 days; order the renewal now" in warning, warning
    assert "config ok" in r.stdout
    # 31 days left: no warning
    far = dated_identity(tmp_path / "id2", -300, 32)
    r = check(write_config(tmp_path / "p2", [(PROVIDER, far)]))
    assert r.returncode == 0 and r.stderr == "", r.stderr


# -- point 2: an identity that cannot sign is a failure ------------------------------------


def _wrong_passphrase(cfg: Path, ident: testid.TestIdentity) -> str:
    ident.passphrase_file.write_text("not-the-passphrase\n")
    return f"identities[0].pkcs12: identity {PROVIDER} (Dr {PROVIDER}) cannot sign: wrong " \
           f"passphrase or damaged key ({ident.pkcs12})"


def _missing_passphrase_file(cfg: Path, ident: testid.TestIdentity) -> str:
    ident.passphrase_file.unlink()
    return f"identities[0].passphrase_file: cannot read the file {ident.passphrase_file} " \
           "(No such file or directory)"


def _unset_passphrase_env(cfg: Path, ident: testid.TestIdentity) -> str:
    edit(cfg, {"identities.0.passphrase_file": None,
               "identities.0.passphrase_env": "EC_TEST_UNSET_PASSPHRASE"})
    return "identities[0].passphrase_env: the environment variable EC_TEST_UNSET_PASSPHRASE " \
           "is not set"


def _damaged_p12(cfg: Path, ident: testid.TestIdentity) -> str:
    ident.pkcs12.write_bytes(b"this is not a PKCS#12 file")
    return "wrong passphrase or damaged key"


def _unreadable_p12(cfg: Path, ident: testid.TestIdentity) -> str:
    os.chmod(ident.pkcs12, 0)
    return f"identities[0].pkcs12: identity {PROVIDER} (Dr {PROVIDER}) cannot sign: " \
           f"Permission denied ({ident.pkcs12})"


LOCKED_CASES = [_wrong_passphrase, _missing_passphrase_file, _unset_passphrase_env,
                _damaged_p12, _unreadable_p12]


def _as_service_user() -> list[str]:
    """Root reads a mode 000 file anyway: run as root that file modes bind (no DAC
    override), as a service user would be."""
    if not IS_ROOT:
        return []
    return [require_tool("setpriv"), "--bounding-set", "-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("mistake", LOCKED_CASES, ids=lambda f: f.__name__.strip("_"))
def test_an_identity_that_cannot_sign_fails_and_says_why(tmp_path: Path, mistake) -> None:  # type: ignore[no-untyped-def]
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)])
    expected = mistake(cfg, ident)
    env = {k: v for k, v in subprocess_env().items() if k != "EC_TEST_UNSET_PASSPHRASE"}
    r = subprocess.run([*_as_service_user(), *econnector_cmd("check-config", "-c", str(cfg))],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = problems(r)
    assert line.startswith("econnector: ") and expected in line, line
    assert f"identity {PROVIDER} (Dr {PROVIDER}) cannot sign" in line, line
    assert f"identity {PROVIDER} (Dr {PROVIDER}): LOCKED" in r.stdout
    assert "config ok" not in r.stdout


# -- point 4: folders that are not there are not invented ----------------------------------


@pytest.mark.parametrize("name", ["outbox", "inbox", "archive", "work"])
def test_a_missing_folder_outside_the_root_fails_and_is_not_created(
    tmp_path: Path, name: str
) -> None:
    share = tmp_path / "share-not-mounted" / name
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))],
                       folders={name: str(share)})
    r = check(cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert problems(r) == [
        f"econnector: folders.{name}: {share} does not exist; econnector creates only "
        "folders.root and the folders inside it (is the share mounted?): create it or "
        f"correct folders.{name}"]
    assert not share.parent.exists()
    share.mkdir(parents=True)  # the share is there: ready
    assert check(cfg).returncode == 0


def test_the_root_is_created_only_inside_an_existing_folder(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "cfg", [(PROVIDER, ident)])
    root = tmp_path / "mnt" / "share" / "econnector"
    edit(cfg, {"folders.root": str(root)})
    r = check(cfg)
    assert r.returncode == 2
    assert problems(r)[0].startswith(
        f"econnector: folders.root: {root} does not exist, nor does {root.parent}"), r.stderr
    assert not (tmp_path / "mnt").exists()
    root.parent.mkdir(parents=True)
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    assert all((root / n).is_dir() for n in ("outbox", "inbox", "archive", "failed", "work"))


@pytest.mark.e2e
def test_run_waits_for_a_missing_outbox_but_not_for_a_missing_archive(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    outbox = tmp_path / "share" / "outbox"
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], folders={"outbox": str(outbox)})
    with running_daemon(cfg) as d:
        err = (d.root / "daemon.stderr").read_text()
        line = (f"econnector: folders.outbox: {outbox} is missing or unreadable "
                "(outbox-missing); econnector waits for it")
        assert err.count(line) == 1, err
        assert not outbox.exists()
    archive = tmp_path / "elsewhere" / "archive"
    edit(cfg, {"folders.archive": str(archive)})
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 2
    assert r.stderr.startswith(f"econnector: folders.archive: {archive} does not exist")
    assert len(r.stderr.strip().splitlines()) == 1 and not archive.exists()


# -- point 3: folders that overlap are refused ----------------------------------------------


def test_the_inbox_set_to_the_outbox_is_refused_by_check_config_and_run(tmp_path: Path) -> None:
    """The reported mistake, ``folders: {root: ., inbox: outbox}``: the daemon would
    have processed its own status files (….status.status….json)."""
    ident = make_identity(tmp_path / "id")
    cfg = edit(write_config(tmp_path / "p", [(PROVIDER, ident)]),
               {"folders": {"root": ".", "inbox": "outbox"}})
    outbox = (cfg.parent / "outbox").resolve()
    for command in ("check-config", "run"):
        r = run_cli(command, "-c", str(cfg))
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert r.stderr == (f"econnector: folders.inbox: is the same folder as folders.outbox "
                            f"({outbox}); the outbox, inbox, archive, failed and work folders "
                            "must be separate\n"), (command, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
    assert not any(cfg.parent.rglob("*.status.json"))


# -- point 5: the vault is asked; TLS is required ------------------------------------------


def test_plain_http_is_refused_unless_the_vault_is_on_this_machine(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], vault_url="http://vault.example.lu/",
                       token="tok-0123456789")
    r = check(cfg, "--offline")
    assert r.returncode == 2
    assert r.stderr.startswith("econnector: vault.url: plain http:// is refused for "
                               "'vault.example.lu'"), r.stderr
    for url in ("http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/"):
        edit(cfg, {"vault.url": url})
        r = check(cfg, "--offline")
        assert r.returncode == 0, (url, r.stderr)
        assert "not contacted: --offline" in r.stdout


@pytest.mark.e2e
def test_check_config_asks_the_vault(tmp_path: Path) -> None:
    """Up with the right CA: ok. Wrong CA, wrong token, nothing listening: exit 2, each
    with its own line. --offline does not ask."""
    ident = make_identity(tmp_path / "id")
    tls = make_tls(tmp_path / "tls")
    other_ca = make_tls(tmp_path / "other-tls").ca_bundle
    with running_vault(tmp_path / "vault", tls=tls) as vp:
        cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], vault=vp)
        r = check(cfg)
        assert r.returncode == 0, r.stderr
        assert f"vault http {vp.base_url} (answers)" in r.stdout
        edit(cfg, {"vault.ca_bundle": str(other_ca)})
        r = check(cfg)
        assert r.returncode == 2, r.stdout
        (line,) = problems(r)
        assert line.startswith("econnector: vault") and "certificate" in line.lower(), line
        assert check(cfg, "--offline").returncode == 0
        edit(cfg, {"vault.ca_bundle": str(vp.ca_bundle)})
        (tmp_path / "p" / "vault.token").write_text("not-a-valid-token\n")
        r = check(cfg)
        assert r.returncode == 2
        (line,) = problems(r)
        assert "refused the token" in line, line
    down = f"https://127.0.0.1:{free_port()}"
    edit(cfg, {"vault.url": down})
    r = check(cfg)
    assert r.returncode == 2
    (line,) = problems(r)
    assert line.startswith("econnector: vault") and "127.0.0.1" in line, line
    r = check(cfg, "--offline")
    assert r.returncode == 0 and "not contacted: --offline" in r.stdout, r.stderr


# -- point 9: config and log mistakes --------------------------------------------------------


def test_a_log_file_in_a_missing_folder_fails_check_config_and_run(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    log = tmp_path / "no-such-folder" / "econnector.log"
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], logging={"file": str(log)})
    expected = (f"econnector: logging.file: the folder {log.parent} does not exist; create it "
                "(writable by the service user) or change logging.file (\"-\" logs to stdout)")
    r = check(cfg)
    assert r.returncode == 2 and problems(r) == [expected], r.stderr
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 2 and r.stderr.strip() == expected, r.stderr
    edit(cfg, {"logging.file": str(tmp_path)})  # a folder, not a file
    r = check(cfg)
    assert r.returncode == 2 and problems(r) == [
        f"econnector: logging.file: {tmp_path} is a folder; give a file name"]


def test_config_mistakes_are_named_with_the_fix(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)])
    text = cfg.read_text()
    cfg.write_text(text.replace("identities:", "identites:"))
    r = check(cfg)
    assert r.returncode == 2
    assert r.stderr.strip() == "econnector: identites: unknown key (did you mean identities?)"
    cfg.write_text(text.replace(f"provider_code: '{PROVIDER}'", f"provider_code: {PROVIDER}"))
    r = check(cfg)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"econnector: identities[0].provider_code: write the provider code in quotes "
        f"(provider_code: \"{PROVIDER}\"): unquoted, YAML reads it as a number (and a leading "
        "0 changes it)")
    cfg.write_text(text)
    edit(cfg, {"vault": {"kind": "http", "url": "https://127.0.0.1:9/",
                         "token_env": "EC_TEST_UNSET_TOKEN"}})
    r = check(cfg, "--offline")
    assert r.returncode == 2
    assert problems(r) == [
        "econnector: vault.token_env: the environment variable EC_TEST_UNSET_TOKEN is not "
        "set; econnector cannot deliver: set it for the service (a systemd drop-in), or use "
        "token_file or token_credential"]


# -- docs/operations.md "Common mistakes" says what check-config really says ---------------


def documented_lines() -> list[str]:
    doc = (DOCS / "operations.md").read_text()
    section = doc.split("## Common mistakes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| [^|]+ \| `(.+?)` \|", section, flags=re.M)


@pytest.mark.parametrize("change", [
    {"folders.outbox": "/mnt/practice/econnector/outbox"},
    {"vault": {"kind": "http", "url": "http://vault.example.lu/", "token_env": "X"}},
    {"vault": {"kind": "http", "url": "https://127.0.0.1:9/",
               "token_env": "ECONNECTOR_VAULT_TOKEN"}},
    {"identities.0.provider_code": 90812100},
    {"identities.0.passphrase_file": None,
     "identities.0.passphrase_env": "ECONNECTOR_PASSPHRASE_90812100"},
    {"identities.0.passphrase_file": None,
     "identities.0.passphrase_credential": "doctor-90812100"},
    {"identities.0.passphrase_credential": "doctor-90812100"},
], ids=lambda c: "-".join(c))
def test_common_mistakes_in_the_docs_are_the_real_lines(tmp_path: Path, change: dict) -> None:  # type: ignore[type-arg]
    ident = make_identity(tmp_path / "id")
    cfg = edit(write_config(tmp_path / "p", [(PROVIDER, ident)]),
               {"identities.0.name": "Dr Anne Muller", **change})
    env = {k: v for k, v in subprocess_env().items()
           if k not in ("ECONNECTOR_VAULT_TOKEN", "ECONNECTOR_PASSPHRASE_90812100",
                        "CREDENTIALS_DIRECTORY")}
    r = subprocess.run(econnector_cmd("check-config", "--offline", "-c", str(cfg)),
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    (line,) = problems(r)
    actual = line.removeprefix("econnector: ")
    documented = documented_lines()
    assert any(actual == d or (d.endswith("...") and actual.startswith(d[:-3].rstrip(" ;")))
               for d in documented), (actual, documented)


def test_the_did_you_mean_line_is_documented(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "p", [(PROVIDER, make_identity(tmp_path / "id"))])
    cfg.write_text(cfg.read_text().replace("identities:", "identites:"))
    actual = check(cfg).stderr.strip().removeprefix("econnector: ")
    assert actual in documented_lines()


# -- any command: a config the schema refuses is one line, never a traceback --------------

def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump(with_("watch.settel_ms", 1)))
    r = subprocess.run(
        [sys.executable, "-m", "econnector.cli", "check-config", "-c", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == ("econnector: watch.settel_ms: unknown key "
                                "(did you mean settle_ms?)")
    assert "Traceback" not in r.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "econnector.cli", "run", "-c", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "config file not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
