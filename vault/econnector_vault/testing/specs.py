"""Fault specs and their queue: what the fault-injection API accepts, and in what order
the faults play out. Pure data and decisions; :mod:`.injector` applies them.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from dataclasses import dataclass
from typing import Any

from econnector_vault.errors import FieldError

__all__ = [
    "CONTROL_PATH",
    "DEFAULT_PATH",
    "KINDS",
    "STATUSES",
    "Fault",
    "FaultQueue",
    "FaultSpecError",
    "is_loopback_host",
    "parse_fault",
]

CONTROL_PATH = "/v1/_faults"
KINDS = ("status", "stall", "reset", "drop-after-commit", "slow")
STATUSES = (429, 500, 502, 503, 504)
DEFAULT_PATH = "/v1/documents"

_MAX_COUNT = 1_000_000
_MAX_SECONDS = 3600.0
_MAX_RETRY_AFTER = 86_400
_KIND_FIELDS = {
    "status": {"status", "retry_after"},
    "stall": {"seconds"},
    "reset": set(),
    "drop-after-commit": set(),
    "slow": {"bytes_per_second"},
}
_COMMON_FIELDS = {"kind", "count", "path", "method"}


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts faults may be enabled on."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


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


# -- parsing a spec -------------------------------------------------------------------------------


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
    path = _path(data, errors)
    method = _method(data, path, errors)
    params = _KIND_PARAMS[kind](data, errors) if kind in _KIND_PARAMS else {}
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
        **params,
    )


def _path(data: dict[str, Any], errors: list[FieldError]) -> Any:
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
    return path


def _method(data: dict[str, Any], path: Any, errors: list[FieldError]) -> Any:
    default_method = "POST" if path == DEFAULT_PATH else "*"
    method = data.get("method", default_method)
    if not isinstance(method, str) or not (method == "*" or method.isalpha()) or len(method) > 20:
        errors.append(FieldError("method", 'must be "*" or an HTTP method such as POST'))
    return method


def _status_params(data: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
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
    return {"status": status, "retry_after": retry_after}


def _stall_params(data: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    seconds: Any = data.get("seconds")
    if not _is_number(seconds) or not 0 < seconds <= _MAX_SECONDS:
        errors.append(FieldError("seconds", "is required: a number above 0, at most 3600"))
        return {}
    return {"seconds": float(seconds)}


def _slow_params(data: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    rate: Any = data.get("bytes_per_second")
    if not _is_number(rate) or not 0 < rate <= 1e9:
        errors.append(FieldError("bytes_per_second", "is required: a number above 0"))
        return {}
    return {"bytes_per_second": float(rate)}


_KIND_PARAMS = {"status": _status_params, "stall": _stall_params, "slow": _slow_params}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


# -- the queue ------------------------------------------------------------------------------------


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
