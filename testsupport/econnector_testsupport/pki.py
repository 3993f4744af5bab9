"""The loopback test PKI: certomancer's CAs, OCSP responder, CRLs and TSA over real HTTP.

A root and an intermediate CA issue the TEST doctors (one per way a signer
certificate can be wrong: revoked, expired, not yet valid, wrong key usage), a TSA
and an OCSP responder. The configuration is the template ``tests/pki/`` keeps;
:func:`start_pki` fills in the dates (relative to "now"), the key folder and the URL
prefix, generates the keys, and serves certomancer's Animator with werkzeug on
127.0.0.1 from two servers, so the TSA and the revocation services (OCSP, CRLs,
certificates) can each be taken down on their own. The ports are bound before any
certificate is issued, so the AIA and CRL distribution point URLs are the real ones.

Tests use the session fixture ``pki``; the benchmark runs the same PKI as its own
process: ``python -m econnector_testsupport.pki serve --dir D`` (one JSON line on
stdout, then serves until SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from asn1crypto import pem, x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    PKIArchitecture,
    ServiceLabel,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from econnector.testid import TEST_SERIAL_PREFIX
from econnector_testsupport.paths import REPO

TEMPLATE = REPO / "tests" / "pki" / "certomancer.yml.template"
ARCH = ArchLabel("econnector-test")
HOST = "127.0.0.1"
SERVICES = ("tsa", "revocation")
HIT_KINDS = ("tsa", "ocsp", "crl", "cert")
# certomancer issues CRLs at the issuer's notBefore plus whole steps of this. The CAs
# start exactly 365 days before "now", so the current CRL's thisUpdate is the PKI's
# start (yesterday's revocation is on it) and it stays current for a whole day: no
# CRL turns stale between signing and validating within a test run.
CRL_SCHEDULE = "P1D"
_CN = re.compile(r"^TEST (?P<name>.+) \((?P<code>\d+)\) - NOT A REAL DOCTOR$")

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Doctor:
    """A TEST doctor's material on disk (the key also as PKCS#8 PEM for SoftHSM import)."""

    provider_code: str
    name: str
    pkcs12: Path
    passphrase_file: Path
    key_pem: Path
    cert_der: Path
    cert_pem: Path


class _Gate:
    """The WSGI app in front of certomancer: which paths this server answers, the 503
    switch, and the hit counters. The Animator is plugged in once the ports are bound."""

    def __init__(self, kinds: Iterable[str], hits: dict[str, int], lock: threading.Lock):
        self.kinds = frozenset(kinds)
        self.hits = hits
        self.lock = lock
        self.unavailable = False
        self.animator: Animator | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        kind = _kind(environ.get("PATH_INFO", ""))
        if kind not in self.kinds or self.animator is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not served here\n"]
        if self.unavailable:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"test outage\n"]
        with self.lock:
            self.hits[kind] += 1
        result: Iterable[bytes] = self.animator(environ, start_response)
        return result


def _kind(path: str) -> str:
    parts = path.strip("/").split("/")
    segment = parts[1] if len(parts) > 1 else ""
    return {"tsa": "tsa", "ocsp": "ocsp", "crls": "crl", "certs": "cert"}.get(segment, "")


class _QuietHandler(WSGIRequestHandler):
    # HTTP/1.0: one request per connection, so a server taken down refuses at once
    # instead of a pooled keep-alive connection still being answered.
    protocol_version = "HTTP/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server:
    """One werkzeug server on a fixed loopback port that can stop and start again."""

    def __init__(self, gate: _Gate, port: int = 0):
        self.gate = gate
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self._bind()

    def _bind(self) -> None:
        self._server = make_server(HOST, self.port, self.gate, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port

    def serve(self) -> None:
        for attempt in range(50):  # the port we let go of may linger a moment
            if self._server is not None:
                break
            try:
                self._bind()
            except OSError as e:
                if e.errno != errno.EADDRINUSE or attempt == 49:
                    raise
                time.sleep(0.1)
        if self._thread is None:
            assert self._server is not None
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name=f"pki-{self.port}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server, self._thread = None, None

    @property
    def listening(self) -> bool:
        return self._thread is not None


class TestPki:
    """A running loopback PKI: its files, its URLs, and switches for outages."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path, arch: PKIArchitecture, servers: dict[str, _Server],
                 hits: dict[str, int], lock: threading.Lock, tsa_url: str,
                 revocation_base_url: str, root_pem: Path, intermediate_pem: Path,
                 tsa_cert_pem: Path, doctors: dict[str, Doctor]):
        self.folder = folder
        self.arch = arch
        self.tsa_url = tsa_url
        self.revocation_base_url = revocation_base_url
        self.root_pem = root_pem
        self.intermediate_pem = intermediate_pem
        self.tsa_cert_pem = tsa_cert_pem
        self.doctors = doctors
        self._servers = servers
        self._hits = hits
        self._lock = lock
        self._switch = threading.Lock()

    def down(self, service: str, how: str = "refuse") -> None:
        """Take ``service`` ("tsa" | "revocation") down: "refuse" closes its port (kept
        for :meth:`up`), "503" keeps it listening and answers 503."""
        server = self._server(service)
        if how not in ("refuse", "503"):
            raise ValueError(f"unknown outage {how!r} (refuse | 503)")
        with self._switch:
            if how == "refuse":
                server.stop()
                server.gate.unavailable = False
            else:
                server.serve()
                server.gate.unavailable = True

    def up(self, service: str) -> None:
        """Bring ``service`` back on its port, answering normally (idempotent)."""
        server = self._server(service)
        with self._switch:
            server.gate.unavailable = False
            server.serve()

    def restore(self) -> None:
        """Every service up: what each test finds, whatever the one before did."""
        for service in SERVICES:
            self.up(service)

    @contextlib.contextmanager
    def outage(self, service: str, how: str = "refuse") -> Iterator[None]:
        """``with pki.outage("tsa"): ...``: down inside, up again however the block ends."""
        self.down(service, how)
        try:
            yield
        finally:
            self.up(service)

    def hits(self, service: str) -> int:
        """Requests answered so far by "tsa", "ocsp", "crl" or "cert" (not 503s)."""
        if service not in HIT_KINDS:
            raise ValueError(f"unknown service {service!r} ({', '.join(HIT_KINDS)})")
        with self._lock:
            return self._hits[service]

    def close(self) -> None:
        with self._switch:
            for server in self._servers.values():
                server.stop()

    def describe(self) -> dict[str, Any]:
        """What ``serve`` prints: URLs and paths, as JSON-ready values."""
        return {
            "tsa_url": self.tsa_url,
            "revocation_base_url": self.revocation_base_url,
            "folder": str(self.folder),
            "root_pem": str(self.root_pem),
            "intermediate_pem": str(self.intermediate_pem),
            "tsa_cert_pem": str(self.tsa_cert_pem),
            "doctors": {label: {k: str(v) for k, v in asdict(d).items()}
                        for label, d in self.doctors.items()},
            "pid": os.getpid(),
        }

    def _server(self, service: str) -> _Server:
        try:
            return self._servers[service]
        except KeyError:
            raise ValueError(f"unknown service {service!r} (tsa | revocation)") from None


def start_pki(folder: Path, now: dt.datetime | None = None, *,
              tsa_port: int = 0, revocation_port: int = 0) -> TestPki:
    """Generate, issue and serve the test PKI in ``folder`` (created; material replaced).

    ``now`` anchors the validity dates (default: the clock); the services always answer
    at the real time. Ports 0 pick free ones.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    folder.mkdir(parents=True, exist_ok=True)
    hits = dict.fromkeys(HIT_KINDS, 0)
    lock = threading.Lock()
    servers: dict[str, _Server] = {}
    try:
        # bound first: the certificates carry the revocation server's URLs
        servers["tsa"] = _Server(_Gate(["tsa"], hits, lock), tsa_port)
        servers["revocation"] = _Server(_Gate(["ocsp", "crl", "cert"], hits, lock),
                                        revocation_port)
        prefix = f"http://{HOST}:{servers['revocation'].port}"
        config = _render(folder, now, prefix)
        _generate_keys(config)
        cfg = CertomancerConfig(config, key_search_dir=str(folder), external_url_prefix=prefix)
        arch = cfg.get_pki_arch(ARCH)
        animator = Animator(AnimatorArchStore(cfg.pki_archs), with_web_ui=False)
        pki = _export(folder, arch, servers, hits, lock, prefix)
        for server in servers.values():
            server.gate.animator = animator
            server.serve()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return pki


def _render(folder: Path, now: dt.datetime, prefix: str) -> dict[str, Any]:
    def at(days: int) -> str:
        return f"{now + dt.timedelta(days=days):%Y-%m-%dT%H:%M:%S}+0000"

    keys = folder / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    text = string.Template(TEMPLATE.read_text()).substitute(
        url_prefix=prefix, keys_dir=str(keys), crl_schedule=CRL_SCHEDULE,
        ca_from=at(-365), ca_to=at(3650), doctor_from=at(-30), doctor_to=at(730),
        yesterday=at(-1), tomorrow=at(1), expired_from=at(-400), future_to=at(731),
    )
    (folder / "certomancer.yml").write_text(text)  # what was served, for a human to read
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def _generate_keys(config: dict[str, Any]) -> None:
    """An RSA-2048 key (unencrypted PKCS#8 PEM, 0600) for every key the config names."""
    for keyset in config["keysets"].values():
        prefix = Path(keyset.get("path-prefix", ""))
        for entry in keyset["keys"].values():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write(prefix / entry["path"], key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()), 0o600)


def _export(folder: Path, arch: PKIArchitecture, servers: dict[str, _Server],
            hits: dict[str, int], lock: threading.Lock, prefix: str) -> TestPki:
    def cert_pem(label: str, name: str) -> Path:
        path = folder / name
        _write(path, pem.armor("CERTIFICATE", arch.get_cert(CertLabel(label)).dump()), 0o644)
        return path

    root, interm, tsa = cert_pem("root", "root.pem"), cert_pem("interm", "intermediate.pem"), \
        cert_pem("tsa", "tsa.pem")
    cert_pem("interm-ocsp", "ocsp-responder.pem")
    doctors: dict[str, Doctor] = {}
    for _issuer, specs in arch.enumerate_certs_by_issuer():
        for spec in specs:
            doctor = _export_doctor(folder, arch, spec.label)
            if doctor is not None:
                doctors[str(spec.label)] = doctor
    tsa_path = arch.service_registry.get_tsa_info(ServiceLabel("tsa")).url.removeprefix(prefix)
    return TestPki(folder, arch, servers, hits, lock,
                   tsa_url=f"http://{HOST}:{servers['tsa'].port}{tsa_path}",
                   revocation_base_url=prefix, root_pem=root, intermediate_pem=interm,
                   tsa_cert_pem=tsa, doctors=doctors)


def _export_doctor(folder: Path, arch: PKIArchitecture, label: CertLabel) -> Doctor | None:
    """A doctor's files, if ``label`` is a doctor (its subject has a TEST serialNumber)."""
    cert: x509.Certificate = arch.get_cert(label)
    subject = cert.subject.native
    serial = str(subject.get("serial_number", ""))
    match = _CN.match(str(subject.get("common_name", "")))
    if not serial.startswith(TEST_SERIAL_PREFIX) or match is None:
        return None
    code = serial.removeprefix(TEST_SERIAL_PREFIX)
    assert match["code"] == code, f"{label}: CN and serialNumber disagree"
    out = folder / "doctors" / str(label)
    out.mkdir(parents=True, exist_ok=True)
    passphrase = secrets.token_urlsafe(18)
    p12 = out / f"{code}.p12"
    pass_file = out / f"{code}.passphrase"
    _write(p12, arch.package_pkcs12(label, password=passphrase.encode()), 0o600)
    _write(pass_file, passphrase.encode() + b"\n", 0o600)
    der, pem_path = out / f"{code}.cert.der", out / f"{code}.cert.pem"
    _write(der, cert.dump(), 0o644)
    _write(pem_path, pem.armor("CERTIFICATE", cert.dump()), 0o644)
    key_file = Path(arch.key_set[arch.get_cert_spec(label).subject_key].path)
    return Doctor(provider_code=code, name=match["name"], pkcs12=p12,
                  passphrase_file=pass_file, key_pem=key_file, cert_der=der, cert_pem=pem_path)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write with ``mode`` from the first byte (a secret is never briefly world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# -- pytest -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    """The loopback test PKI, one per session (per xdist worker)."""
    running = start_pki(tmp_path_factory.mktemp("pki"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(autouse=True)
def _pki_services_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that uses ``pki``, every service is up again, whatever it did."""
    running = request.getfixturevalue("pki") if "pki" in request.fixturenames else None
    yield
    if running is not None:
        running.restore()


# -- the benchmark's process ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m econnector_testsupport.pki")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="write the PKI into --dir, print one JSON line, serve")
    serve.add_argument("--dir", type=Path, required=True)
    serve.add_argument("--tsa-port", type=int, default=0)
    serve.add_argument("--revocation-port", type=int, default=0)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    running = start_pki(args.dir.resolve(), tsa_port=args.tsa_port,
                        revocation_port=args.revocation_port)
    try:
        sys.stdout.write(json.dumps(running.describe()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        running.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
