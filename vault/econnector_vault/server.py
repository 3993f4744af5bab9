"""Run the reference vault over HTTP(S) with uvicorn: one process, no reload.

``econnector-vault serve`` (:mod:`econnector_vault.cli`) and ``econnector
vault serve`` (the daemon's command line, when the vault is installed) run
:func:`main`, as does ``python -m econnector_vault.server`` (the options only,
without the word ``serve``). Bad startup input (token file, TLS files,
patients file, trust roots, data folder) ends with exit code 2 and one line on stderr,
never a traceback, so service managers show the reason. SIGTERM shuts down
gracefully and exits 0.

Slow clients are bounded by :mod:`econnector_vault.slowguard`: at start the
soft open-file limit is raised to the hard limit and the connection bound is
sized below it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import ipaddress
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from asn1crypto import x509 as asn1_x509
from starlette.types import ASGIApp

from econnector_vault import slowguard
from econnector_vault.app import create_app
from econnector_vault.metadata import is_provider_code
from econnector_vault.patients import PatientDirectory, PatientsFileError, read_patients_file
from econnector_vault.store import DEFAULT_MAX_DOCUMENT_BYTES, VaultStore
from econnector_vault.trust import TrustRootsError, load_trust_roots

__all__ = ["StartupError", "load_patients", "load_tokens", "main", "serve"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_MIB = 1024 * 1024


class StartupError(Exception):
    """A one-line reason the server refuses to start."""


def load_tokens(path: Path) -> dict[str, frozenset[str]]:
    """Bearer tokens and the provider codes each may act for.

    One line per token: the token, whitespace, then a comma-separated list of
    8-digit provider codes (``tok 90812100,90812200``); blank lines and ``#``
    comments are ignored. A token without provider codes is refused rather than
    read as "every provider": that was the hole that let practices act for
    each other.
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise StartupError(f"token file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"token file {path} cannot be read: {exc}") from None
    tokens: dict[str, frozenset[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        token, *rest = stripped.split(None, 1)
        if not token.isprintable() or not token.isascii():
            raise StartupError(
                f"token file {path} line {number}: a token must be printable ASCII without spaces"
            )
        if not rest:
            raise StartupError(
                f"token file {path} line {number}: the token has no provider codes "
                "(write: TOKEN 90812100,90812200)"
            )
        codes = [c.strip() for c in rest[0].split(",")]
        if not all(is_provider_code(c) for c in codes):
            raise StartupError(
                f"token file {path} line {number}: provider codes must be 8 digits, "
                "separated by commas without spaces in between"
            )
        if token in tokens:
            raise StartupError(f"token file {path} line {number}: the token is listed twice")
        tokens[token] = frozenset(codes)
    if not tokens:
        raise StartupError(f"token file {path} holds no token")
    return tokens


def load_patients(path: Path) -> dict[str, str]:
    """A YAML mapping of matricule to digital status (green, blue or red)."""
    try:
        return read_patients_file(path)
    except PatientsFileError as exc:
        raise StartupError(str(exc)) from None


def _load_directory(path: Path) -> PatientDirectory:
    """The patients file as the server follows it (reread when it changes)."""
    try:
        return PatientDirectory.from_file(path)
    except PatientsFileError as exc:
        raise StartupError(str(exc)) from None


def _check_tls(tls_cert: Path | None, tls_key: Path | None) -> None:
    if (tls_cert is None) != (tls_key is None):
        raise StartupError("--tls-cert and --tls-key must be given together")
    if tls_cert is None or tls_key is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls_cert, tls_key)
    except FileNotFoundError as exc:
        raise StartupError(f"TLS file {exc.filename} does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"TLS certificate or key cannot be loaded: {exc}") from None


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port``, ready for uvicorn to listen on.

    Bound here rather than by uvicorn so a port in use, or an address this
    machine does not have, is a StartupError (exit 2, one line), not uvicorn's
    log line and exit 3. ``host`` may be a name: its first address is used.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise StartupError(f"--host {host} cannot be resolved: {exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise StartupError(f"--host {host} is not an address of this machine") from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"port {port} on {host} needs privileges this user lacks") from None
        raise StartupError(f"cannot listen on port {port} on {host}: {exc.strerror}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after its graceful shutdown; we exit 0 instead.

    It also bounds the TLS handshake, which uvicorn leaves at asyncio's 60 s: a
    client that connects and never finishes the handshake holds a descriptor
    that no protocol-level guard sees.
    """

    tls_handshake_timeout = 10.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            with contextlib.suppress(ValueError):
                self._captured_signals.remove(sig)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.config.ssl is None:
            await super().startup(sockets)
            return
        loop = asyncio.get_running_loop()
        original = loop.create_server
        loop.create_server = functools.partial(  # type: ignore[method-assign]
            original, ssl_handshake_timeout=self.tls_handshake_timeout
        )
        try:
            await super().startup(sockets)
        finally:
            loop.create_server = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class _Ready:
    """What the server runs on once every startup check passed."""

    tokens: dict[str, frozenset[str]]
    patients: PatientDirectory
    limits: slowguard.ConnectionLimits
    file_limit: int
    listener: socket.socket
    store: VaultStore


def serve(
    data_dir: Path,
    host: str,
    port: int,
    token_file: Path,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    patients_file: Path | None = None,
    *,
    max_document_bytes: int | None = None,
    enable_faults: bool = False,
    max_connections: int | None = None,
    header_timeout: float = 10.0,
    body_timeout: float = 15.0,
    trust_roots: Sequence[Path] = (),
    patient_simulator: bool = False,
) -> int:
    """Serve the vault API until SIGTERM/SIGINT; the process exit code.

    ``trust_roots`` are PEM files (each may hold several certificates): with
    them the doctor's signature must chain to one of these certificates and its
    signer must have been valid when it signed (:mod:`.trust`). ``enable_faults``
    adds the fault-injection control API (tests only; see
    :mod:`econnector_vault.testing`) and is refused unless ``host`` is loopback.
    ``max_connections`` (default: 4096, or less when the open-file limit is
    lower) is where 503 answers start; see :mod:`.slowguard` for the timeouts.
    ``patients_file`` is reread when it changes (:class:`PatientDirectory`);
    ``patient_simulator`` adds the simulator's routes (tests and demos; refused
    unless ``host`` is loopback).
    """
    try:
        if enable_faults:
            _check_faults_host(host, "--enable-faults")
        if patient_simulator:
            _check_faults_host(host, "--patient-simulator")
        tokens = load_tokens(Path(token_file))
        patients = _load_directory(Path(patients_file)) if patients_file else PatientDirectory()
        _check_tls(Path(tls_cert) if tls_cert else None, Path(tls_key) if tls_key else None)
        roots = _load_roots(trust_roots)
        if max_document_bytes is not None and max_document_bytes < 1:
            raise StartupError("the document size limit must be positive")
        file_limit, limits = _connection_limits(max_connections, header_timeout, body_timeout)
        listener = bind_listener(host, port)  # last: every other refusal leaves the port free
        store = _open_store(Path(data_dir), listener, max_document_bytes, roots)
    except StartupError as exc:
        print(f"econnector vault: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if roots:
        print(f"econnector vault: signatures must chain to one of {len(roots)} trust roots "
              f"from {len(trust_roots)} file(s)", file=sys.stderr)
    ready = _Ready(tokens, patients, limits, file_limit, listener, store)
    config = _uvicorn_config(ready, host, port, tls_cert, tls_key, enable_faults=enable_faults,
                             patient_simulator=patient_simulator)
    server = _Server(config)
    server.tls_handshake_timeout = limits.tls_handshake_timeout
    try:
        server.run(sockets=[listener])
    except SystemExit as exc:  # uvicorn's own startup failures
        return exc.code if isinstance(exc.code, int) and exc.code else EXIT_FAILED
    finally:
        listener.close()
        store.close()
    return EXIT_OK


def _check_faults_host(host: str, flag: str) -> None:
    """``flag`` (a tests-only feature) is refused unless the server listens on loopback.

    The same rule as :func:`econnector_vault.testing.is_loopback_host`, without loading
    the fault machinery for the simulator.
    """
    loopback = host.strip().lower() == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    if not loopback:
        raise StartupError(f"{flag} needs a loopback --host (127.0.0.0/8, ::1 or localhost)")


def _connection_limits(
    max_connections: int | None, header_timeout: float, body_timeout: float
) -> tuple[int, slowguard.ConnectionLimits]:
    """The open-file limit (raised to the hard limit) and the bounds that fit it."""
    if max_connections is not None and max_connections < 1:
        raise StartupError("--max-connections must be positive")
    if not (header_timeout > 0 and body_timeout > 0):
        raise StartupError("--header-timeout and --body-timeout must be positive")
    file_limit = slowguard.raise_file_limit()
    try:
        bound = slowguard.connection_bound(file_limit, max_connections)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    return file_limit, slowguard.ConnectionLimits(
        max_connections=bound, header_timeout=header_timeout, body_timeout=body_timeout
    )


def _load_roots(paths: Sequence[Path]) -> list[asn1_x509.Certificate]:
    """The certificates of the ``--trust-roots`` files (none: trust is not required)."""
    try:
        return load_trust_roots(Path(p) for p in paths)
    except TrustRootsError as exc:
        raise StartupError(str(exc)) from None


def _open_store(
    data_dir: Path,
    listener: socket.socket,
    max_document_bytes: int | None,
    trust_roots: Sequence[asn1_x509.Certificate] = (),
) -> VaultStore:
    try:
        return VaultStore(
            data_dir,
            max_document_bytes=max_document_bytes or DEFAULT_MAX_DOCUMENT_BYTES,
            trust_roots=trust_roots or None,
        )
    except Exception as exc:
        listener.close()
        raise StartupError(f"data folder {data_dir} is not usable: {exc}") from None


def _uvicorn_config(
    ready: _Ready,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    *,
    enable_faults: bool,
    patient_simulator: bool = False,
) -> uvicorn.Config:
    app: ASGIApp = create_app(ready.store, ready.tokens, ready.patients, access_log=True,
                              simulator=patient_simulator)
    if patient_simulator:
        print("econnector vault: the patient simulator is enabled (tests and demos only)",
              file=sys.stderr)
    protocol: type[Any] = slowguard.guarded_protocol_class(ready.limits)
    if enable_faults:
        # Tests only: the control API in front of the app, and the h11 protocol that lets
        # the injector reset or drop a connection.
        from econnector_vault import testing

        app = testing.FaultInjector(app, testing.FaultQueue(), set(ready.tokens))
        protocol = testing.fault_protocol_class(protocol)
        print("econnector vault: fault injection is enabled (tests only)", file=sys.stderr)
    print(
        f"econnector vault: open-file limit {ready.file_limit}, "
        f"connection bound {ready.limits.max_connections}",
        file=sys.stderr,
    )
    return uvicorn.Config(
        app,
        http=protocol,  # bounds connections and answers 503 itself (see slowguard)
        timeout_keep_alive=ready.limits.keep_alive,
        h11_max_incomplete_event_size=16 * 1024,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        lifespan="off",
        access_log=False,  # paths may hold a matricule; the app logs redacted lines
        server_header=False,
        timeout_graceful_shutdown=30,
        workers=1,
        reload=False,
    )


def build_parser(prog: str = "econnector vault serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the reference vault server (vault API v1).",
    )
    parser.add_argument("--data", required=True, type=Path, help="data folder (created if absent)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument(
        "--token-file",
        required=True,
        type=Path,
        help="one line per token: TOKEN PROVIDER[,PROVIDER...] (8-digit provider codes)",
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain (enables HTTPS)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument(
        "--patients",
        type=Path,
        help="YAML mapping matricule -> green|blue|red (reread when the file changes)",
    )
    parser.add_argument(
        "--max-document-mb",
        type=float,
        default=DEFAULT_MAX_DOCUMENT_BYTES / _MIB,
        help="largest accepted document in MiB (default 256)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        help="open connections above which requests get 503 (default 4096, less if the "
        "open-file limit is lower)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a client has to send a complete request head (default 10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=15.0,
        help="a body bringing less than 1 KiB in this many seconds is dropped (default 15)",
    )
    parser.add_argument(
        "--trust-roots",
        action="append",
        type=Path,
        default=[],
        metavar="PEM",
        help="PEM file of trusted root certificates (repeatable; a file may hold several): "
        "signatures must chain to one and their signer must have been valid when signing",
    )
    parser.add_argument(
        "--enable-faults",
        action="store_true",
        help="serve the fault-injection API /v1/_faults (tests only; loopback --host only)",
    )
    parser.add_argument(
        "--patient-simulator",
        action="store_true",
        help="serve /v1/simulator/...: open documents and change digital statuses as a "
        "patient would (tests and demos only; loopback --host only)",
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "econnector vault serve") -> int:
    """``serve``'s options (without the word ``serve``) to exit code."""
    args = build_parser(prog).parse_args(argv)
    if not 0 < args.port < 65536:
        print("econnector vault: --port must be between 1 and 65535", file=sys.stderr)
        return EXIT_USAGE
    if not args.max_document_mb > 0:
        print("econnector vault: --max-document-mb must be positive", file=sys.stderr)
        return EXIT_USAGE
    return serve(
        args.data,
        args.host,
        args.port,
        args.token_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        patients_file=args.patients,
        max_document_bytes=int(args.max_document_mb * _MIB),
        enable_faults=args.enable_faults,
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        trust_roots=args.trust_roots,
        patient_simulator=args.patient_simulator,
    )


if __name__ == "__main__":
    sys.exit(main())
