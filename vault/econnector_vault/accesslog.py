"""The vault's access log: one structured line per request, without matricules.

uvicorn's own access log is off: a path may hold a patient's matricule
(``/v1/patients/{matricule}/digital-status``), so every run of 11 or more
digits is replaced, and query strings are never logged.
"""

from __future__ import annotations

import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "log", "loggable_path"]

log = structlog.get_logger("econnector_vault")
# A matricule has 13 digits; a run of 11 or more is masked wherever it sits in
# the path, so a matricule glued to other characters or cut short is not kept.
_LONG_DIGIT_RUN = re.compile(r"[0-9]{11,}")


def loggable_path(path: str) -> str:
    """``path`` with every run of 11+ digits (a matricule, whole or nearly) replaced."""
    return _LONG_DIGIT_RUN.sub("{matricule}", path)


class AccessLog:
    """ASGI middleware writing the ``vault-request`` line: method, masked path, status, ms."""

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
            log.info(
                "vault-request",
                method=scope["method"],
                path=loggable_path(scope["path"]),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
