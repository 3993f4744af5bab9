"""Logging: structlog JSON lines, with a last-line privacy filter.

Code never logs patient data on purpose; the filter below is the safety net:
any 13-digit run (a matricule) is masked by :func:`econnector.matricule.mask_text`
and name fields are dropped, whatever the event carries.
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


def configure(target: str = "-", level: str = "info") -> None:
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
