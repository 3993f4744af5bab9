"""Logging: JSON lines through one handler, with a last-line privacy filter.

Our structlog events and the libraries' standard-library records (httpx,
watchdog, asyncio) all end in the same handler, so they share one file, one
rotation and one privacy filter:

* ``logging.file`` a path: JSON lines, rotated by size like
  :class:`logging.handlers.RotatingFileHandler` (``econnector.jsonl.1`` ...
  ``.keep``); a file econnector creates is private (0600), or gets the
  practice group's mode when it lies in a shared folder (:mod:`.filemodes`);
  an existing file keeps the mode its administrator gave it, and passes it
  (at most 0640) to the file that replaces it at a rotation.
* ``logging.file: "-"``: stdout, for journald under systemd. ``logging.console``
  says how: ``json``, ``text`` (time, level, event, key=value; no colour unless
  a terminal without ``NO_COLOR``), or ``auto``: text on a terminal, JSON
  otherwise and always under systemd (``JOURNAL_STREAM``).

Code never logs patient data on purpose; the filters below are the safety net:
any 13-digit run (a matricule) is masked by :func:`econnector.matricule.mask_text`
and name fields are dropped, whatever the event carries, and the libraries'
own log lines (httpx logs each request URL) are masked too. Nothing here acts
at import: :func:`configure`, called once at the daemon's start, installs it all.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import stat
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import structlog

from econnector import filemodes
from econnector.matricule import mask_text

_NAME_KEYS = {"last_name", "first_name", "patient", "name_of_patient"}

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_KEEP = 5
CONSOLE_MODES = ("auto", "json", "text")


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


# -- where the lines go --------------------------------------------------------------------


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose new files get their mode explicitly, not from the umask.

    A file it creates is 0600, or what :mod:`.filemodes` gives a file in a shared
    folder; one that exists keeps its mode, and the file started by a rollover
    gets the mode (at most 0640) and group of the one it replaces, so a
    log-reading group the administrator set up keeps reading after a rotation.
    """

    _carry: tuple[int, int] | None = None  # (mode, gid) of the file just rotated away

    def doRollover(self) -> None:
        try:
            st = os.stat(self.baseFilename)
            self._carry = (stat.S_IMODE(st.st_mode) & 0o640, st.st_gid)
        except OSError:
            self._carry = None
        super().doRollover()

    def _open(self) -> io.TextIOWrapper:
        path = self.baseFilename
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags | os.O_EXCL, filemodes.PRIVATE_FILE)
            created = True
        except FileExistsError:
            fd = os.open(path, flags, filemodes.PRIVATE_FILE)
            created = False
        try:
            if created and filemodes.POSIX:
                os.fchmod(fd, filemodes.PRIVATE_FILE)
                filemodes.fix_fd(fd, Path(path))
                if self._carry is not None:
                    mode, gid = self._carry
                    with contextlib.suppress(PermissionError):  # not a group of ours
                        os.fchown(fd, -1, gid)
                    os.fchmod(fd, mode | 0o600)
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise


def console_format(console: str, isatty: bool, env: Mapping[str, str]) -> str:
    """``"text"`` or ``"json"`` for stdout: ``console`` unless "auto"; auto is text
    only on a terminal outside systemd (journald wants one JSON object a line)."""
    if console in ("json", "text"):
        return console
    if env.get("JOURNAL_STREAM"):
        return "json"
    return "text" if isatty else "json"


def use_colour(isatty: bool, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    return isatty and not env.get("NO_COLOR")


def _renderer(fmt: str, colours: bool) -> Any:
    if fmt == "text":
        return structlog.dev.ConsoleRenderer(colors=colours, pad_event_to=0,
                                             exception_formatter=structlog.dev.plain_traceback)
    return structlog.processors.JSONRenderer()


def _handler(target: str, max_bytes: int, keep: int, console: str) -> logging.Handler:
    if target != "-":
        # RotatingFileHandler rolls over when the next line would cross max_bytes;
        # keep=0 would mean "never rotate" there: always keep at least one.
        handler: logging.Handler = PrivateRotatingFileHandler(
            target, maxBytes=max(1, max_bytes), backupCount=max(1, keep), encoding="utf-8")
        fmt, colours = "json", False
    else:
        handler = logging.StreamHandler(sys.stdout)
        tty = sys.stdout.isatty()
        fmt = console_format(console, tty, os.environ)
        colours = fmt == "text" and use_colour(tty, os.environ)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Libraries' records get the same fields and the same privacy filter
            # as ours (ours went through them before reaching the handler).
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_common()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        _renderer(fmt, colours)],
        )
    )
    return handler


def _common() -> list[Any]:
    # privacy_filter last: it also masks what format_exc_info made of a traceback.
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        privacy_filter,
    ]


_installed: list[logging.Handler] = []


def configure(target: str = "-", level: str = "info", *, max_bytes: int = DEFAULT_MAX_BYTES,
              keep: int = DEFAULT_KEEP, console: str = "auto") -> None:
    """Send every log line (ours and the libraries') privacy-filtered to ``target``
    (a file, rotated at ``max_bytes`` keeping ``keep`` old ones, or "-" for stdout
    rendered as ``console`` says) from ``level`` up.

    Raises OSError when the file cannot be opened; calling it again replaces
    (and closes) what an earlier call installed."""
    if console not in CONSOLE_MODES:
        raise ValueError(f"logging.console must be one of {', '.join(CONSOLE_MODES)}")
    lvl = getattr(logging, level.upper())
    handler = _handler(target, max_bytes, keep, console)
    root = logging.getLogger()
    for old in _installed:
        old.close()
    _installed[:] = [handler]
    root.handlers = [handler]
    root.setLevel(lvl)
    redact_library_logs()
    # Per-request and per-inotify-event chatter says nothing our own events do not.
    for noisy in ("httpx", "httpcore", "watchdog", "asyncio"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.stdlib.add_logger_name, *_common(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
