"""The vault's error answers: RFC 9457 problem details with a stable ``code``.

Every refusal the API documents is built here, so its status, code, title and
wording live in one place; none echoes a submitted value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from econnector_vault.errors import FieldError, StoreError

__all__ = [
    "PROBLEM_TYPE_PREFIX",
    "forbidden_provider",
    "from_store_error",
    "http_error",
    "internal_error",
    "problem",
    "query_invalid",
    "request_invalid",
    "too_large",
    "unauthorized",
]

PROBLEM_TYPE_PREFIX = "urn:econnector:vault:problem:"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    *,
    reason: str | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` response carrying the stable ``code`` (and
    ``reason``, which refines a few codes such as ``signature-invalid``)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if reason is not None:
        body["reason"] = reason
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type="application/problem+json"
    )


def from_store_error(exc: StoreError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.title, exc.detail, exc.errors, reason=exc.reason)


def too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        "too-large",
        "Document too large",
        f"The document exceeds the limit of {limit} bytes.",
        headers={"Connection": "close"},
    )


def request_invalid(detail: str, errors: Sequence[FieldError] = ()) -> JSONResponse:
    return problem(400, "request-invalid", "Invalid request", detail, errors)


def query_invalid(errors: Sequence[FieldError]) -> JSONResponse:
    names = ", ".join(e.field for e in errors)
    return problem(400, "query-invalid", "Invalid query", f"Invalid parameters: {names}.", errors)


def unauthorized(header: str | None) -> Response:
    """401 with the RFC 6750 challenge (``invalid_token`` when a token was sent)."""
    challenge = 'Bearer realm="econnector-vault"'
    if header:
        challenge += ', error="invalid_token"'
    return problem(
        401,
        "unauthorized",
        "Unauthorized",
        "A valid bearer token is required.",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden_provider() -> JSONResponse:
    return problem(
        403,
        "provider-forbidden",
        "Provider not allowed",
        "This bearer token may not act for this provider code.",
    )


# -- exception handlers ---------------------------------------------------------------------------


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route, wrong method) as problem details."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return problem(404, "not-found", "Not found", "There is no such resource.")
    if status == 405:
        # RFC 9110 section 15.5.6: a 405 lists the methods the resource supports.
        allow = (exc.headers or {}).get("Allow") if isinstance(exc, HTTPException) else None
        return problem(
            405,
            "method-not-allowed",
            "Method not allowed",
            "This method is not allowed here.",
            headers={"Allow": allow} if allow else None,
        )
    detail = exc.detail if isinstance(exc, HTTPException) else "The request failed."
    return problem(status, "http-error", "HTTP error", str(detail))


async def internal_error(request: Request, exc: Exception) -> Response:
    return problem(500, "internal-error", "Internal error", "The vault failed unexpectedly.")
