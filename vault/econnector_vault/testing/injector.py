"""Applying faults: the ASGI middleware in front of the vault app, and the uvicorn
protocol that lets it reset or drop a connection.

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
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnector_vault.accesslog import log, loggable_path
from econnector_vault.auth import token_accepted
from econnector_vault.problems import problem, unauthorized
from econnector_vault.testing.specs import CONTROL_PATH, Fault, FaultQueue, FaultSpecError

__all__ = ["TRANSPORT_EXTENSION", "FaultInjector", "fault_protocol_class"]

TRANSPORT_EXTENSION = "econnector.transport"

_MAX_SPEC_BYTES = 64 * 1024
_DISCONNECT_WAIT = 5.0


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
        log.info(
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
        log.info("vault-fault-queued", **fault.as_json())
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
            log.info("vault-fault-client-gone", kind=fault.kind, fault_id=fault.id)
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
        log.info("vault-fault-answer-dropped", fault_id=fault.id, status=status)
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
                    log.info("vault-fault-client-gone", kind=fault.kind, fault_id=fault.id)
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
