"""Fault injection for the reference vault: a vault that misbehaves on demand (tests only).

``econnector vault serve --enable-faults`` wraps the normal vault app in
:class:`FaultInjector` and runs uvicorn with :func:`fault_protocol_class`.
Without the flag none of this is loaded: the normal server path is unchanged.

- ``POST /v1/_faults`` appends a fault to a FIFO queue, ``GET /v1/_faults``
  lists the pending faults and how many were applied per kind,
  ``DELETE /v1/_faults`` clears the queue (same bearer tokens as the API).
- Only the **head** fault is armed: a request that matches its ``method`` and
  ``path`` filter consumes one unit of it (its ``count``); other requests pass
  untouched. When its count is used up the next fault becomes the head.
- Kinds: ``status`` (a problem answer, store untouched), ``stall`` (wait, then
  handle normally), ``reset`` (TCP RST before handling), ``drop-after-commit``
  (handle fully, then close without an answer) and ``slow`` (trickle the body).

The queue lives in the server process and is only touched from its event
loop, so the control API and the injector share it without races. ``reset``
and ``drop-after-commit`` need the connection's transport: the protocol class
from :func:`fault_protocol_class` (uvicorn's h11 protocol) hands it to the
injector through the ASGI scope extension :data:`TRANSPORT_EXTENSION`; the
transport is the TLS transport over HTTPS, so every kind works over TLS too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnector_vault.app import loggable_path, problem, token_accepted, unauthorized
from econnector_vault.store import FieldError

__all__ = [
    "CONTROL_PATH",
    "KINDS",
    "TRANSPORT_EXTENSION",
    "Fault",
    "FaultInjector",
    "FaultQueue",
    "FaultSpecError",
    "fault_protocol_class",
    "is_loopback_host",
    "parse_fault",
]

CONTROL_PATH = "/v1/_faults"
KINDS = ("status", "stall", "reset", "drop-after-commit", "slow")
STATUSES = (429, 500, 502, 503, 504)
TRANSPORT_EXTENSION = "econnector.transport"
DEFAULT_PATH = "/v1/documents"

_MAX_SPEC_BYTES = 64 * 1024
_MAX_COUNT = 1_000_000
_MAX_SECONDS = 3600.0
_MAX_RETRY_AFTER = 86_400
_DISCONNECT_WAIT = 5.0
_KIND_FIELDS = {
    "status": {"status", "retry_after"},
    "stall": {"seconds"},
    "reset": set(),
    "drop-after-commit": set(),
    "slow": {"bytes_per_second"},
}
_COMMON_FIELDS = {"kind", "count", "path", "method"}

_log = structlog.get_logger("econnector_vault")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts faults may be enabled on."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


# -- fault specs ----------------------------------------------------------------------------------


class FaultSpecError(Exception):
    """The fault spec is invalid; ``errors`` names every bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(e.field for e in errors))
        self.errors = errors


@dataclass
class Fault:
    """One queued fault; ``remaining`` counts down from ``count``."""

    id: int
    kind: str
    count: int
    remaining: int
    path: str
    method: str
    status: int | None = None
    retry_after: int | None = None
    seconds: float | None = None
    bytes_per_second: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and method.upper() != self.method:
            return False
        if self.path == "*":
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "count": self.count,
            "remaining": self.remaining,
            "path": self.path,
            "method": self.method,
        }
        for name in ("status", "retry_after", "seconds", "bytes_per_second"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def parse_fault(data: Any, fault_id: int = 0) -> Fault:
    """A :class:`Fault` from its JSON spec, or :class:`FaultSpecError` listing every bad field."""
    if not isinstance(data, dict):
        raise FaultSpecError([FieldError("(body)", "must be a JSON object")])
    errors: list[FieldError] = []
    kind = data.get("kind")
    if kind not in KINDS:
        errors.append(FieldError("kind", "must be one of " + ", ".join(KINDS)))
        kind = None
    allowed = _COMMON_FIELDS | (_KIND_FIELDS[kind] if kind else set().union(*_KIND_FIELDS.values()))
    for key in sorted(str(k) for k in data if k not in allowed):
        errors.append(FieldError(key, "is not a known field for this kind"))

    count = data.get("count", 1)
    if not _is_int(count) or not 1 <= count <= _MAX_COUNT:
        errors.append(FieldError("count", f"must be an integer from 1 to {_MAX_COUNT}"))

    path = data.get("path", DEFAULT_PATH)
    if (
        not isinstance(path, str)
        or not (path == "*" or path.startswith("/"))
        or not path.isascii()
        or not path.isprintable()
        or " " in path
        or len(path) > 1000
    ):
        errors.append(FieldError("path", 'must be "*" or an absolute path, optionally ending in *'))
    elif path.startswith(CONTROL_PATH):
        errors.append(FieldError("path", "the control API cannot be faulted"))

    default_method = "POST" if path == DEFAULT_PATH else "*"
    method = data.get("method", default_method)
    if not isinstance(method, str) or not (method == "*" or method.isalpha()) or len(method) > 20:
        errors.append(FieldError("method", 'must be "*" or an HTTP method such as POST'))

    status: int | None = None
    retry_after: int | None = None
    seconds: float | None = None
    rate: float | None = None
    if kind == "status":
        status = data.get("status", 503)
        if not _is_int(status) or status not in STATUSES:
            errors.append(FieldError("status", "must be one of " + ", ".join(map(str, STATUSES))))
        retry_after = data.get("retry_after", 1 if status == 429 else None)
        if retry_after is not None and (
            not _is_int(retry_after) or not 0 <= retry_after <= _MAX_RETRY_AFTER
        ):
            errors.append(
                FieldError("retry_after", f"must be an integer from 0 to {_MAX_RETRY_AFTER}")
            )
    elif kind == "stall":
        raw_seconds: Any = data.get("seconds")
        if not _is_number(raw_seconds) or not 0 < raw_seconds <= _MAX_SECONDS:
            errors.append(FieldError("seconds", "is required: a number above 0, at most 3600"))
        else:
            seconds = float(raw_seconds)
    elif kind == "slow":
        raw_rate: Any = data.get("bytes_per_second")
        if not _is_number(raw_rate) or not 0 < raw_rate <= 1e9:
            errors.append(FieldError("bytes_per_second", "is required: a number above 0"))
        else:
            rate = float(raw_rate)

    if errors:
        raise FaultSpecError(errors)
    assert kind is not None
    return Fault(
        id=fault_id,
        kind=kind,
        count=count,
        remaining=count,
        path=path,
        method=method.upper(),
        status=status,
        retry_after=retry_after,
        seconds=seconds,
        bytes_per_second=rate,
    )


class FaultQueue:
    """The FIFO of pending faults and the per-kind count of faults applied so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._applied = dict.fromkeys(KINDS, 0)

    def add(self, spec: Any) -> Fault:
        """Parse ``spec`` and append it; :class:`FaultSpecError` when it is invalid."""
        with self._lock:
            fault = parse_fault(spec, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one unit of the head fault if it matches this request; a snapshot of it."""
        if path == CONTROL_PATH:
            return None
        with self._lock:
            if not self._faults or not self._faults[0].matches(method, path):
                return None
            head = self._faults[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._faults.pop(0)
            self._applied[head.kind] += 1
            return Fault(**vars(head))

    def pending(self) -> list[Fault]:
        with self._lock:
            return [Fault(**vars(f)) for f in self._faults]

    def applied(self) -> dict[str, int]:
        with self._lock:
            return dict(self._applied)

    def clear(self) -> int:
        """Drop every pending fault (the applied counters stay); how many were dropped."""
        with self._lock:
            dropped = len(self._faults)
            self._faults.clear()
            return dropped


# -- applying faults ------------------------------------------------------------------------------


async def _until_disconnected(receive: Receive) -> None:
    """Wait for ``http.disconnect``, dropping any request body still arriving."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _close(transport: asyncio.Transport, *, reset: bool) -> None:
    """Close the connection at once and without any answer; with ``reset`` the peer gets RST."""
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger on with a zero timeout: close() discards everything and sends RST.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # abort(), not close(): no flush, and over TLS no close_notify handshake to wait for.
    transport.abort()


def _replaying(buffered: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return replay


class FaultInjector:
    """ASGI middleware in front of the vault app: serves the control API, applies faults."""

    def __init__(self, app: ASGIApp, queue: FaultQueue, tokens: set[str]) -> None:
        if not tokens:
            raise ValueError("at least one bearer token is required")
        self.app = app
        self.queue = queue
        self._tokens = [t.encode("utf-8", "surrogateescape") for t in tokens]
        self._apply: dict[str, Callable[[Fault, Scope, Receive, Send], Awaitable[None]]] = {
            "status": self._status,
            "stall": self._stall,
            "reset": self._reset,
            "drop-after-commit": self._drop_after_commit,
            "slow": self._slow,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == CONTROL_PATH:
            response = await self._control(Request(scope, receive))
            await response(scope, receive, send)
            return
        fault = self.queue.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        _log.info(
            "vault-fault",
            kind=fault.kind,
            fault_id=fault.id,
            method=scope["method"],
            path=loggable_path(scope["path"]),
        )
        await self._apply[fault.kind](fault, scope, receive, send)

    # -- control API ------------------------------------------------------------------------------

    def _listing(self) -> dict[str, Any]:
        return {
            "pending": [f.as_json() for f in self.queue.pending()],
            "applied": self.queue.applied(),
        }

    async def _control(self, request: Request) -> Response:
        header = request.headers.get("authorization")
        if not token_accepted(header, self._tokens):
            return unauthorized(header)
        if request.method == "GET":
            return JSONResponse(self._listing())
        if request.method == "DELETE":
            return JSONResponse({"cleared": self.queue.clear()})
        if request.method != "POST":
            return problem(
                405, "method-not-allowed", "Method not allowed", "This method is not allowed here."
            )
        raw = bytearray()
        try:
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > _MAX_SPEC_BYTES:
                    return problem(
                        413, "too-large", "Fault spec too large", "The fault spec is too large."
                    )
        except ClientDisconnect:
            return problem(400, "request-invalid", "Invalid request", "The client went away.")
        try:
            spec = json.loads(raw)
        except ValueError:
            return problem(
                400, "request-invalid", "Invalid request", "The fault spec must be a JSON object."
            )
        try:
            fault = self.queue.add(spec)
        except FaultSpecError as exc:
            names = ", ".join(e.field for e in exc.errors)
            return problem(
                422, "fault-invalid", "Invalid fault", f"The fault is invalid: {names}.", exc.errors
            )
        _log.info("vault-fault-queued", **fault.as_json())
        return JSONResponse(fault.as_json(), status_code=201)

    # -- kinds ------------------------------------------------------------------------------------

    @staticmethod
    def _transport(scope: Scope) -> asyncio.Transport:
        transport = (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION)
        if not isinstance(transport, asyncio.Transport):
            raise RuntimeError("this fault needs the reference server's protocol (a real socket)")
        return transport

    async def _status(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        assert fault.status is not None
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        response = problem(
            fault.status,
            "fault-injected",
            "Injected fault",
            f"HTTP {fault.status} injected by the fault-injection API; nothing was stored.",
            headers=headers,
        )
        await response(scope, receive, send)

    async def _stall(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Wait, then handle normally; a client that leaves meanwhile is not handled at all.

        The request body is read (into memory) during the wait, which is also
        how a disconnect is noticed: the vault then stores nothing.
        """
        assert fault.seconds is not None
        buffered: list[Message] = []

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                buffered.append(message)
                if not message.get("more_body", False):
                    break
            await _until_disconnected(receive)  # the body is complete: returns on disconnect only

        watcher = asyncio.ensure_future(watch())
        try:
            done, _ = await asyncio.wait({watcher}, timeout=fault.seconds)
        finally:
            watcher.cancel()
        if done:
            with contextlib.suppress(Exception):
                watcher.result()
            _log.info("vault-fault-client-gone", kind=fault.kind, fault_id=fault.id)
            return
        await self.app(scope, _replaying(buffered, receive), send)

    async def _reset(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        _close(self._transport(scope), reset=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnected(receive), _DISCONNECT_WAIT)

    async def _drop_after_commit(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send
    ) -> None:
        transport = self._transport(scope)
        status = 0

        async def swallow(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await self.app(scope, receive, swallow)
        _log.info("vault-fault-answer-dropped", fault_id=fault.id, status=status)
        _close(transport, reset=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnected(receive), _DISCONNECT_WAIT)

    async def _slow(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle normally; send the head at once, then the body at ``bytes_per_second``.

        The body goes out in pieces of ``max(1, int(rate))`` bytes, each after
        a pause of its length divided by the rate (about one second), so a
        client whose read timeout is below that pause gives up.
        """
        assert fault.bytes_per_second is not None
        rate = fault.bytes_per_second
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        if start is None:
            return
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        piece = max(1, int(rate))
        gone = asyncio.ensure_future(_until_disconnected(receive))
        try:
            await send(start)
            if not body:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            for offset in range(0, len(body), piece):
                chunk = body[offset : offset + piece]
                done, _ = await asyncio.wait({gone}, timeout=len(chunk) / rate)
                if done:
                    _log.info("vault-fault-client-gone", kind=fault.kind, fault_id=fault.id)
                    return
                more = offset + piece < len(body)
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            gone.cancel()


# -- the server side ------------------------------------------------------------------------------


def fault_protocol_class(base: type[Any] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol (or ``base``), handing each request's transport to the app."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    parent: type[Any] = base or H11Protocol

    class FaultH11Protocol(parent):
        app: Any

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner: Any = self.app

            async def with_transport(scope: Any, receive: Any, send: Any) -> None:
                scope["extensions"] = {
                    **(scope.get("extensions") or {}),
                    TRANSPORT_EXTENSION: self.transport,
                }
                await inner(scope, receive, send)

            self.app = with_transport

    return FaultH11Protocol
