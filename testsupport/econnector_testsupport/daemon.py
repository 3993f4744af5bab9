"""End-to-end helpers: the real ``econnector run`` process, dropping files as a vendor does,
and the independent checks of a signed PDF (pyHanko's validator and poppler's pdfsig)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector import config, matricule, testid
from econnector_testsupport import privacy
from econnector_testsupport.vault import VaultProcess, subprocess_env

# Set by the test session (conftest.py): signing.workers of every config write_config
# makes, unless the test gives its own. Benchmarks run outside it keep the default.
TEST_WORKERS_ENV = "ECONNECTOR_TEST_SIGNING_WORKERS"
PROVIDER = "90812100"
SECOND_PROVIDER = "90555500"
SIDECAR_MATRICULE = "1893120105732"  # the patient of :func:`sidecar` unless told otherwise


def econnector_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "econnector"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "econnector.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``econnector ARGS`` to completion, output captured as text; ``env`` adds variables."""
    return subprocess.run(econnector_cmd(*args), capture_output=True, text=True,
                          env={**subprocess_env(), **(env or {})}, timeout=120)


def require_tool(name: str) -> str:
    """The path of a Debian tool; in CI its absence fails the test loudly."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI (make deps installs it)")
    pytest.skip(f"{name} is not installed on this developer machine")


def wait_for(
    pred: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    on_fail: Callable[[], str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ("\n" + on_fail()) if on_fail else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(0.05)


def sidecar(
    document_id: str = "2026-000123",
    type_: str = "invoice",
    provider: str = PROVIDER,
    mat: str = SIDECAR_MATRICULE,
    language: str = "fr",
    **extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "schema": "econnector.document/v1",
        "document_id": document_id,
        "type": type_,
        "issued_at": "2026-11-25T10:15:00+01:00",
        "language": language,
        "patient": {"matricule": mat, "last_name": "Weber", "first_name": "Anne", "insurer": "CNS"},
        "author": {"provider_code": provider},
        "submitted_by": "anna",
    }
    if type_ == "invoice":
        meta["invoice"] = {"total": "84.60", "currency": "EUR", "paid": False}
    meta.update(extra)
    return meta


def unique_matricule(n: int) -> str:
    value = matricule.make(f"19{50 + n % 50:02d}0{1 + n % 9}1{n % 9}", f"{n % 1000:03d}")
    privacy.record_value("matricule", value)  # must never reach a log (privacy check)
    return value


def drop(
    outbox: Path,
    stem: str,
    pdf: bytes,
    meta: dict[str, Any] | str | bytes,
    fmt: str = "yaml",
    sidecar_first: bool = False,
    atomic: bool = True,
) -> None:
    """Write a pair the way a careful vendor does (temp name, then rename).

    The stem and the patient's matricule and names are recorded for the session's
    privacy check (:mod:`.privacy`): no daemon log may show them."""
    privacy.record_sidecar(meta, stem)
    if isinstance(meta, dict):
        text = (
            yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
            if fmt == "yaml"
            else json.dumps(meta, indent=2)
        )
        side = text.encode("utf-8")
    elif isinstance(meta, str):
        side = meta.encode("utf-8")
    else:
        side = meta
    items = [(f"{stem}.pdf", pdf), (f"{stem}.{fmt}", side)]
    if sidecar_first:
        items.reverse()
    for name, data in items:
        if atomic:
            tmp = outbox / f"{name}.part"
            tmp.write_bytes(data)
            os.replace(tmp, outbox / name)
        else:
            (outbox / name).write_bytes(data)


def slow_write(path: Path, data: bytes, chunks: int = 4, pause: float = 0.4) -> None:
    """A writer that leaves the file incomplete for longer than ``settle`` between bursts."""
    step = max(1, len(data) // chunks)
    with open(path, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(pause)


@dataclass
class Daemon:
    root: Path
    config: Path
    proc: subprocess.Popen[bytes] | None
    log_path: Path

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    def log(self) -> str:
        out = self.log_path.read_text("utf-8", errors="replace") if self.log_path.exists() else ""
        return out[-6000:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def status(self, stem: str) -> dict[str, Any] | None:
        p = self.inbox / f"{stem}.status.json"
        try:
            return json.loads(p.read_text("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def health(self) -> dict[str, Any]:
        """``work/daemon-status.json`` as the daemon last wrote it; empty before the first
        write (or while a write is being replaced)."""
        try:
            health: dict[str, Any] = json.loads(
                (self.root / "work" / "daemon-status.json").read_text("utf-8")
            )
        except (OSError, ValueError):
            return {}
        return health

    def receipt(self, stem: str) -> dict[str, Any] | None:
        p = self.inbox / f"{stem}.receipt.json"
        return json.loads(p.read_text("utf-8")) if p.exists() else None

    def error(self, stem: str) -> dict[str, Any] | None:
        p = self.inbox / f"{stem}.error.json"
        return json.loads(p.read_text("utf-8")) if p.exists() else None

    def wait_outcome(self, stem: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the final status file (delivered or rejected) of ``stem``."""

        def done() -> dict[str, Any] | None:
            s = self.status(stem)
            return s if s and s["state"] in ("delivered", "rejected") else None

        return wait_for(
            done,
            timeout,
            f"an outcome for {stem}",
            on_fail=lambda: f"status={self.status(stem)}\nlog:\n{self.log()}",
        )

    def archived(self) -> list[Path]:
        return sorted(p for p in self.archive.rglob("*") if p.is_file())


def make_identity(folder: Path, provider: str = PROVIDER) -> testid.TestIdentity:
    return testid.make_identity(folder, provider, f"Dr {provider}")


def write_config(
    root: Path,
    identities: list[tuple[str, testid.TestIdentity]],
    vault: VaultProcess | None = None,
    vault_url: str | None = None,
    token: str | None = None,
    ca_bundle: Path | None = None,
    **sections: dict[str, Any],
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "schema": "econnector.config/v1",
        "folders": {"root": str(root)},
        "watch": {"settle_ms": 100, "rescan_interval_s": 1, "incomplete_timeout_s": 2},
        "identities": [
            {
                "provider_code": pc,
                "name": f"Dr {pc}",
                "pkcs12": str(ti.pkcs12),
                "passphrase_file": str(ti.passphrase_file),
            }
            for pc, ti in identities
        ],
        "retry": {"base_s": 0.2, "cap_s": 1.0},
        # Off unless a test asks for it (heartbeat={"enabled": True, ...}): tests list
        # the inbox exactly, and inbox/_econnector.json is the daemon's, not a document's.
        "heartbeat": {"enabled": False},
        "logging": {"file": str(root / "econnector.log"), "level": "debug"},
    }
    if vault is not None or vault_url is not None:
        tok = root / "vault.token"
        tok.write_text((token or (vault.token if vault else "")) + "\n")
        tok.chmod(0o600)
        doc["vault"] = {
            "kind": "http",
            "url": vault.base_url if vault else vault_url,
            "token_file": str(tok),
        }
        ca = ca_bundle or (vault.ca_bundle if vault else None)
        if ca:
            doc["vault"]["ca_bundle"] = str(ca)
    else:
        doc["vault"] = {"kind": "local"}
    workers = os.environ.get(TEST_WORKERS_ENV)
    if workers:  # the test session's default (conftest.py); a test's signing= wins
        doc["signing"] = {"workers": int(workers)}
    for key, value in sections.items():
        doc.setdefault(key, {}).update(value)
    path = root / "econnector.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    if doc["logging"].get("file", "-") != "-":
        privacy.record_log(root / doc["logging"]["file"])  # scanned at the session's end
    return path


def inprocess_config(
    tmp_path: Path, ident: testid.TestIdentity, retry_base: float, retry_cap: float
) -> config.Config:
    """A fast config on the local vault, for tests that drive a Pipeline in process;
    its outbox exists."""
    cfg = config.parse({
        "schema": "econnector.config/v1",
        "folders": {"root": str(tmp_path / "practice")},
        "watch": {"settle_ms": 50, "rescan_interval_s": 0.2},
        "identities": [{"provider_code": PROVIDER, "name": "Dr T", "pkcs12": str(ident.pkcs12),
                        "passphrase_file": str(ident.passphrase_file)}],
        "vault": {"kind": "local"},
        "retry": {"base_s": retry_base, "cap_s": retry_cap},
    }, tmp_path)
    cfg.folders.outbox.mkdir(parents=True)
    return cfg


@contextlib.contextmanager
def running_daemon(
    config: Path, env: dict[str, str] | None = None, prefix: Sequence[str] = (),
    **popen: Any,
) -> Iterator[Daemon]:
    """The real ``econnector run`` process; on exit it must stop cleanly on SIGTERM.

    ``prefix`` goes before the command (e.g. ``setpriv ...`` to run it with fewer
    privileges); ``popen`` goes to ``subprocess.Popen`` (e.g. ``group=``)."""
    root = config.parent / yaml.safe_load(config.read_text())["folders"]["root"]
    stderr_path = root / "daemon.stderr"
    privacy.record_log(stderr_path)  # scanned at the session's end (privacy check)
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [*prefix, *econnector_cmd("run", "-c", str(config))],
            stdout=err,
            stderr=subprocess.STDOUT,
            env={**subprocess_env(), **(env or {})},
            **popen,
        )
    d = Daemon(root, config, proc, root / "econnector.log")
    try:
        wait_for(
            lambda: b"watching" in stderr_path.read_bytes() or proc.poll() is not None,
            30,
            "the daemon to start",
        )
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited: {stderr_path.read_text()}")
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("the daemon did not stop within 30 s of SIGTERM") from None
            assert rc == 0, f"daemon exit code {rc}: {stderr_path.read_text()[-3000:]}"


# -- independent checks of signed PDFs -------------------------------------------------------


def pdfsig(path: Path) -> str:
    tool = require_tool("pdfsig")
    r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def assert_pdfsig_last_valid(path: Path) -> None:
    out = pdfsig(path)
    blocks = out.split("Signature #")
    assert len(blocks) >= 2, out
    last = blocks[-1]
    assert "Signature Validation: Signature is Valid." in last, out
    assert "Total document signed" in last, out


def pyhanko_status(path: Path, trust_root: Path) -> Any:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = load_cert_from_pemder(str(trust_root))
    vc = ValidationContext(trust_roots=[root], allow_fetching=False)
    with open(path, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        sigs = reader.embedded_signatures
        last = validate_pdf_signature(sigs[-1], vc)
        earlier = [validate_pdf_signature(s).intact for s in sigs[:-1]]
    return last, earlier
