"""Logging: structlog JSON lines, with a last-line privacy filter.

Code never logs patient data on purpose; the filters below are the safety net:
any 13-digit run (a matricule) is masked by :func:`econnector.matricule.mask_text`
and name fields are dropped, whatever the event carries, and the libraries'
own log lines (httpx logs each request URL) are masked too. Nothing here acts
at import: :func:`configure`, called once at the daemon's start, installs it all.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from econnector.matricule import mask_text

_NAME_KEYS = {"last_name", "first_name", "patient", "name_of_patient"}


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items() if k not in _NAME_KEYS}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def privacy_filter(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    return {k: _mask(v) for k, v in event.items() if k not in _NAME_KEYS}


class RedactMatricules(logging.Filter):
    """httpx logs each request URL at INFO; digital-status URLs hold a matricule.
    Masked with no digit kept, as the vault client's own texts."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = mask_text(message, reveal=False)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTED_LOGGERS = ("httpx", "httpcore")


def redact_library_logs() -> None:
    """Install :class:`RedactMatricules` on the HTTP libraries' loggers (once)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactMatricules) for f in logger.filters):
            logger.addFilter(RedactMatricules())


def configure(target: str = "-", level: str = "info") -> None:
    """Send every log line (ours and the libraries') as privacy-filtered JSON to
    ``target`` (a file, or "-" for stdout) from ``level`` up."""
    # The log file stays open for the life of the process.
    stream: TextIO = (
        sys.stdout if target == "-" else open(target, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    )
    lvl = getattr(logging, level.upper())
    common: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        privacy_filter,
    ]
    # Libraries log through the standard library: render those as JSON lines too.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *common],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(lvl)
    redact_library_logs()
    # Per-request and per-inotify-event chatter says nothing our own events do not.
    for noisy in ("httpx", "httpcore", "watchdog", "asyncio"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *common,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
