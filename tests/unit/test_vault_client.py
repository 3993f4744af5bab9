"""VaultClient in process: against the ``local`` vault and small ASGI and mock vaults.

The cases that must end alike through the local kind and the real server over HTTP,
TLS, and the outages that need sockets are in tests/e2e/test_vault_client_server.py."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from econnector import logs
from econnector.errors import (
    ConfigError,
    EconnectorError,
    Held,
    PatientOptedOut,
    VaultRejected,
    VaultUnavailable,
)
from econnector.vault_client import (
    Delivery,
    VaultClient,
    error_for_response,
    idempotency_key,
    retry_after_seconds,
    tls_verify_failure,
)
from econnector.vault_transport import LOCAL_TOKEN, local_transport
from econnector_testsupport.vault import MATRICULE, PROVIDER, metadata

T = TypeVar("T")


Factory = Callable[..., VaultClient]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def upload_with(client: VaultClient, meta: Any, path: Path, key: str) -> Delivery:
    async with client:
        return await client.upload(meta, path, key)


def key_for(document_id: str) -> str:
    return idempotency_key(PROVIDER, document_id)


# The client's behaviour against the local kind and the real server over HTTP, case by
# case with the same bodies, is in tests/e2e/test_vault_client_server.py.


def test_local_transport_persists_to_its_data_dir(
    tmp_path: Path, pdf_files: dict[str, Path]
) -> None:
    async def upload_once() -> Delivery:
        async with VaultClient(
            "http://vault.local", LOCAL_TOKEN, transport=local_transport(tmp_path / "v", [PROVIDER])
        ) as client:
            return await client.upload(metadata("persist"), pdf_files["signed"], key_for("persist"))

    first = run(upload_once())
    again = run(upload_once())  # a fresh transport and store over the same folder
    assert not first.replayed and again.replayed
    assert again.vault_document_id == first.vault_document_id
    vid = first.vault_document_id
    assert (tmp_path / "v" / "documents" / vid[3:5] / f"{vid}.pdf").exists()


# -- status mapping through real HTTP (a tiny in-process ASGI vault that misbehaves) ---------------


def misbehaving_vault(status: int, headers: dict[str, str], body: Any) -> httpx.ASGITransport:
    async def endpoint(request: Request) -> Response:
        await request.body()
        if body is None:
            return Response(b"", status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
    return httpx.ASGITransport(app=app)


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code", "retry_after"),
    [
        (503, {"Retry-After": "120"}, None, VaultUnavailable, "vault-unavailable", 120.0),
        (
            429,
            {"Retry-After": "7"},
            {"code": "slow-down"},
            VaultUnavailable,
            "vault-unavailable",
            7,
        ),
        (500, {}, "oops", VaultUnavailable, "vault-unavailable", None),
        (403, {}, None, Held, "vault-unauthorized", None),
        (413, {}, {"code": "too-large"}, VaultRejected, "vault-too-large", None),
        (418, {}, None, VaultUnavailable, "vault-unavailable", None),
        (201, {}, {"unexpected": True}, VaultUnavailable, "vault-unavailable", None),
    ],
)
def test_statuses_map_to_econnector_errors(
    pdf_files: dict[str, Path],
    status: int,
    headers: dict[str, str],
    body: Any,
    kind: type[EconnectorError],
    code: str,
    retry_after: float | None,
) -> None:
    client = VaultClient(
        "http://vault.test", "t", transport=misbehaving_vault(status, headers, body)
    )
    with pytest.raises(kind) as info:
        run(upload_with(client, metadata(), pdf_files["signed"], key_for("x")))
    assert info.value.code == code
    if retry_after is not None:
        assert getattr(info.value, "retry_after", None) == retry_after


def test_error_for_response_is_pure_and_complete() -> None:
    rejected = error_for_response(
        422,
        {
            "code": "metadata-invalid",
            "detail": "The metadata is invalid: patient.matricule.",
            "errors": [{"field": "patient.matricule", "message": "must be 13 digits"}],
        },
        {},
    )
    assert isinstance(rejected, VaultRejected)
    assert rejected.params["vault_code"] == "metadata-invalid"
    assert "patient.matricule" in rejected.params["detail"]
    leaked = error_for_response(400, {"code": "x", "detail": f"bad {MATRICULE}"}, {})
    assert MATRICULE not in str(leaked)
    assert isinstance(error_for_response(401, None, {}), Held)
    conflict = error_for_response(409, {"code": "idempotency-conflict"}, {})
    assert isinstance(conflict, VaultRejected) and conflict.code == "vault-conflict"
    opted_out = error_for_response(422, {"code": "patient-opted-out", "detail": "x"}, {})
    assert isinstance(opted_out, PatientOptedOut) and opted_out.code == "patient-opted-out"
    # Only the 422 with that code: the same code on another status is not trusted as final.
    assert isinstance(error_for_response(400, {"code": "patient-opted-out"}, {}), VaultRejected)


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(" 0 ", now) == 0
    assert retry_after_seconds("Wed, 25 Nov 2026 10:01:30 GMT", now) == 90
    assert retry_after_seconds("Wed, 25 Nov 2026 09:00:00 GMT", now) == 0  # in the past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(None, now) is None


@pytest.fixture
def redacted_library_logs() -> Iterator[None]:
    """The filters the daemon's start installs on httpx's loggers (logs.configure),
    removed afterwards: importing the client installs nothing (issue 10)."""
    before = {n: list(logging.getLogger(n).filters) for n in logs.REDACTED_LOGGERS}
    logs.redact_library_logs()
    yield
    for name, filters in before.items():
        logging.getLogger(name).filters = filters


def test_request_logs_do_not_hold_the_matricule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redacted_library_logs: None
) -> None:
    async def scenario() -> str:
        async with VaultClient(
            "http://vault.local", LOCAL_TOKEN, transport=local_transport(tmp_path / "v", [PROVIDER])
        ) as client:
            return await client.digital_status(MATRICULE)

    with caplog.at_level(logging.DEBUG):
        assert run(scenario()) == "green"
    assert "digital-status" in caplog.text
    assert MATRICULE not in caplog.text


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        VaultClient("https://127.0.0.1:1", "t", ca_bundle=str(tmp_path / "missing.pem"))


def test_idempotency_key_is_deterministic_and_well_formed() -> None:
    key = idempotency_key(PROVIDER, "2026-000123")
    assert key == idempotency_key(PROVIDER, "2026-000123")
    assert key != idempotency_key(PROVIDER, "2026-000124")
    assert key != idempotency_key("12345678", "2026-000123")
    assert re.fullmatch(r"ec1-[0-9a-f]{48}", key)


# -- TLS verification failures are a misconfiguration (held), not an outage ------------------------


def _verify_error(code: int, message: str) -> httpx.ConnectError:
    """An httpx error chained to an ssl verification error, as httpx/httpcore raise it."""
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    cause.verify_code, cause.verify_message = code, message
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise httpx.ConnectError("handshake failed") from exc  # no hint in the text
    except httpx.ConnectError as wrapped:
        return wrapped


def test_tls_verify_failure_reads_the_exception_chain() -> None:
    assert tls_verify_failure(_verify_error(20, "unable to get local issuer certificate")) == (
        "certificate not trusted (check vault.ca_bundle)"
    )
    assert "host name mismatch" in str(tls_verify_failure(_verify_error(64, "IP mismatch")))
    assert "host name mismatch" in str(tls_verify_failure(_verify_error(62, "name mismatch")))
    assert tls_verify_failure(_verify_error(10, "certificate has expired")) == "certificate expired"
    assert tls_verify_failure(httpx.ConnectError("CERTIFICATE_VERIFY_FAILED")) is None
    assert tls_verify_failure(httpx.ReadTimeout("slow")) is None



def test_a_refused_signature_is_held_with_the_vaults_reason_as_a_phrase() -> None:
    from econnector.errors import SignatureHeld
    from econnector.vault_client import error_for_response

    e = error_for_response(422, {"code": "signature-invalid", "reason": "revoked",
                                 "detail": "OCSP says revoked"}, {})
    assert isinstance(e, SignatureHeld) and e.code == "signature-invalid"
    assert e.params["defect"] == "the certificate was revoked when the document was signed"
    unknown = error_for_response(422, {"code": "signature-invalid", "reason": "new"}, {})
    assert unknown.params["defect"] == "the vault gave another reason"
