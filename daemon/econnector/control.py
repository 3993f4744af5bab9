"""The local control channel: how ``econnector unlock`` and ``lock`` reach the daemon.

A Unix socket ``control.sock`` in the daemon's runtime folder (``$RUNTIME_DIRECTORY``,
which systemd's ``RuntimeDirectory=`` sets, else ``<folders.work>/run``): the folder
0750, the socket 0660, both in ``folders.group`` when set, so only the service's user
and the practice's admin group can open it. The daemon records where it listens in
``<folders.work>/control.json`` (:func:`recorded_socket`), and the template unit's
``/run/econnector/<instance>/control.sock`` follows from the config's name
(:func:`instance_of`), so ``econnector unlock -c /etc/econnector/<instance>.yaml`` finds
it without ``RUNTIME_DIRECTORY``. On Windows a named pipe whose security descriptor
admits only SYSTEM, the service's account and the practice's admin group, local
clients only (:class:`PipeServer`, :func:`pipe_sddl`; NOT RUN on Windows in this
project: CI is Linux).

Protocol: one JSON line in, one JSON line out, then the connection closes.

    {"op": "unlock", "provider": "90812100", "pin": "..."}
        -> {"result": "unlocked" | "wrong-pin" (+ "tries_left": few | one | none) |
            "token-absent" | "locked" | "cannot-sign" | "unknown-provider" | "not-manual"}
    {"op": "lock", "provider": "90812100" or null (all)}
        -> {"result": "locked", "providers": [...]}
    {"op": "status"} -> {"result": "status", "identities": {...}}

A request is at most :data:`MAX_REQUEST` bytes and must come within
:data:`IDLE_TIMEOUT` seconds. The PIN is never logged, never echoed in an answer: the
log says who asked (the peer's uid), for which provider, and the outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

if TYPE_CHECKING:
    from .config import Config

log = structlog.get_logger("econnector.control")

SOCKET_NAME = "control.sock"
RECORD_NAME = "control.json"  # in folders.work: where this daemon listens
RECORD_SCHEMA = "econnector.control/v1"
RUN_BASE = Path("/run/econnector")  # the units' RuntimeDirectory=econnector[/%i]
ETC_BASE = Path("/etc/econnector")  # the template's ECONNECTOR_CONFIG=/etc/econnector/%i.yaml
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_REQUEST = 4096
IDLE_TIMEOUT = 10.0
# The longest an unlock may take (a card's login, the workers' restart), as the CLI waits.
ANSWER_TIMEOUT = 120.0
RUN_MODE = 0o750
SOCKET_MODE = 0o660
PROVIDER_MAX = 64
PIN_MAX = 256


class Handler(Protocol):
    """What the channel asks of the daemon (the pipeline implements it)."""

    async def unlock_manual(self, pc: str, pin: bytes) -> dict[str, Any]: ...

    async def lock_manual(self, pc: str | None) -> dict[str, Any]: ...

    def identities_state(self) -> dict[str, dict[str, Any]]: ...


# -- where --------------------------------------------------------------------------------


def runtime_dir(cfg: Config, environ: Mapping[str, str] = os.environ) -> Path:
    """The daemon's runtime folder: the first of ``$RUNTIME_DIRECTORY`` (systemd), else
    ``<folders.work>/run``."""
    given = environ.get("RUNTIME_DIRECTORY", "")
    first = given.split(":")[0].strip()
    return Path(first) if first else cfg.folders.work / "run"


def socket_path(cfg: Config, environ: Mapping[str, str] = os.environ) -> Path:
    return runtime_dir(cfg, environ) / SOCKET_NAME


def instance_of(config_path: Path | None, etc: Path = ETC_BASE) -> str | None:
    """The template unit's instance a config belongs to: ``/etc/econnector/practice1.yaml``
    is ``practice1`` (the unit reads ``/etc/econnector/%i.yaml``); None for the plain
    unit's ``econnector.yaml`` or a config elsewhere. Pure."""
    if config_path is None:
        return None
    path = Path(os.path.abspath(config_path))
    if path.parent != Path(os.path.abspath(etc)) or path.suffix not in (".yaml", ".yml"):
        return None
    name = path.stem
    if name == "econnector" or not _INSTANCE.fullmatch(name):
        return None
    return name


def unit_socket(config_path: Path | None, run_base: Path = RUN_BASE, etc: Path = ETC_BASE) -> Path:
    """Where systemd's unit puts the socket for this config: ``<run_base>/<instance>/``
    for a template instance, else ``<run_base>/``. Pure."""
    instance = instance_of(config_path, etc)
    return (run_base / instance if instance else run_base) / SOCKET_NAME


def record(work: Path, path: Path) -> None:
    """Say where this daemon listens (``work/control.json``, atomically): the CLI of
    root or the service's user reads it whatever ``RUNTIME_DIRECTORY`` the unit gave."""
    from . import fsio

    with contextlib.suppress(OSError):  # the unit's path and the config's name remain
        fsio.write_json(work / RECORD_NAME, {"schema": RECORD_SCHEMA, "socket": str(path),
                                             "pid": os.getpid()})


def recorded_socket(work: Path) -> Path | None:
    """The socket the daemon of ``work`` recorded, or None (no record, not ours to read,
    damaged)."""
    try:
        doc = json.loads((work / RECORD_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    sock = doc.get("socket") if isinstance(doc, dict) else None
    return Path(sock) if isinstance(sock, str) and os.path.isabs(sock) else None


def client_paths(cfg: Config, environ: Mapping[str, str] = os.environ,
                 run_base: Path = RUN_BASE, etc: Path = ETC_BASE) -> list[Path]:
    """Where the CLI looks for the daemon, in order: the socket the daemon recorded in
    ``work/control.json`` (readable by root and the service's user), the runtime folder
    of this environment, ``<folders.work>/run``, and the systemd unit's folder for this
    config (``/run/econnector/<instance>`` for ``/etc/econnector/<instance>.yaml``, else
    ``/run/econnector``: never another instance's socket)."""
    out = [] if (rec := recorded_socket(cfg.folders.work)) is None else [rec]
    out += [socket_path(cfg, environ), cfg.folders.work / "run" / SOCKET_NAME,
            unit_socket(cfg.path, run_base, etc)]
    return list(dict.fromkeys(out))


def pipe_name(cfg: Config) -> str:
    """The Windows named pipe of this daemon (one per work folder)."""
    import hashlib

    tag = hashlib.sha256(str(cfg.folders.work).encode()).hexdigest()[:12]
    return rf"\\.\pipe\econnector-control-{tag}"


# -- the protocol (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    op: str
    provider: str | None = None
    pin: bytes = b""

    def __repr__(self) -> str:  # never the PIN
        return f"Request(op={self.op!r}, provider={self.provider!r})"


class BadRequest(ValueError):
    pass


def parse_request(line: bytes) -> Request:
    """One request line; BadRequest (with a reason that never quotes the line) if not."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("not a JSON line") from None
    if not isinstance(doc, dict):
        raise BadRequest("not a JSON object")
    op = doc.get("op")
    provider = doc.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider
                                 or len(provider) > PROVIDER_MAX):
        raise BadRequest("provider must be a provider code")
    if op == "unlock":
        pin = doc.get("pin")
        if provider is None:
            raise BadRequest("unlock needs a provider")
        if not isinstance(pin, str) or not pin or len(pin) > PIN_MAX:
            raise BadRequest("unlock needs a PIN")
        return Request("unlock", provider, pin.encode("utf-8"))
    if op == "lock":
        return Request("lock", provider)
    if op == "status":
        return Request("status")
    raise BadRequest("op must be unlock, lock or status")


async def answer(handler: Handler, req: Request) -> dict[str, Any]:
    if req.op == "unlock":
        assert req.provider is not None
        return await handler.unlock_manual(req.provider, req.pin)
    if req.op == "lock":
        return await handler.lock_manual(req.provider)
    return {"result": "status", "identities": handler.identities_state()}


def encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8") + b"\n"


async def serve_line(handler: Handler, line: bytes, peer: str) -> dict[str, Any]:
    """The answer to one request line (any failure is an answer, not a crash)."""
    try:
        req = parse_request(line)
    except BadRequest as e:
        log.warning("control-bad-request", peer=peer, reason=str(e))
        return {"result": "bad-request", "detail": str(e)}
    try:
        out = await answer(handler, req)
    except Exception as e:  # the daemon goes on; the caller is told
        log.exception("control-failed", peer=peer, op=req.op, provider=req.provider,
                      error=type(e).__name__)
        return {"result": "error", "detail": type(e).__name__}
    log.info("control-request", peer=peer, op=req.op, provider=req.provider,
             result=out.get("result"))
    return out


# -- the Unix socket ------------------------------------------------------------------------


def _peer(writer: asyncio.StreamWriter) -> str:
    """The peer's uid (Linux SO_PEERCRED), for the log."""
    sock = writer.get_extra_info("socket")
    peercred = getattr(socket, "SO_PEERCRED", None)
    if sock is None or peercred is None:
        return "?"
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, peercred,
                                                              struct.calcsize("3i")))
    except OSError:
        return "?"
    return f"uid {uid}"


def _prepare_dir(folder: Path, gid: int | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{folder} is not a folder")
    if st.st_uid == os.geteuid():  # systemd's RuntimeDirectory= is ours too
        if gid is not None and st.st_gid != gid:
            os.chown(folder, -1, gid)
        os.chmod(folder, RUN_MODE)


class ControlServer:
    """The asyncio Unix-socket server (POSIX)."""

    def __init__(self, handler: Handler, path: Path, gid: int | None = None,
                 work: Path | None = None) -> None:
        self.handler, self.path, self.gid, self.work = handler, path, gid, work
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket (replacing one left by a crash: the instance lock says no other
        daemon uses this folder); OSError with the reason if it cannot."""
        if len(os.fsencode(self.path)) >= 104:  # sun_path: 104 (BSD) to 108 (Linux) bytes
            raise OSError(f"the path {self.path} is too long for a Unix socket; set "
                          "RuntimeDirectory= in the unit (or a shorter folders.work)")
        _prepare_dir(self.path.parent, self.gid)
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OSError(f"{self.path} exists and is not a socket")
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path),
                                                       limit=MAX_REQUEST)
        if self.gid is not None:
            os.chown(self.path, -1, self.gid)
        os.chmod(self.path, SOCKET_MODE)
        if self.work is not None:
            record(self.work, self.path)
        log.info("control-listening", path=str(self.path))

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        peer = _peer(writer)
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
            except TimeoutError:
                out: dict[str, Any] = {"result": "bad-request", "detail": "no request in time"}
            except (ValueError, asyncio.LimitOverrunError):
                out = {"result": "bad-request", "detail": "request too long"}
            else:
                out = await serve_line(self.handler, line, peer)
            writer.write(encode(out))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)
        except (ConnectionError, OSError):
            pass  # the client left: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._clients.discard(task)

    async def close(self) -> None:
        """Stop listening first (no unlock during the shutdown), then end the clients."""
        if self._server is not None:
            self._server.close()
            for t in list(self._clients):
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self.work is not None and recorded_socket(self.work) == self.path:
            with contextlib.suppress(OSError):
                (self.work / RECORD_NAME).unlink()


# -- Windows: a named pipe ------------------------------------------------------------------
#
# NOT RUN on Windows in this project (CI is Linux). What runs here: pipe_sddl (pure),
# read_request (pure) and PipeServer's threads against a fake PipeApi
# (tests/unit/test_winservice.py). _Win32Pipe, the pywin32 calls, never ran.

# Access mask of the admin group: FILE_GENERIC_READ | FILE_WRITE_DATA |
# FILE_WRITE_ATTRIBUTES. Not GENERIC_WRITE: on a pipe that includes FILE_APPEND_DATA,
# which is FILE_CREATE_PIPE_INSTANCE, and would let a member serve the pipe himself.
PIPE_CLIENT_RIGHTS = "0x0012018b"
MAX_PIPE_INSTANCES = 4  # one per request being answered, plus the one listening
_SID = re.compile(r"S-1-[0-9]+(-[0-9]+)+")
_SDDL_ALIASES = frozenset({"SY", "BA", "LS", "NS"})


def _checked_sid(sid: str) -> str:
    if sid in _SDDL_ALIASES or _SID.fullmatch(sid):
        return sid
    raise ValueError(f"not a SID: {sid!r}")


def pipe_sddl(service_sid: str, admin_sid: str | None = None) -> str:
    """The pipe's security descriptor (SDDL). Pure.

    A protected DACL (nothing inherited): network logons denied outright; full control
    for SYSTEM and the service's account (which creates the pipe's next instances); read
    and write, but not create-instance, for the practice's admin group
    (``folders.group``; BUILTIN\\Administrators when none is set). Anyone else has no
    entry, so no access. SIDs are checked so that a name cannot inject an entry."""
    me = _checked_sid(service_sid)
    admin = _checked_sid(admin_sid) if admin_sid else "BA"
    return (f"D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;{me})"
            f"(A;;{PIPE_CLIENT_RIGHTS};;;{admin})")


def read_request(read: Callable[[int], bytes], limit: int = MAX_REQUEST) -> bytes:
    """One request line from ``read(n)`` (b"" at the end); BadRequest beyond ``limit``
    bytes. Pure but for ``read``."""
    data = b""
    while b"\n" not in data:
        chunk = read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
        if len(data) > limit and b"\n" not in data[:limit]:
            raise BadRequest("request too long")
    return data.split(b"\n", 1)[0]


class PipeApi(Protocol):
    """The few Windows pipe calls the server makes (pywin32 in :class:`_Win32Pipe`)."""

    def sddl(self, group: str | None) -> str: ...

    def create(self, name: str, sddl: str, first: bool) -> Any: ...

    def connect(self, handle: Any, stop: Any) -> bool: ...

    def read(self, handle: Any, size: int, timeout: float) -> bytes: ...

    def write(self, handle: Any, data: bytes, timeout: float) -> None: ...

    def peer(self, handle: Any) -> str: ...

    def close(self, handle: Any) -> None: ...

    def new_stop(self) -> Any: ...

    def set_stop(self, stop: Any) -> None: ...


class PipeServer:
    """The named-pipe variant for Windows, on threads (asyncio's pipe server is not a
    public API): the same JSON lines as the Unix socket.

    The pipe is created with :func:`pipe_sddl` as its security descriptor,
    ``PIPE_REJECT_REMOTE_CLIENTS`` and, for the first instance,
    ``FILE_FLAG_FIRST_PIPE_INSTANCE``: if another process already holds the name (one
    pretending to be econnector, waiting for a PIN), the channel does not open and the
    start says so. Each request gets its own instance: accepted, handed to a thread,
    answered, closed; a new instance listens meanwhile (at most
    :data:`MAX_PIPE_INSTANCES` at once).
    """

    def __init__(self, handler: Handler, name: str, loop: asyncio.AbstractEventLoop,
                 group: str | None = None, api: PipeApi | None = None) -> None:
        self.handler, self.name, self.loop, self.group = handler, name, loop, group
        self._api = api
        self._stop: Any = None
        self._stopping = threading.Event()
        self._first: Any = None
        self._sddl = ""
        self._thread: threading.Thread | None = None
        self._clients: set[threading.Thread] = set()

    async def start(self) -> None:
        """Create the first instance (OSError with the reason if it cannot), then listen
        on a thread."""
        api = self._api = self._api or _Win32Pipe()
        self._sddl = api.sddl(self.group)
        self._first = api.create(self.name, self._sddl, True)
        self._stop = api.new_stop()
        self._thread = threading.Thread(target=self._serve, name="control-pipe", daemon=True)
        self._thread.start()
        log.info("control-listening", path=self.name)

    def _serve(self) -> None:
        api = self._api
        assert api is not None
        handle, self._first = self._first, None
        while not self._stopping.is_set():
            if handle is None:
                try:
                    handle = api.create(self.name, self._sddl, False)
                except OSError as e:  # all instances busy, or resources: try again soon
                    log.warning("control-pipe-busy", error=str(e))
                    self._stopping.wait(0.5)
                    continue
            try:
                connected = api.connect(handle, self._stop)
            except OSError:
                connected = False
            if not connected or self._stopping.is_set():
                api.close(handle)
                handle = None
                continue
            t = threading.Thread(target=self._client, args=(handle,), name="control-pipe-client",
                                 daemon=True)
            self._clients.add(t)
            t.start()
            handle = None
        if handle is not None:
            api.close(handle)

    def _client(self, handle: Any) -> None:
        api = self._api
        assert api is not None
        try:
            peer = api.peer(handle)
            deadline = time.monotonic() + IDLE_TIMEOUT

            def read(n: int) -> bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                return api.read(handle, n, left)

            try:
                line = read_request(read)
            except BadRequest as e:
                out: dict[str, Any] = {"result": "bad-request", "detail": str(e)}
            except TimeoutError:
                out = {"result": "bad-request", "detail": "no request in time"}
            else:
                fut = asyncio.run_coroutine_threadsafe(serve_line(self.handler, line, peer),
                                                       self.loop)
                out = fut.result(ANSWER_TIMEOUT)
            api.write(handle, encode(out), IDLE_TIMEOUT)
            # Closing now could discard an answer not read yet: wait (bounded) for the
            # client to read it and hang up.
            with contextlib.suppress(OSError, TimeoutError):
                api.read(handle, 1, IDLE_TIMEOUT)
        except (OSError, TimeoutError, RuntimeError, concurrent.futures.TimeoutError,
                concurrent.futures.CancelledError):
            pass  # the client left, or the daemon stops: nothing to answer
        finally:
            api.close(handle)
            self._clients.discard(threading.current_thread())

    async def close(self) -> None:
        """Stop listening (the waiting instance is cancelled, not connected to), then let
        the requests being answered finish, briefly."""
        self._stopping.set()
        if self._api is not None and self._stop is not None:
            self._api.set_stop(self._stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)
        for t in list(self._clients):
            await asyncio.to_thread(t.join, 1.0)


# Windows constants (numbers, so this module needs nothing of pywin32 to import).
_PIPE_ACCESS_DUPLEX = 0x00000003
_FILE_FLAG_OVERLAPPED = 0x40000000
_FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
_PIPE_TYPE_BYTE_WAIT = 0x00000000  # PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT
_PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
_ERROR_ACCESS_DENIED = 5
_ERROR_BROKEN_PIPE = 109
_ERROR_PIPE_BUSY = 231
_ERROR_PIPE_CONNECTED = 535
_ERROR_IO_PENDING = 997
_SECURITY_SQOS_IDENTIFICATION = 0x00110000  # SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION


class _Win32Pipe:  # pragma: no cover - Windows only, NOT RUN in this project
    """:class:`PipeApi` with pywin32, overlapped I/O so that every wait has a bound
    and the listening wait ends on the stop event."""

    def __init__(self) -> None:
        import pywintypes
        import win32api
        import win32event
        import win32file
        import win32pipe
        import win32security

        self.pt, self.api, self.ev = pywintypes, win32api, win32event
        self.file, self.pipe, self.sec = win32file, win32pipe, win32security

    def _os_error(self, e: Any) -> OSError:
        return OSError(f"{e.funcname}: {e.strerror} (winerror {e.winerror})")

    def sddl(self, group: str | None) -> str:
        token = self.sec.OpenProcessToken(self.api.GetCurrentProcess(), 0x0008)  # TOKEN_QUERY
        me = self.sec.ConvertSidToStringSid(self.sec.GetTokenInformation(
            token, self.sec.TokenUser)[0])
        admin = None
        if group:
            try:
                sid, _domain, _kind = self.sec.LookupAccountName(None, group)
            except self.pt.error as e:
                raise OSError(f"the group {group} (folders.group) is unknown to Windows "
                              f"({e.strerror})") from None
            admin = self.sec.ConvertSidToStringSid(sid)
        return pipe_sddl(me, admin)

    def create(self, name: str, sddl: str, first: bool) -> Any:
        sa = self.sec.SECURITY_ATTRIBUTES()
        sa.SECURITY_DESCRIPTOR = self.sec.ConvertStringSecurityDescriptorToSecurityDescriptor(
            sddl, self.sec.SDDL_REVISION_1)
        mode = _PIPE_ACCESS_DUPLEX | _FILE_FLAG_OVERLAPPED
        if first:
            mode |= _FILE_FLAG_FIRST_PIPE_INSTANCE
        try:
            return self.pipe.CreateNamedPipe(
                name, mode, _PIPE_TYPE_BYTE_WAIT | _PIPE_REJECT_REMOTE_CLIENTS,
                MAX_PIPE_INSTANCES, MAX_REQUEST, 65536, 0, sa)
        except self.pt.error as e:
            if first and e.winerror == _ERROR_ACCESS_DENIED:
                raise OSError(f"the pipe {name} is held by another process (another "
                              "econnector on this work folder, or one posing as it)") from None
            raise self._os_error(e) from None

    def _overlapped(self) -> Any:
        ov = self.pt.OVERLAPPED()
        ov.hEvent = self.ev.CreateEvent(None, True, False, None)
        return ov

    def _cancel(self, handle: Any, ov: Any) -> None:
        with contextlib.suppress(self.pt.error):
            self.file.CancelIo(handle)
        with contextlib.suppress(self.pt.error):
            self.file.GetOverlappedResult(handle, ov, True)  # the buffer outlives the I/O

    def connect(self, handle: Any, stop: Any) -> bool:
        ov = self._overlapped()
        try:
            rc = self.pipe.ConnectNamedPipe(handle, ov)
        except self.pt.error as e:
            raise self._os_error(e) from None
        if rc == _ERROR_PIPE_CONNECTED:
            return True
        which = self.ev.WaitForMultipleObjects([ov.hEvent, stop], False, self.ev.INFINITE)
        if which != self.ev.WAIT_OBJECT_0:
            self._cancel(handle, ov)
            return False
        try:
            self.file.GetOverlappedResult(handle, ov, True)
        except self.pt.error as e:
            raise self._os_error(e) from None
        return True

    def _wait(self, handle: Any, ov: Any, timeout: float) -> int:
        if self.ev.WaitForSingleObject(ov.hEvent, max(1, int(timeout * 1000))) \
                != self.ev.WAIT_OBJECT_0:
            self._cancel(handle, ov)
            raise TimeoutError
        return int(self.file.GetOverlappedResult(handle, ov, False))

    def read(self, handle: Any, size: int, timeout: float) -> bytes:
        buf = self.file.AllocateReadBuffer(size)
        ov = self._overlapped()
        try:
            self.file.ReadFile(handle, buf, ov)
            got = self._wait(handle, ov, timeout)
        except self.pt.error as e:
            if e.winerror == _ERROR_BROKEN_PIPE:
                return b""
            raise self._os_error(e) from None
        return bytes(buf[:got])

    def write(self, handle: Any, data: bytes, timeout: float) -> None:
        ov = self._overlapped()
        try:
            self.file.WriteFile(handle, data, ov)
            self._wait(handle, ov, timeout)
        except self.pt.error as e:
            raise self._os_error(e) from None

    def peer(self, handle: Any) -> str:
        try:
            return f"pid {self.pipe.GetNamedPipeClientProcessId(handle)}"
        except (AttributeError, self.pt.error):
            return "pipe"

    def close(self, handle: Any) -> None:
        with contextlib.suppress(self.pt.error):
            self.pipe.DisconnectNamedPipe(handle)
        with contextlib.suppress(self.pt.error):
            handle.Close()

    def new_stop(self) -> Any:
        return self.ev.CreateEvent(None, True, False, None)

    def set_stop(self, stop: Any) -> None:
        self.ev.SetEvent(stop)


def make_server(cfg: Config, handler: Handler, gid: int | None,
                loop: asyncio.AbstractEventLoop) -> ControlServer | PipeServer:
    if sys.platform == "win32":
        group = cfg.folders.group
        return PipeServer(handler, pipe_name(cfg), loop, None if group is None else str(group))
    return ControlServer(handler, socket_path(cfg), gid, cfg.folders.work)

# -- the client (the CLI) -----------------------------------------------------------------


class NoDaemon(OSError):
    """Nobody listens where the daemon would (``path`` says where we looked)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class NoAccess(OSError):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class NoAnswer(OSError):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _exists(path: Path) -> bool | None:
    """True or False, or None when we may not even look (a folder closed to us)."""
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except FileNotFoundError:
        return False
    except PermissionError:
        return None
    except OSError:
        return False


def find_socket(cfg: Config, environ: Mapping[str, str] = os.environ,
                run_base: Path = RUN_BASE, etc: Path = ETC_BASE) -> Path:
    """The first socket of :func:`client_paths` that exists; NoDaemon or NoAccess."""
    denied: Path | None = None
    for p in client_paths(cfg, environ, run_base, etc):
        seen = _exists(p)
        if seen:
            return p
        if seen is None and denied is None:
            denied = p
    if denied is not None:
        raise NoAccess(str(denied))
    raise NoDaemon(str(socket_path(cfg, environ)))


def request(cfg: Config, doc: Mapping[str, Any], timeout: float = ANSWER_TIMEOUT,
            environ: Mapping[str, str] = os.environ, run_base: Path = RUN_BASE,
            etc: Path = ETC_BASE) -> dict[str, Any]:
    """Send one request to the running daemon and return its answer."""
    if sys.platform == "win32":
        return _pipe_request(pipe_name(cfg), doc, timeout)
    path = find_socket(cfg, environ, run_base, etc)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoDaemon(str(path)) from None
        except PermissionError:
            raise NoAccess(str(path)) from None
        sock.sendall(encode(doc))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise NoAnswer(str(path)) from None
    finally:
        sock.close()
    try:
        out = json.loads(data)
    except ValueError:
        raise NoAnswer(str(path)) from None
    return out if isinstance(out, dict) else {"result": "bad-answer"}


def _pipe_request(name: str, doc: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """The Windows side of :func:`request` (NOT RUN on Windows in this project). The pipe
    is opened with SECURITY_IDENTIFICATION, so a process posing as the daemon can learn
    who asks but cannot act as them; a busy pipe is waited for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = _open_pipe(name)
            break
        except FileNotFoundError:
            raise NoDaemon(name) from None
        except PermissionError:
            raise NoAccess(name) from None
        except OSError as e:
            if getattr(e, "winerror", None) != _ERROR_PIPE_BUSY or time.monotonic() > deadline:
                raise NoAnswer(name) from None
            time.sleep(0.1)
    with f:
        f.write(encode(doc))
        data = b""
        while not data.endswith(b"\n"):
            chunk = f.read(65536)
            if not chunk:
                break
            data += chunk
    try:
        out = json.loads(data)
    except ValueError:
        raise NoAnswer(name) from None
    return out if isinstance(out, dict) else {"result": "bad-answer"}


def _open_pipe(name: str) -> Any:  # pragma: no cover - Windows only
    """A binary file on the pipe: pywin32's CreateFile with SECURITY_IDENTIFICATION when
    installed (the service needs it anyway), else plain ``open``."""
    if sys.platform == "win32":
        try:
            import msvcrt

            import pywintypes
            import win32file
        except ImportError:
            return open(name, "r+b", buffering=0)
        try:
            h = win32file.CreateFile(name, 0xC0000000, 0, None, 3,  # GENERIC_RW, OPEN_EXISTING
                                     _SECURITY_SQOS_IDENTIFICATION, None)
        except pywintypes.error as e:
            if e.winerror in (2, 3):
                raise FileNotFoundError(name) from None
            if e.winerror == _ERROR_ACCESS_DENIED:
                raise PermissionError(name) from None
            raise OSError(0, e.strerror, name, e.winerror) from None
        fd = msvcrt.open_osfhandle(h.Detach(), os.O_RDWR)
        return os.fdopen(fd, "r+b", buffering=0)
    raise OSError(f"{name}: named pipes are Windows only")
