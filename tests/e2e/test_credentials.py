"""systemd credentials (issue 9, point 9): ``LoadCredential=NAME:FILE`` makes a file
``$CREDENTIALS_DIRECTORY/NAME``, not an environment variable. ``passphrase_credential``
and ``token_credential`` read it. Tested with a real credentials folder (0700, files 0400)
given to the real ``check-config`` and ``run`` processes, and the real vault over TLS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.vault import make_tls, running_vault, subprocess_env, unsigned_pdf


def credentials_dir(folder: Path, secrets: dict[str, str]) -> Path:
    """What systemd makes: a private folder with one read-only file per credential."""
    folder.mkdir(mode=0o700)
    for name, value in secrets.items():
        path = folder / name
        path.write_text(value + "\n")
        os.chmod(path, 0o400)
    return folder


def use_credentials(cfg: Path, passphrase: str | None, token: str | None) -> None:
    doc = yaml.safe_load(cfg.read_text())
    if passphrase:
        ident = doc["identities"][0]
        del ident["passphrase_file"]
        ident["passphrase_credential"] = passphrase
    if token:
        del doc["vault"]["token_file"]
        doc["vault"]["token_credential"] = token
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))


def check(cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in subprocess_env().items() if k != "CREDENTIALS_DIRECTORY"}
    return subprocess.run(econnector_cmd("check-config", "-c", str(cfg)), capture_output=True,
                          text=True, env={**base, **env}, timeout=120)


@pytest.mark.e2e
def test_the_daemon_signs_and_delivers_with_credentials(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    tls = make_tls(tmp_path / "tls")
    with running_vault(tmp_path / "vault", tls=tls) as vp:
        cfg = write_config(tmp_path / "p", [(PROVIDER, ident)], vault=vp)
        use_credentials(cfg, "doctor-90812100", "vault-token")
        # the secrets exist only as credentials
        creds = credentials_dir(tmp_path / "creds", {
            "doctor-90812100": ident.passphrase_file.read_text().strip(),
            "vault-token": vp.token,
        })
        ident.passphrase_file.unlink()
        (tmp_path / "p" / "vault.token").unlink()
        env = {"CREDENTIALS_DIRECTORY": str(creds)}
        r = check(cfg, env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"identity {PROVIDER} (Dr {PROVIDER}): unlocked" in r.stdout
        assert "(answers)" in r.stdout
        with running_daemon(cfg, env) as d:
            drop(d.outbox, "cred", unsigned_pdf("cred"), sidecar("CRED-1"))
            assert d.wait_outcome("cred")["state"] == "delivered", d.log()
            assert d.receipt("cred") is not None


def test_missing_credentials_are_named(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)])
    use_credentials(cfg, "doctor-90812100", None)
    r = check(cfg, {})
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "econnector: identities[0].passphrase_credential: $CREDENTIALS_DIRECTORY is not set, "
        "so the credential doctor-90812100 cannot be read (add "
        "LoadCredential=doctor-90812100:FILE to the unit); identity 90812100 (Dr 90812100) "
        "cannot sign: check the unit's LoadCredential= line (outside systemd, "
        "$CREDENTIALS_DIRECTORY must name the folder)")
    creds = credentials_dir(tmp_path / "creds", {"something-else": "x"})
    r = check(cfg, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert r.returncode == 2
    assert r.stderr.startswith(
        "econnector: identities[0].passphrase_credential: cannot read the credential "
        f"{creds / 'doctor-90812100'} (No such file or directory; "
        "LoadCredential=doctor-90812100:FILE in the unit)"), r.stderr


def test_exactly_one_secret_source(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "p", [(PROVIDER, ident)])
    doc = yaml.safe_load(cfg.read_text())
    doc["identities"][0]["passphrase_credential"] = "doctor"
    cfg.write_text(yaml.safe_dump(doc))
    r = check(cfg, {})
    assert r.returncode == 2
    assert r.stderr.strip() == ("econnector: identities[0]: give exactly one of "
                                "passphrase_file, passphrase_env or passphrase_credential "
                                "(the passphrase), or set unlock: manual so that the doctor "
                                "unlocks it")
