"""The daemon's client for the vault API v1, and the in-process ``local`` vault.

This is the only module that talks HTTP to a vault, so it is the only place
where httpx exceptions and HTTP statuses become econnector errors: transient
trouble (network, timeouts, 5xx, 429) is :class:`VaultUnavailable`, refused
credentials and an untrusted vault certificate are :class:`Held` (a person must
fix the configuration; retrying alone never helps), a patient who opted out is
:class:`PatientOptedOut`, and a refusal of the document itself is
:class:`VaultRejected`. :func:`preflight` asks the same questions for
``econnector check-config`` and answers in one line per problem. The
patient's matricule never appears in exception text (and :mod:`econnector.logs`
redacts httpx's request log lines for the same reason).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import quote

import httpx

from econnector import __version__
from econnector.errors import (
    ConfigError,
    EconnectorError,
    FileBusy,
    PatientOptedOut,
    SignatureHeld,
    VaultHeld,
    VaultRejected,
    VaultUnavailable,
    causes,
)
from econnector.matricule import mask_text

__all__ = [
    "DEFAULT_TIMEOUT",
    "Delivery",
    "VaultClient",
    "error_for_response",
    "idempotency_key",
    "preflight",
    "retry_after_seconds",
    "tls_verify_failure",
]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=60.0, pool=5.0)
_DIGITAL_STATUSES = frozenset({"green", "blue", "red"})
_MAX_DETAIL = 300


def _redact(text: str) -> str:
    """``text`` with anything shaped like a matricule (13 digits) masked, no digit kept:
    this text leaves for error files and ``check-config`` (httpx's own log lines
    are masked the same way by :func:`econnector.logs.configure`)."""
    return mask_text(text, reveal=False)


# -- pure decisions -------------------------------------------------------------------------------


def idempotency_key(provider_code: str, document_id: str) -> str:
    """The Idempotency-Key for one document of one provider; stable across restarts.

    Deterministic so a retry after a crash or a lost answer replays instead of
    storing (and billing) the document twice.
    """
    digest = hashlib.sha256(f"econnector/v1\0{provider_code}\0{document_id}".encode()).hexdigest()
    return "ec1-" + digest[:48]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, math.ceil(delta))


def _problem_of(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


# The vault's reasons for ``signature-invalid`` (docs/vault-api.md), as the phrases the
# staff read (messages/phrases.py translates them).
VAULT_SIGNATURE_REASONS: Final[dict[str, str]] = {
    "missing": "the signature is missing",
    "integrity": "the signed content does not match the signature",
    "not-trusted": "the certificate does not chain to the trust roots",
    "signer-expired-at-signing-time": "the certificate had expired when the document was signed",
    "signer-not-yet-valid-at-signing-time":
        "the certificate was not yet valid when the document was signed",
    "revoked": "the certificate was revoked when the document was signed",
    "key-usage": "the certificate is not made for signatures",
}


def error_for_response(
    status: int, problem: Mapping[str, Any] | None, headers: Mapping[str, str]
) -> EconnectorError:
    """The econnector error for a non-success vault answer (pure: no I/O)."""
    p = dict(problem or {})
    if status in (401, 403):
        return VaultHeld("vault-unauthorized", status=status)
    if status == 409:
        return VaultRejected("vault-conflict", status=status, vault_code=p.get("code"))
    if status == 413:
        return VaultRejected("vault-too-large", status=status, vault_code=p.get("code"))
    if status == 422 and p.get("code") == "patient-opted-out":
        # Final, not a defect: resending can never succeed, and nothing needs correcting.
        return PatientOptedOut("patient-opted-out", status=status, vault_code="patient-opted-out")
    if status == 422 and p.get("code") == "signature-invalid":
        # Our signature, refused by a vault that checks it: never the document's fault,
        # so it waits (held) instead of going to failed/.
        return SignatureHeld("signature-invalid", status=status,
                             defect=VAULT_SIGNATURE_REASONS.get(str(p.get("reason")),
                                                                "the vault gave another reason"))
    if status in (400, 422):
        vault_code = str(p.get("code") or "unknown")
        detail = str(p.get("detail") or p.get("title") or f"HTTP {status}")
        fields = [
            str(e.get("field"))
            for e in p.get("errors") or []
            if isinstance(e, dict) and e.get("field")
        ]
        if fields:
            detail += " [fields: " + ", ".join(fields) + "]"
        return VaultRejected(
            "vault-rejected",
            status=status,
            vault_code=vault_code,
            detail=_redact(detail)[:_MAX_DETAIL],
        )
    retry_after = retry_after_seconds(headers.get("retry-after"))
    if status == 429 or status >= 500:
        return VaultUnavailable(
            "vault-unavailable", detail=f"HTTP {status}", retry_after=retry_after, status=status
        )
    return VaultUnavailable(
        "vault-unavailable",
        detail=f"unexpected HTTP {status}",
        retry_after=retry_after,
        status=status,
    )


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = frozenset({62, 64})
_CERT_EXPIRED, _CERT_NOT_YET_VALID = 10, 9


def tls_verify_failure(exc: BaseException) -> str | None:
    """A short reason when ``exc`` was caused by a failed TLS certificate check, else None.

    Found through the exception chain (``ssl.SSLCertVerificationError``), not by
    matching message text, which differs between OpenSSL versions.
    """
    for link in causes(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            code = getattr(link, "verify_code", None)
            if code in _NAME_MISMATCH:
                return "host name mismatch (the certificate is not for the host in vault.url)"
            if code == _CERT_EXPIRED:
                return "certificate expired"
            if code == _CERT_NOT_YET_VALID:
                return "certificate not yet valid (check the computer's clock)"
            return "certificate not trusted (check vault.ca_bundle)"
    return None


def _transport_error(exc: httpx.HTTPError) -> VaultUnavailable | VaultHeld:
    """Network trouble is transient; a certificate that fails verification is a misconfiguration."""
    tls = tls_verify_failure(exc)
    if tls is not None:
        return VaultHeld("vault-tls", detail=tls)
    if isinstance(exc, httpx.TimeoutException):
        what = f"timeout ({type(exc).__name__})"
    else:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return VaultUnavailable("vault-unavailable", detail=_redact(what)[:_MAX_DETAIL])


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What the vault confirmed; ``replayed`` is True when it answered 200 (seen before)."""

    vault_document_id: str
    received_at: str
    sha256: str
    fee_amount: str
    fee_currency: str
    replayed: bool


def _delivery(body: Any, replayed: bool) -> Delivery:
    try:
        fee = body["fee"]
        return Delivery(
            vault_document_id=str(body["vault_document_id"]),
            received_at=str(body["received_at"]),
            sha256=str(body["sha256"]),
            fee_amount=str(fee["amount"]),
            fee_currency=str(fee["currency"]),
            replayed=replayed,
        )
    except (KeyError, TypeError) as exc:
        raise VaultUnavailable(
            "vault-unavailable", detail=f"malformed receipt (missing {exc})"
        ) from None


# -- the client -----------------------------------------------------------------------------------


class VaultClient:
    """One pooled HTTP connection set to one vault; TLS verification is always on."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_bundle: str | None = None,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # With a bundle, trust exactly that CA (a private vault PKI); otherwise
        # httpx's default public roots.
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"the vault CA bundle cannot be loaded: {exc}", ca_bundle
                ) from None
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"econnector/{__version__}",
            },
            verify=verify,
            timeout=timeout or DEFAULT_TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def base_url(self) -> str:
        """The vault's URL as configured (no credentials in it), for messages."""
        return str(self._client.base_url).rstrip("/")

    def set_token(self, token: str) -> None:
        """Use a new bearer token from now on (IT replaced the token file)."""
        self._client.headers["Authorization"] = f"Bearer {token}"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> VaultClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get_raw(self, path: str) -> httpx.Response:
        """GET ``path`` and read the answer; httpx errors propagate (for :func:`preflight`)."""
        response = await self._client.send(self._client.build_request("GET", path))
        await response.aread()
        return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send and read the whole (small, JSON) answer; network trouble is VaultUnavailable."""
        try:
            response = await self._client.send(request)
            await response.aread()
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from None
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _raise_for(self, response: httpx.Response) -> NoReturn:
        problem = _problem_of(self._json(response)) if response.content else {}
        raise error_for_response(response.status_code, problem, response.headers)

    async def upload(
        self, metadata: dict[str, Any], pdf_path: Path, idempotency_key: str
    ) -> Delivery:
        """Deliver a signed PDF; replays (same key, same bytes) return the original receipt.

        The file is streamed from disk, never read whole into memory.
        """
        meta = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            with Path(pdf_path).open("rb") as fh:
                request = self._client.build_request(
                    "POST",
                    "/v1/documents",
                    headers={"Idempotency-Key": idempotency_key},
                    files={
                        "metadata": (None, meta, "application/json"),
                        "file": (Path(pdf_path).name, fh, "application/pdf"),
                    },
                )
                response = await self._send(request)
        except OSError as exc:  # opening or streaming the PDF failed, not the vault
            raise FileBusy("file-busy", detail=exc.strerror or type(exc).__name__) from None
        if response.status_code in (200, 201):
            return _delivery(self._json(response), replayed=response.status_code == 200)
        self._raise_for(response)

    async def digital_status(self, matricule: str) -> str:
        """green, blue or red; see docs/vault-api.md for their meaning."""
        response = await self._send(
            self._client.build_request(
                "GET", f"/v1/patients/{quote(matricule, safe='')}/digital-status"
            )
        )
        if response.status_code != 200:
            self._raise_for(response)
        body = self._json(response)
        status = body.get("status") if isinstance(body, dict) else None
        if status not in _DIGITAL_STATUSES:
            raise VaultUnavailable("vault-unavailable", detail="malformed digital status")
        return str(status)

    async def document(self, vault_document_id: str) -> dict[str, Any]:
        """``GET /v1/documents/{id}``: what the vault holds (and, when the vault says so,
        ``opened_at``: when the patient first opened it)."""
        return await self._get_json(f"/v1/documents/{quote(vault_document_id, safe='')}")

    async def billing_activity(self, quarter: str, provider_code: str) -> dict[str, Any]:
        """``GET /v1/billing/activity``: the fee records of one provider in one quarter."""
        return await self._get_json("/v1/billing/activity",
                                    {"quarter": quarter, "provider_code": provider_code})

    async def _get_json(self, path: str, params: dict[str, str] | None = None
                        ) -> dict[str, Any]:
        response = await self._send(self._client.build_request("GET", path, params=params))
        if response.status_code != 200:
            self._raise_for(response)
        body = self._json(response)
        if not isinstance(body, dict):
            raise VaultUnavailable("vault-unavailable", detail=f"malformed answer to {path}")
        return body

    async def health(self) -> dict[str, Any]:
        response = await self._send(self._client.build_request("GET", "/v1/health"))
        if response.status_code != 200:
            self._raise_for(response)
        body = self._json(response)
        if not isinstance(body, dict):
            raise VaultUnavailable("vault-unavailable", detail="malformed health answer")
        return body


# -- preflight (check-config) -------------------------------------------------------------------


def _unreachable(url: str, exc: httpx.HTTPError) -> str:
    """One line saying why nothing answered at ``url``."""
    tls = tls_verify_failure(exc)
    if tls is not None:
        return f"vault: TLS verification failed for {url}: {tls}"
    if isinstance(exc, httpx.TimeoutException):
        return f"vault: {url} is unreachable (no answer in time: {type(exc).__name__})"
    for link in causes(exc):
        if isinstance(link, socket.gaierror):
            return f"vault: {url} is unreachable (host name not found; check vault.url)"
        if isinstance(link, ConnectionRefusedError):
            return f"vault: {url} is unreachable (connection refused: is the vault running there?)"
        if isinstance(link, ssl.SSLError):
            reason = link.reason or type(link).__name__
            return f"vault: TLS handshake with {url} failed ({reason}; is vault.url's port HTTPS?)"
    if isinstance(exc, httpx.RemoteProtocolError) and url.startswith("http://"):
        return f"vault: {url} did not answer plain HTTP (if the vault uses TLS, write https://)"
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"vault: {url} is unreachable ({_redact(what)[:_MAX_DETAIL]})"


def _answer(response: httpx.Response) -> str:
    """``HTTP 404 not-found``: the status and, for a problem answer, its stable code."""
    code = _problem_of(VaultClient._json(response)).get("code") if response.content else None
    return f"HTTP {response.status_code}" + (f" {code}" if isinstance(code, str) else "")


async def preflight(client: VaultClient, provider_codes: Iterable[str] = ()) -> list[str]:
    """What stops ``client`` from delivering, one line per problem for IT; empty means ready.

    Asks ``GET /v1/health`` (is a vault there, is its certificate trusted) and
    then ``GET /v1/token`` (is the token accepted, and does it act for every
    code in ``provider_codes``). Neither call changes anything in the vault.
    Works for every transport, the in-process ``local`` kind included.
    """
    url = client.base_url
    try:
        health = await client._get_raw("/v1/health")
    except httpx.HTTPError as exc:
        return [_unreachable(url, exc)]
    if health.status_code != 200:
        return [
            f"vault: {url}/v1/health answered {_answer(health)} instead of 200 "
            "(is vault.url the vault's base URL, without /v1?)"
        ]
    try:
        answer = await client._get_raw("/v1/token")
    except httpx.HTTPError as exc:
        return [_unreachable(url, exc)]
    if answer.status_code in (401, 403):
        return [
            f"vault: {url} refused the token ({_answer(answer)}); check the token that the "
            "config's vault section points to"
        ]
    body = VaultClient._json(answer)
    granted = body.get("provider_codes") if isinstance(body, dict) else None
    if answer.status_code != 200 or not isinstance(granted, list):
        return [
            f"vault: {url}/v1/token gave an unexpected answer ({_answer(answer)}); "
            "is this a vault API v1 server?"
        ]
    return [
        f"vault: the token is not allowed to act for provider code {code}; "
        "the vault operator must bind it to this code"
        for code in sorted(set(provider_codes) - {str(g) for g in granted})
    ]


# -- the local vault ------------------------------------------------------------------------------
