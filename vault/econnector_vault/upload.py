"""``POST /v1/documents``: the upload, from request head to stored receipt.

The body is a multipart form with exactly two parts: ``metadata`` (JSON text,
bounded) and ``file`` (the signed PDF, spooled to disk, never held whole in
memory). The body is bounded twice: a declared ``Content-Length`` over the
limit is answered 413 before anything is read, and a body that grows past it
while streaming is cut off with the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from tempfile import SpooledTemporaryFile
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive

from econnector_vault.errors import FieldError, StoreError
from econnector_vault.metadata import parse_metadata, require_idempotency_key
from econnector_vault.patients import digital_status
from econnector_vault.problems import (
    forbidden_provider,
    from_store_error,
    problem,
    request_invalid,
    too_large,
)
from econnector_vault.store import VaultStore

__all__ = ["FORM_OVERHEAD_BYTES", "METADATA_MAX_BYTES", "Upload"]

METADATA_MAX_BYTES = 64 * 1024
# Room for the metadata part and multipart framing on top of the document itself.
FORM_OVERHEAD_BYTES = 1024 * 1024


class Upload:
    """The upload handler over ``store``; ``patients`` maps matricule to digital status."""

    def __init__(self, store: VaultStore, patients: Mapping[str, str]) -> None:
        self.store = store
        self.patients = patients
        self.body_limit = store.max_document_bytes + FORM_OVERHEAD_BYTES

    async def __call__(self, request: Request) -> Response:
        try:
            key = require_idempotency_key(request.headers.get("idempotency-key"))
        except StoreError as exc:
            return from_store_error(exc)
        refusal = await self._refuse_head(request)
        if refusal is not None:
            return refusal
        form = await self._read_form(request)
        if isinstance(form, Response):
            return form
        try:
            return await self._store(request, form, key)
        finally:
            await form.close()

    async def _refuse_head(self, request: Request) -> Response | None:
        """The answer to a request whose head already rules it out, else None."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return request_invalid("The Content-Length header is not a number.")
            if int(length) > self.body_limit:
                await _drain(request.receive, budget=self.body_limit)
                return too_large(self.store.max_document_bytes)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "multipart/form-data":
            return request_invalid("The request body must be multipart/form-data.")
        return None

    async def _read_form(self, request: Request) -> FormData | Response:
        limited = Request(request.scope, _limited_receive(request.receive, self.body_limit))
        try:
            return await _UploadParser(
                limited.headers, limited.stream(), max_part_size=METADATA_MAX_BYTES
            ).parse()
        except _BodyTooLarge:
            return too_large(self.store.max_document_bytes)
        except ClientDisconnect:
            # The server's read timeout closed a stalled upload; nobody reads this answer,
            # but the access log shows a timeout rather than a 500.
            return problem(408, "request-timeout", "Request timeout", "The body came too slowly.")
        except MultiPartException as exc:
            return request_invalid(f"The multipart body is malformed: {exc.message}")

    async def _store(self, request: Request, form: FormData, key: str) -> Response:
        pdf = form.get("file")
        if not isinstance(pdf, UploadFile):
            return request_invalid(
                "The part 'file' (the signed PDF) is required.",
                [FieldError("file", "is required")],
            )
        try:
            metadata = parse_metadata(form.get("metadata"))
        except StoreError as exc:
            return from_store_error(exc)
        if metadata["author"]["provider_code"] not in request.state.providers:
            return forbidden_provider()
        opted_out = digital_status(self.patients, metadata["patient"]["matricule"]) == "red"
        try:
            receipt = await run_in_threadpool(
                self.store.submit, metadata, pdf.file, key, patient_opted_out=opted_out
            )
        except StoreError as exc:
            return from_store_error(exc)
        return JSONResponse(receipt.as_json(), status_code=200 if receipt.replayed else 201)


# -- the body -------------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    """Raised from the receive channel once the request body passes the limit."""


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
