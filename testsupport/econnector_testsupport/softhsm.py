"""A real SoftHSM2 token made at test time, as a pytest plugin (``softhsm`` fixture).

Each test session gets its own token folder and ``SOFTHSM2_CONF`` (set in this
process's environment, so a daemon started by the test, and its signing workers,
see the same tokens: ``SOFTHSM2_CONF`` is on :mod:`econnector.hardening`'s
allow-list). A token holds a TEST identity's key (RSA, imported as PKCS#8 with
``softhsm2-util``) and its certificate (written with ``pkcs11-tool``), selected by
label as the daemon selects it. In CI a missing tool fails the test loudly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from econnector import testid
from econnector_testsupport.daemon import require_tool, write_config

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


def softhsm_module() -> Path:
    """The SoftHSM2 PKCS#11 module; in CI its absence fails the test."""
    for p in MODULE_CANDIDATES:
        if Path(p).is_file():
            return Path(p)
    if os.environ.get("CI"):
        pytest.fail("SoftHSM2 (libsofthsm2.so) is required in CI (make deps installs softhsm2)")
    pytest.skip("SoftHSM2 is not installed on this developer machine")


@dataclass(frozen=True)
class SoftToken:
    """One initialized token holding one identity's key and certificate."""

    hsm: SoftHsm
    label: str
    pin: str
    key_label: str
    key_id: str  # hex
    identity: testid.TestIdentity

    def pkcs11(self, **override: Any) -> dict[str, Any]:
        """The identity's ``pkcs11`` config section for this token."""
        return {"module": str(self.hsm.module), "token_label": self.label,
                "key_label": self.key_label, **override}

    def delete(self) -> None:
        """Remove the token (as if the card were pulled out for good)."""
        self.hsm.run("softhsm2-util", "--delete-token", "--token", self.label)


@dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM2 with its own token folder (``conf`` is its SOFTHSM2_CONF)."""

    folder: Path
    conf: Path
    module: Path

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def run(self, *cmd: str) -> str:
        tool = require_tool(cmd[0])
        r = subprocess.run([tool, *cmd[1:]], capture_output=True, text=True, timeout=60,
                           env={**os.environ, **self.env()})
        if r.returncode != 0:
            # Never show the command line: it carries the PIN.
            raise AssertionError(f"{cmd[0]} {cmd[1]} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def init_token(self, label: str, pin: str) -> None:
        self.run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                 "--so-pin", secrets.token_hex(8))

    def planned(self, label: str, provider: str = "90812100", pin: str | None = None
                ) -> SoftToken:
        """A token's description before it exists (to configure a token not plugged in
        yet); :meth:`token` with the same label, PIN and identity makes it."""
        ident = testid.make_identity(self.folder / f"planned-{label}", provider,
                                     f"Dr {provider}")
        return SoftToken(self, label, pin or secrets.token_urlsafe(12), "signer", "01", ident)

    def token(self, label: str, provider: str = "90812100", pin: str | None = None,
              key_label: str = "signer", key_id: str = "01",
              identity: testid.TestIdentity | None = None) -> SoftToken:
        """A new token ``label`` with a TEST identity's key and certificate on it (a new
        identity for ``provider`` unless one is given). The PIN is random unless given."""
        pin = pin or secrets.token_urlsafe(12)
        work = self.folder / f"import-{label}"
        work.mkdir(parents=True, exist_ok=True)
        ident = identity or testid.make_identity(work, provider, f"Dr {provider}")
        passphrase = ident.passphrase_file.read_bytes().rstrip(b"\r\n")
        key, cert, _ = pkcs12.load_key_and_certificates(ident.pkcs12.read_bytes(), passphrase)
        assert key is not None and cert is not None
        key_pem, cert_der = work / "key.p8.pem", work / "cert.der"
        fd = os.open(key_pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        try:
            self.init_token(label, pin)
            self.run("softhsm2-util", "--import", str(key_pem), "--token", label,
                     "--label", key_label, "--id", key_id, "--pin", pin)
            self.run("pkcs11-tool", "--module", str(self.module), "--token-label", label,
                     "--login", "--pin", pin, "--write-object", str(cert_der),
                     "--type", "cert", "--label", key_label, "--id", key_id)
        finally:
            key_pem.unlink(missing_ok=True)
        return SoftToken(self, label, pin, key_label, key_id, ident)


def token_config(root: Path, token: SoftToken, provider: str = "90812100",
                 **ident: Any) -> Path:
    """A practice (``daemon.write_config``) whose one identity is the key on ``token``;
    ``ident`` adds keys (``unlock``, ``passphrase_file``, ...)."""
    cfg = write_config(root, [(provider, token.identity)])
    doc = yaml.safe_load(cfg.read_text())
    doc["identities"] = [{"provider_code": provider, "name": f"Dr {provider}",
                          "pkcs11": token.pkcs11(), **ident}]
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


def make_softhsm(folder: Path) -> SoftHsm:
    """A SoftHSM2 configuration whose tokens live in ``folder/tokens``."""
    module = softhsm_module()
    require_tool("softhsm2-util")
    require_tool("pkcs11-tool")
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    return SoftHsm(folder, conf, module)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """This session's SoftHSM2, with ``SOFTHSM2_CONF`` set for this process and the
    processes it starts (the daemon, its signing workers, the tools)."""
    hsm = make_softhsm(tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(hsm.conf))
        yield hsm
    shutil.rmtree(hsm.folder / "tokens", ignore_errors=True)
