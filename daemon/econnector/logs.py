"""Logging: structlog JSON lines, with a last-line privacy filter.

Code never logs patient data on purpose; the filter below is the safety net:
any 13-digit run (a matricule) is masked and name fields are dropped, whatever
the event carries.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

_MATRICULE = re.compile(r"(?<!\d)(\d{4})\d{8}(\d)(?!\d)")
_NAME_KEYS = {"last_name", "first_name", "patient", "name_of_patient"}


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _MATRICULE.sub(r"\1********\2", value)
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
    logging.basicConfig(level=getattr(logging, level.upper()), stream=stream, format="%(message)s")
    # httpx logs every request at INFO as plain text; our own events say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            privacy_filter,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
