"""The local control channel: how ``econnector unlock`` and ``lock`` reach the daemon.

A Unix socket ``control.sock`` in the daemon's runtime folder (``$RUNTIME_DIRECTORY``,
which systemd's ``RuntimeDirectory=`` sets, else ``<folders.work>/run``): the folder
0750, the socket 0660, both in ``folders.group`` when set, so only the service's user
and the practice's admin group can open it. On Windows a named pipe (see
:class:`PipeServer`: written, never run here).

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
import contextlib
import json
import os
import socket
import stat
import struct
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

if TYPE_CHECKING:
    from .config import Config

log = structlog.get_logger("econnector.control")

SOCKET_NAME = "control.sock"
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


def client_paths(cfg: Config, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where the CLI looks for the daemon, in order: the runtime folder of this
    environment, ``<folders.work>/run``, and systemd's ``/run/econnector`` (the unit's
    ``RuntimeDirectory=econnector``, which the CLI's own environment does not name)."""
    out = [socket_path(cfg, environ), cfg.folders.work / "run" / SOCKET_NAME,
           Path("/run/econnector") / SOCKET_NAME]
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

    def __init__(self, handler: Handler, path: Path, gid: int | None = None) -> None:
        self.handler, self.path, self.gid = handler, path, gid
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


# -- Windows: a named pipe ------------------------------------------------------------------


class PipeServer:
    """The named-pipe variant for Windows, on a thread (asyncio's pipe server is not a
    public API). NOT RUN in this project's CI (Linux only).

    Access: the pipe is created by :mod:`multiprocessing.connection` with Windows'
    default security descriptor for named pipes: full control for LocalSystem, the
    Administrators group and the creator (the service's account), read-only for
    Everyone, so another user can open it only to read and cannot send a request. The
    installer restricts it further with the service account's ACLs if the practice
    wants its admin group to unlock without being Administrators.
    """

    def __init__(self, handler: Handler, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.handler, self.name, self.loop = handler, name, loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None

    async def start(self) -> None:
        from multiprocessing.connection import Listener

        self._listener = Listener(self.name, family="AF_PIPE")
        self._thread = threading.Thread(target=self._serve, name="control-pipe", daemon=True)
        self._thread.start()
        log.info("control-listening", path=self.name)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with conn:
                try:
                    if not conn.poll(IDLE_TIMEOUT):
                        continue
                    line = conn.recv_bytes(MAX_REQUEST)
                    fut = asyncio.run_coroutine_threadsafe(
                        serve_line(self.handler, line, "pipe"), self.loop)
                    conn.send_bytes(encode(fut.result(ANSWER_TIMEOUT)))
                except (OSError, EOFError, TimeoutError):
                    continue

    async def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            # accept() blocks: a connection of our own wakes it, then it sees the stop.
            with contextlib.suppress(Exception):
                from multiprocessing.connection import Client

                Client(self.name, family="AF_PIPE").close()
            with contextlib.suppress(Exception):
                self._listener.close()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)


def make_server(cfg: Config, handler: Handler, gid: int | None,
                loop: asyncio.AbstractEventLoop) -> ControlServer | PipeServer:
    if sys.platform == "win32":
        return PipeServer(handler, pipe_name(cfg), loop)
    return ControlServer(handler, socket_path(cfg), gid)


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


def find_socket(cfg: Config, environ: Mapping[str, str] = os.environ) -> Path:
    """The first socket of :func:`client_paths` that exists; NoDaemon or NoAccess."""
    denied: Path | None = None
    for p in client_paths(cfg, environ):
        seen = _exists(p)
        if seen:
            return p
        if seen is None and denied is None:
            denied = p
    if denied is not None:
        raise NoAccess(str(denied))
    raise NoDaemon(str(socket_path(cfg, environ)))


def request(cfg: Config, doc: Mapping[str, Any], timeout: float = ANSWER_TIMEOUT,
            environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Send one request to the running daemon and return its answer."""
    if sys.platform == "win32":
        return _pipe_request(pipe_name(cfg), doc, timeout)
    path = find_socket(cfg, environ)
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
    from multiprocessing.connection import Client

    try:
        conn = Client(name, family="AF_PIPE")
    except FileNotFoundError:
        raise NoDaemon(name) from None
    except PermissionError:
        raise NoAccess(name) from None
    with conn:
        conn.send_bytes(encode(doc))
        if not conn.poll(timeout):
            raise NoAnswer(name)
        out = json.loads(conn.recv_bytes())
    return out if isinstance(out, dict) else {"result": "bad-answer"}
