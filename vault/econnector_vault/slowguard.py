"""Keep slow clients (slowloris) from holding the reference vault's connections.

uvicorn bounds what it parses (``h11_max_incomplete_event_size``) and closes
idle keep-alive connections, but it has no deadline for a request head, none
for a trickled body, and nothing closes a connection that never sends a byte
(its ``limit_concurrency`` answers a plain-text 503 without a problem code, so
the bound is kept here instead). About 1,000 TLS connections sending half a
head and then a byte every 20 s held every file descriptor and ``/v1/health``
timed out. This module adds what is missing, below the ASGI app:

- **head deadline**: the request line and headers must be complete within
  ``header_timeout`` seconds of the connection (or of the first byte of a
  following keep-alive request); else 408 and close;
- **body rate**: while a body is being received, each ``body_timeout`` window
  must bring at least ``body_min_bytes`` (unless the app itself paused
  reading); else the connection is dropped, so a byte every few seconds
  cannot hold it;
- **connection bound**: a request arriving while more than
  ``max_connections`` connections are open gets ``503 overloaded`` (a problem
  document with ``Retry-After``) and the connection is closed;
- **hard cap**: above ``hard_cap`` open connections a new one is dropped at
  once (between the bound and the cap, clients still get their 503);
- **file limit**: :func:`raise_file_limit` lifts RLIMIT_NOFILE's soft limit to
  the hard limit and :func:`connection_bound` sizes the bound below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from econnector_vault.problems import problem

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "RESERVED_FILES",
    "ConnectionLimits",
    "GuardedH11Protocol",
    "connection_bound",
    "guarded_protocol_class",
    "raise_file_limit",
]

DEFAULT_MAX_CONNECTIONS = 4096
# Descriptors kept free for the database (one connection per worker thread,
# each with its -wal and -shm), the listening socket and TLS handshakes.
RESERVED_FILES = 256
_UNLIMITED_TARGET = 65536
_TIMEOUT_BODY = json.dumps({
    "type": "urn:econnector:vault:problem:request-timeout",
    "title": "Request timeout",
    "status": 408,
    "detail": "The request head did not arrive in time.",
    "code": "request-timeout",
}).encode()
# Written raw: h11 cannot answer before a request has been parsed.
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TIMEOUT_BODY)
) + _TIMEOUT_BODY


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds one server process enforces on its connections."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = 10.0
    body_timeout: float = 15.0
    body_min_bytes: int = 1024
    keep_alive: int = 5
    tls_handshake_timeout: float = 10.0

    @property
    def hard_cap(self) -> int:
        """Open connections above which new ones are dropped without an answer."""
        return self.max_connections + max(16, self.max_connections // 8)


def _overloaded() -> Any:
    return problem(
        503,
        "overloaded",
        "Overloaded",
        "The vault has too many open connections; retry later.",
        headers={"Retry-After": "5", "Connection": "close"},
    )


def raise_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return _UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def connection_bound(file_limit: int, wanted: int | None = None) -> int:
    """The connection bound that fits ``file_limit``: at most ``wanted``.

    Each connection may hold up to two more descriptors while an upload is
    spooled and staged, and the hard cap sits an eighth above the bound, hence
    the margin. Raises ValueError when the limit leaves no room at all.
    """
    room = (file_limit - RESERVED_FILES) // 2
    bound = min(wanted or DEFAULT_MAX_CONNECTIONS, room * 8 // 9)
    if bound < 16:
        raise ValueError(
            f"the open-file limit {file_limit} is too low (raise LimitNOFILE / ulimit -n)"
        )
    return bound


def guarded_protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """uvicorn's h11 protocol with the guards above, bound to ``limits``."""
    bound = type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
    return cast("type[GuardedH11Protocol]", bound)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the head deadline, body rate and connection bounds.

    Use :func:`guarded_protocol_class` to bind its :class:`ConnectionLimits`.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _body_bytes = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app
        connections = self.connections
        limits = self.limits

        async def bounded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and len(connections) > limits.max_connections:
                await _overloaded()(scope, receive, send)
                return
            await inner(scope, receive, send)

        self.app = bounded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections) >= self.limits.hard_cap:
            self._refused = True
            transport.abort()  # type: ignore[attr-defined]
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.conn.their_state is h11.IDLE:
            self._arm_head()  # the first byte of a head starts its deadline
        self._body_bytes += len(data)
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    # -- the guards -------------------------------------------------------------------------------

    def _follow_state(self) -> None:
        state = self.conn.their_state
        if state is not h11.IDLE and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_bytes = 0
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_tick)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_expired
            )

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.timeout_keep_alive_task is not None:
            return  # idle between requests: uvicorn's keep-alive timeout owns it
        self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
        # A client that never reads cannot keep the descriptor through TLS shutdown.
        self.loop.call_later(1.0, self.transport.abort)

    def _body_tick(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self._body_bytes < self.limits.body_min_bytes and not self.flow.read_paused:
            self.transport.abort()
            return
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_tick)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
