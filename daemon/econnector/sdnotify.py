"""systemd's notify protocol: READY=1, STATUS=, WATCHDOG=1, STOPPING=1 and
EXTEND_TIMEOUT_USEC=.

Written by hand because the protocol is one datagram on an ``AF_UNIX`` socket
whose address is in ``$NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract
namespace), see sd_notify(3). The PyPI ``sdnotify`` package is unmaintained, and
``systemd-python`` needs libsystemd's headers and a compiler to install.

Without ``$NOTIFY_SOCKET`` (not under systemd, or ``Type=simple``) every call is a
no-op. Nothing here ever raises into the daemon: a failed send is logged once and
the daemon goes on (systemd's watchdog then restarts it if it must).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping

import structlog

log = structlog.get_logger("econnector.sdnotify")

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


def socket_address(value: str) -> str | bytes | None:
    """The address to send to for a ``$NOTIFY_SOCKET`` value: a path, or the abstract
    name (``@name`` becomes ``b"\\0name"``); None for a form we do not speak (systemd
    also knows ``vsock:``, for virtual machines)."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    return None


def watchdog_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between two ``WATCHDOG=1``: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3)
    recommends; None when systemd wants no watchdog from this process (the variable is
    unset, not a positive integer, or ``$WATCHDOG_PID`` names another process)."""
    raw = env.get(WATCHDOG_USEC, "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        return None
    owner = env.get(WATCHDOG_PID, "").strip()
    me = os.getpid() if pid is None else pid
    if owner and (not owner.isdigit() or int(owner) != me):
        return None
    return int(raw) / 1_000_000 / 2


class Notifier:
    """Sends state changes to the service manager; a no-op without a socket."""

    def __init__(self, address: str | bytes | None, interval: float | None = None) -> None:
        self.address = address
        self.watchdog_interval = interval if address is not None else None
        self._sock: socket.socket | None = None
        self._failed = False  # logged once; later failures stay quiet

    @classmethod
    def from_env(cls, env: MutableMapping[str, str] | None = None,
                 unset: bool = True) -> Notifier:
        """Read ``$NOTIFY_SOCKET`` and the watchdog variables, then (``unset``) remove them
        from the environment, as sd_notify's ``unset_environment`` does: no child
        process (a signing worker, a tool we run) can then speak for the service."""
        src: MutableMapping[str, str] = os.environ if env is None else env
        raw = src.get(NOTIFY_SOCKET, "")
        interval = watchdog_interval(src)
        if unset:
            for name in (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID):
                src.pop(name, None)
        if not raw:
            return cls(None)
        address = socket_address(raw)
        if address is None:
            log.warning("sd-notify-unsupported-address", address=raw)
        return cls(address, interval)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self) -> bool:
        return self.send("READY=1")

    def status(self, text: str) -> bool:
        """One line for ``systemctl status``; never a patient's data."""
        return self.send("STATUS=" + " ".join(text.split()))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before the start (or stop) times out: a long start
        (many unfinished documents, a slow PKCS#11 token) must not be killed by
        ``TimeoutStartSec``. It only ever extends: a longer configured timeout stays."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def send(self, message: str) -> bool:
        """One datagram; True when it left. Never blocks (a full queue drops it) and
        never raises."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # non-inheritable
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(message.encode("utf-8"), self.address)
        except OSError as e:
            if not self._failed:
                self._failed = True
                log.warning("sd-notify-failed", error=str(e), message=message.split("=")[0])
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# What a count of the state store means on the status line (states.State values).
_WAITING = frozenset({"received", "signed", "delivering", "waiting-retry"})


def status_line(counts: Mapping[str, int], vault: str, watcher_ok: bool) -> str:
    """The ``STATUS=`` text: counts by state, the vault gate, and the watcher when it is
    down (rescans only). Counts and states only, never a name or a matricule."""
    waiting = sum(n for state, n in counts.items() if state in _WAITING)
    text = (f"{counts.get('delivered', 0)} delivered, {waiting} waiting, "
            f"{counts.get('held', 0)} held, {counts.get('rejected', 0)} rejected; vault {vault}")
    if not watcher_ok:
        text += "; file watcher down (rescans only)"
    return text
