"""econnector as a Windows service (pywin32's ``win32serviceutil.ServiceFramework``).

NOT RUN on Windows in this project: CI is Linux. What runs here is the logic around
pywin32 (tests/unit/test_winservice.py injects fake ``win32serviceutil`` and
``servicemanager`` modules): the stop path, the start path, the account check.

Importing this module imports nothing of pywin32: the service class is built on first
use (:func:`service_class`, or the module attribute ``EconnectorService`` that
pythonservice.exe asks for), so ``import econnector`` stays clean on Linux.

The service runs the steps of ``econnector run`` (:func:`start_daemon`) and stops the
way SIGTERM stops it: the service manager's stop sets the same ``asyncio.Event``
that ``runtime.serve`` waits on, from the service manager's thread through
``loop.call_soon_threadsafe`` (:class:`Stopper`); the shutdown is then the ordered
one of :mod:`.runtime` (documents in flight finish, within its deadline). Start,
stop and failure go to the Windows event log (``servicemanager.LogInfoMsg`` and
``LogErrorMsg``); the daemon's own log goes to ``logging.file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ntpath
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import starting
from .errors import ConfigError
from .starting import Started

if TYPE_CHECKING:
    from .config import Config

SERVICE_NAME = "econnector"
DISPLAY_NAME = "econnector"
DESCRIPTION = ("Signs the practice's documents dropped in the outbox and delivers them to "
               "the patients' vault.")
CLASS_STRING = "econnector.winservice.EconnectorService"  # what pythonservice.exe imports
CONFIG_OPTION = "config"  # the service's custom option (registry) holding -c CONFIG
STOP_WAIT_HINT_MS = 30_000  # runtime.SHUTDOWN_DEADLINE and the workers' stop, with room
SERVICE_STOP_PENDING = 3  # win32service.SERVICE_STOP_PENDING
_REFUSED_ACCOUNTS = frozenset({"localsystem", ".\\localsystem", "nt authority\\system",
                               "system"})



# -- stopping from another thread ------------------------------------------------------------


class Stopper:
    """The bridge from the service manager's thread to the daemon's loop.

    :meth:`attach` runs on the loop's thread when the daemon starts; :meth:`request`
    runs on the service manager's thread, possibly before (a stop during the start):
    the request is then kept and honoured as soon as the loop is there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.requested = False

    def attach(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        with self._lock:
            self._loop, self._stop = loop, stop
            if self.requested:
                stop.set()

    def request(self) -> None:
        with self._lock:
            self.requested = True
            if self._loop is not None and self._stop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has already ended
                    self._loop.call_soon_threadsafe(self._stop.set)


# -- the start: cmd_run's steps -------------------------------------------------------------


def worker_python(executable: str, prefix: str, exists: Callable[[str], bool]) -> str:
    """The interpreter for the signing workers (``signer`` starts ``sys.executable``):
    under pythonservice.exe that is the service host, not Python, so the
    ``python.exe`` of the same installation or venv instead. Pure but for ``exists``."""
    if not ntpath.basename(executable).lower().startswith("pythonservice"):
        return executable
    for candidate in (ntpath.join(prefix, "python.exe"),
                      ntpath.join(prefix, "Scripts", "python.exe"),
                      ntpath.join(ntpath.dirname(executable), "python.exe")):
        if exists(candidate):
            return candidate
    return executable


def prepare(config_path: Path | None) -> Config:
    """``econnector run``'s steps before serving (:func:`starting.prepare`)."""
    return starting.prepare(config_path)


def start_daemon(config_path: Path | None, started: Started | None = None) -> int:
    """Run the daemon until its stop event is set; ``started(loop, stop)`` is called on
    the loop's thread first, so that another thread can stop it (:class:`Stopper`).
    The start path of ``econnector run`` (:mod:`.starting`)."""
    return starting.serve(prepare(config_path), started)


# -- the service class (pywin32, built on first use) ----------------------------------------


def _quiet_std_streams() -> None:
    """A service has no console: the daemon's prints must not fail."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def service_class() -> type[Any]:
    """The ServiceFramework subclass (imports pywin32)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import servicemanager
    import win32serviceutil

    class EconnectorService(win32serviceutil.ServiceFramework):
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            win32serviceutil.ServiceFramework.__init__(self, args)
            self.name = str(args[0]) if args else SERVICE_NAME
            self.stopper = Stopper()

        def config_path(self) -> Path | None:
            value = win32serviceutil.GetServiceCustomOption(self.name, CONFIG_OPTION)
            return Path(value) if value else None

        def SvcStop(self) -> None:
            self.ReportServiceStatus(SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)
            servicemanager.LogInfoMsg(f"{self.name}: stop asked; finishing the documents "
                                      "in flight")
            self.stopper.request()

        def SvcDoRun(self) -> None:
            _quiet_std_streams()
            sys.executable = worker_python(sys.executable, sys.prefix, os.path.isfile)
            try:
                path = self.config_path()
                servicemanager.LogInfoMsg(f"{self.name}: starting (config "
                                          f"{path or 'the default'})")
                start_daemon(path, self.stopper.attach)
            except ConfigError as e:  # restarting cannot fix it: stop, said
                servicemanager.LogErrorMsg(f"{self.name}: cannot start: {e.message}")
                return
            except BaseException as e:
                servicemanager.LogErrorMsg(f"{self.name}: stopped by an unexpected error: "
                                           f"{type(e).__name__}: {e}")
                raise  # the service manager sees a failure (recovery restarts it)
            servicemanager.LogInfoMsg(f"{self.name}: stopped")

    _CLASS = EconnectorService
    return _CLASS


_CLASS: type[Any] | None = None


def __getattr__(name: str) -> Any:
    """``econnector.winservice.EconnectorService`` for pythonservice.exe."""
    if name == "EconnectorService":
        return service_class()
    raise AttributeError(name)


# -- install, remove, start, stop (``econnector service``) ---------------------------------


def account_refusal(account: str | None) -> str | None:
    """Why the service must not run as ``account``, or None. Pure."""
    if account is not None and account.strip().lower() in _REFUSED_ACCOUNTS:
        return "LocalSystem"
    return None


def default_account(name: str) -> str:
    """The service's own virtual account (no password; on the network it is the
    computer's account)."""
    return f"NT SERVICE\\{name}"


def needs_password(account: str) -> bool:
    """A local or domain user needs its password; a virtual account (``NT SERVICE\\``),
    a managed service account or gMSA (``DOMAIN\\name$``) does not. Pure."""
    low = account.lower()
    return not (low.startswith("nt service\\") or low.endswith("$")
                or low in ("nt authority\\localservice", "nt authority\\networkservice"))


def install(name: str, config_path: Path, account: str, password: str | None) -> None:
    import win32service
    import win32serviceutil

    win32serviceutil.InstallService(
        CLASS_STRING, name, f"{DISPLAY_NAME} ({name})" if name != SERVICE_NAME else DISPLAY_NAME,
        startType=win32service.SERVICE_AUTO_START, userName=account, password=password,
        description=DESCRIPTION, delayedstart=True)
    win32serviceutil.SetServiceCustomOption(name, CONFIG_OPTION, str(config_path))


def remove(name: str) -> None:
    import win32serviceutil

    win32serviceutil.RemoveService(name)


def start(name: str) -> None:
    import win32serviceutil

    win32serviceutil.StartService(name)


def stop(name: str) -> None:
    import win32serviceutil

    win32serviceutil.StopService(name)
