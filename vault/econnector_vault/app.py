"""The vault API v1 as a Starlette app over a :class:`VaultStore`.

The same app object serves the reference HTTP server and, through
``httpx.ASGITransport``, the daemon's in-process ``local`` vault, so both
speak byte-for-byte the same protocol. Errors are RFC 9457 problem details
with a stable ``code``; handlers never echo submitted values, and the access
log replaces matricules (any run of 11 or more digits) in paths with a
placeholder.

Each bearer token is bound to the provider codes it may act for: uploads for
another provider are 403, another provider's documents are 404 (their ids are
not even confirmed), billing of another provider is 403, and idempotency keys
are scoped per provider code by the store, so no practice can squat another's.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from importlib import resources
from tempfile import SpooledTemporaryFile
from typing import Any

import structlog
from python_multipart.multipart import parse_options_header
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnector_vault import __version__
from econnector_vault.store import (
    FieldError,
    StoreError,
    VaultStore,
    is_matricule,
    is_provider_code,
    parse_quarter,
    require_idempotency_key,
    validate_metadata,
)

__all__ = [
    "DIGITAL_STATUSES",
    "FORM_OVERHEAD_BYTES",
    "METADATA_MAX_BYTES",
    "METADATA_MAX_DEPTH",
    "create_app",
    "json_too_deep",
    "loggable_path",
    "token_providers",
]

DIGITAL_STATUSES = ("green", "blue", "red")
METADATA_MAX_BYTES = 64 * 1024
# The schema nests 2 levels; vendors' x- keys get some room. Deeper JSON would
# otherwise reach Python's recursion limit (a 500, which clients retry).
METADATA_MAX_DEPTH = 32
# Room for the metadata part and multipart framing on top of the document itself.
FORM_OVERHEAD_BYTES = 1024 * 1024
PROBLEM_TYPE_PREFIX = "urn:econnector:vault:problem:"

_log = structlog.get_logger("econnector_vault")
# A matricule has 13 digits; a run of 11 or more is masked wherever it sits in
# the path, so a matricule glued to other characters or cut short is not kept.
_LONG_DIGIT_RUN = re.compile(r"[0-9]{11,}")

Handler = Callable[[Request], Awaitable[Response]]


class _BodyTooLarge(Exception):
    """Raised from the receive channel once the request body passes the limit."""


# -- responses ------------------------------------------------------------------------------------


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` response carrying the stable ``code``."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type="application/problem+json"
    )


def _from_store_error(exc: StoreError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.title, exc.detail, exc.errors)


def _too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        "too-large",
        "Document too large",
        f"The document exceeds the limit of {limit} bytes.",
        headers={"Connection": "close"},
    )


def _request_invalid(detail: str, errors: Sequence[FieldError] = ()) -> JSONResponse:
    return problem(400, "request-invalid", "Invalid request", detail, errors)


def _query_invalid(errors: Sequence[FieldError]) -> JSONResponse:
    names = ", ".join(e.field for e in errors)
    return problem(400, "query-invalid", "Invalid query", f"Invalid parameters: {names}.", errors)


# -- pure helpers ---------------------------------------------------------------------------------


def _bearer(header: str | None) -> bytes | None:
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential.encode("utf-8", "surrogateescape")


def token_accepted(header: str | None, tokens: Iterable[bytes]) -> bool:
    """True when ``header`` is ``Bearer <t>`` for a configured token (constant-time compare)."""
    candidate = _bearer(header)
    if candidate is None:
        return False
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(token, candidate)
    return ok


def token_providers(
    header: str | None, grants: Sequence[tuple[bytes, frozenset[str]]]
) -> frozenset[str] | None:
    """The provider codes the bearer token in ``header`` may act for; None if unknown.

    Every configured token is compared (constant time each), so the answer's
    timing does not tell which token was close.
    """
    candidate = _bearer(header)
    if candidate is None:
        return None
    found: frozenset[str] | None = None
    for token, providers in grants:
        if hmac.compare_digest(token, candidate):
            found = providers
    return found


def json_too_deep(text: str, limit: int) -> bool:
    """True when JSON ``text`` nests arrays/objects deeper than ``limit`` (strings skipped).

    Checked before parsing: a linear scan cannot hit the recursion limit.
    """
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def digital_status(patients: Mapping[str, str], matricule: str) -> str:
    """The patient's digital status; patients the vault does not list are ``green``."""
    return patients.get(matricule, "green")


def loggable_path(path: str) -> str:
    """``path`` with every run of 11+ digits (a matricule, whole or nearly) replaced."""
    return _LONG_DIGIT_RUN.sub("{matricule}", path)


def _limited_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop up to ``budget`` body bytes so the client can read our early answer.

    Closing a socket with unread data makes the kernel send RST, which can
    destroy the response before the client reads it; a client then sees a
    network error instead of the definitive 413.
    """
    seen = 0
    while seen <= budget:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _UploadParser(MultiPartParser):
    """starlette's streaming multipart parser, deciding by part *name*, not by ``filename``.

    starlette makes a part with ``filename=`` a spooled file and any other part
    an in-memory text field; clients differ in which parts carry a filename, and
    a ``file`` part without one was counted as a second field (400 "Too many
    fields") or decoded as text. Here ``file`` is always spooled to disk (binary,
    any size), ``metadata`` is always a bounded text field, each at most once,
    in any order, and any other part is refused.
    """

    _PARTS = (b"metadata", b"file")

    def __init__(self, headers: Headers, stream: Any, *, max_part_size: int) -> None:
        super().__init__(headers, stream, max_files=1, max_fields=1, max_part_size=max_part_size)
        self._seen: set[bytes] = set()

    def on_headers_finished(self) -> None:
        part = self._current_part
        _, options = parse_options_header(part.content_disposition)
        name = options.get(b"name")
        if name not in self._PARTS:
            raise MultiPartException("Only the parts 'metadata' and 'file' are allowed.")
        if name in self._seen:
            raise MultiPartException(f"The part '{name.decode()}' appears more than once.")
        self._seen.add(name)
        part.field_name = name.decode()
        if name == b"metadata":
            part.file = None
            return
        # Closed by FormData.close() after the upload, or by parse() when parsing fails.
        spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(  # noqa: SIM115
            max_size=self.spool_max_size
        )
        self._files_to_close_on_error.append(spool)
        filename = options.get(b"filename")
        part.file = UploadFile(
            file=spool,  # type: ignore[arg-type]
            size=0,
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            headers=Headers(raw=part.item_headers),
        )


async def _parse_upload(request: Request) -> FormData:
    """The upload's parts; MultiPartException when the body is not the documented form."""
    return await _UploadParser(
        request.headers, request.stream(), max_part_size=METADATA_MAX_BYTES
    ).parse()


# -- access log -----------------------------------------------------------------------------------


class _AccessLog:
    """One structured line per request, without query strings or matricules."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _log.info(
                "vault-request",
                method=scope["method"],
                path=loggable_path(scope["path"]),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


# -- the app --------------------------------------------------------------------------------------


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


def _forbidden_provider() -> JSONResponse:
    return problem(
        403,
        "provider-forbidden",
        "Provider not allowed",
        "This bearer token may not act for this provider code.",
    )


def create_app(
    store: VaultStore,
    tokens: Mapping[str, Collection[str]],
    patients: dict[str, str] | None,
    *,
    access_log: bool = False,
) -> Starlette:
    """The vault API v1 over ``store``; ``tokens`` maps each bearer token to its provider codes.

    ``patients`` maps matricule to digital status (green/blue/red); patients
    not listed are green.
    """
    if not tokens:
        raise ValueError("at least one bearer token is required")
    grants: list[tuple[bytes, frozenset[str]]] = []
    for token, codes in tokens.items():
        providers = frozenset(codes)
        if not providers or not all(is_provider_code(c) for c in providers):
            raise ValueError("every token needs one or more 8-digit provider codes")
        grants.append((token.encode("utf-8", "surrogateescape"), providers))
    patient_map: dict[str, str] = dict(patients or {})
    for status in patient_map.values():
        if status not in DIGITAL_STATUSES:
            raise ValueError(f"unknown digital status {status!r}")
    openapi_text = resources.files("econnector_vault").joinpath("openapi.yaml").read_text("utf-8")
    body_limit = store.max_document_bytes + FORM_OVERHEAD_BYTES

    def authenticated(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            header = request.headers.get("authorization")
            providers = token_providers(header, grants)
            if providers is None:
                return unauthorized(header)
            request.state.providers = providers
            return await handler(request)

        return guarded

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def token_info(request: Request) -> Response:
        # Side-effect free: check-config asks it to learn whether the token works, and for whom.
        return JSONResponse({"provider_codes": sorted(request.state.providers)})

    async def openapi(request: Request) -> Response:
        return Response(openapi_text, media_type="application/yaml")

    async def upload(request: Request) -> Response:
        try:
            key = require_idempotency_key(request.headers.get("idempotency-key"))
        except StoreError as exc:
            return _from_store_error(exc)

        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return _request_invalid("The Content-Length header is not a number.")
            if int(length) > body_limit:
                await _drain(request.receive, budget=body_limit)
                return _too_large(store.max_document_bytes)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "multipart/form-data":
            return _request_invalid("The request body must be multipart/form-data.")

        limited = Request(request.scope, _limited_receive(request.receive, body_limit))
        try:
            form = await _parse_upload(limited)
        except _BodyTooLarge:
            return _too_large(store.max_document_bytes)
        except ClientDisconnect:
            # The server's read timeout closed a stalled upload; nobody reads this answer,
            # but the access log shows a timeout rather than a 500.
            return problem(408, "request-timeout", "Request timeout", "The body came too slowly.")
        except MultiPartException as exc:
            return _request_invalid(f"The multipart body is malformed: {exc.message}")

        try:
            raw_metadata = form.get("metadata")
            pdf = form.get("file")
            if not isinstance(pdf, UploadFile):
                return _request_invalid(
                    "The part 'file' (the signed PDF) is required.",
                    [FieldError("file", "is required")],
                )
            if not isinstance(raw_metadata, str):
                errors = [FieldError("metadata", "is required as a JSON form field")]
                return problem(
                    422, "metadata-invalid", "Invalid metadata", "The metadata is missing.", errors
                )
            if json_too_deep(raw_metadata, METADATA_MAX_DEPTH):
                errors = [FieldError("metadata", f"nests deeper than {METADATA_MAX_DEPTH} levels")]
                return problem(
                    422,
                    "metadata-too-deep",
                    "Metadata nested too deeply",
                    f"The metadata nests deeper than {METADATA_MAX_DEPTH} levels.",
                    errors,
                )
            try:
                metadata = json.loads(raw_metadata)
            except (ValueError, RecursionError):
                errors = [FieldError("metadata", "is not valid JSON")]
                return problem(
                    422, "metadata-invalid", "Invalid metadata", "The metadata is not JSON.", errors
                )
            errors = validate_metadata(metadata)
            if errors:
                names = ", ".join(e.field for e in errors)
                return problem(
                    422,
                    "metadata-invalid",
                    "Invalid metadata",
                    f"The metadata is invalid: {names}.",
                    errors,
                )
            if metadata["author"]["provider_code"] not in request.state.providers:
                return _forbidden_provider()
            opted_out = digital_status(patient_map, metadata["patient"]["matricule"]) == "red"
            try:
                receipt = await run_in_threadpool(
                    store.submit, metadata, pdf.file, key, patient_opted_out=opted_out
                )
            except StoreError as exc:
                return _from_store_error(exc)
        finally:
            await form.close()
        return JSONResponse(receipt.as_json(), status_code=200 if receipt.replayed else 201)

    async def get_document(request: Request) -> Response:
        vault_document_id = request.path_params["vault_document_id"]
        doc = await run_in_threadpool(store.get, vault_document_id, request.state.providers)
        if doc is None:
            return problem(404, "not-found", "Not found", "No document has this id.")
        return JSONResponse(doc.as_json())

    async def patient_status(request: Request) -> Response:
        matricule = request.path_params["matricule"]
        if not is_matricule(matricule):
            return _query_invalid([FieldError("matricule", "must be 13 digits")])
        return JSONResponse(
            {"matricule": matricule, "status": digital_status(patient_map, matricule)}
        )

    async def billing(request: Request) -> Response:
        quarter = request.query_params.get("quarter")
        provider_code = request.query_params.get("provider_code")
        errors: list[FieldError] = []
        if parse_quarter(quarter) is None:
            errors.append(FieldError("quarter", "must look like 2026Q4"))
        if provider_code is None or not is_provider_code(provider_code):
            errors.append(FieldError("provider_code", "must be 8 digits"))
        if errors or quarter is None or provider_code is None:
            return _query_invalid(errors)
        if provider_code not in request.state.providers:
            return _forbidden_provider()
        activity = await run_in_threadpool(store.billing_activity, quarter, provider_code)
        return JSONResponse(activity.as_json())

    async def http_error(request: Request, exc: Exception) -> Response:
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

    routes = [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/openapi.yaml", openapi, methods=["GET"]),
        Route("/v1/documents", authenticated(upload), methods=["POST"]),
        Route("/v1/documents/{vault_document_id}", authenticated(get_document), methods=["GET"]),
        Route(
            "/v1/patients/{matricule}/digital-status",
            authenticated(patient_status),
            methods=["GET"],
        ),
        Route("/v1/billing/activity", authenticated(billing), methods=["GET"]),
        Route("/v1/token", authenticated(token_info), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    if access_log:
        app.add_middleware(_AccessLog)
    return app
