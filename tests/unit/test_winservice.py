"""The Windows service and the unlock pipe (issue 13, point 2), as far as Linux can run them.

pywin32 cannot run here: the service class is built against fake ``win32serviceutil`` and
``servicemanager`` modules injected into ``sys.modules`` (this file only), and driven the
way pythonservice.exe drives it: SvcDoRun on one thread, SvcStop from another. Behind it
runs the real daemon (runtime.serve on a real config), which must stop through the same
event as on SIGTERM. The named pipe's server runs its real threads against a fake
PipeApi; its security descriptor is a pure function. NOT RUN: any pywin32 call."""

from __future__ import annotations

import asyncio
import queue
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector import cli, config, control, winservice
from econnector.errors import ConfigError
from econnector.messages.service_command import SERVICE_TEXTS
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import write_config
from econnector_testsupport.english import english_words

# -- the service class, with fake pywin32 modules --------------------------------------------


class FakeFramework:
    """What win32serviceutil.ServiceFramework gives a subclass."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.statuses: list[tuple[int, int]] = []

    def ReportServiceStatus(self, status: int, waitHint: int = 5000) -> None:
        self.statuses.append((status, waitHint))


@pytest.fixture
def pywin32(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Fake win32serviceutil and servicemanager; ``options`` is the service's registry."""
    events: list[tuple[str, str]] = []
    options: dict[tuple[str, str], str] = {}
    wsu = types.ModuleType("win32serviceutil")
    wsu.ServiceFramework = FakeFramework  # type: ignore[attr-defined]
    wsu.GetServiceCustomOption = lambda name, opt: options.get((name, opt))  # type: ignore[attr-defined]
    sm = types.ModuleType("servicemanager")
    sm.LogInfoMsg = lambda msg: events.append(("info", msg))  # type: ignore[attr-defined]
    sm.LogErrorMsg = lambda msg: events.append(("error", msg))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "win32serviceutil", wsu)
    monkeypatch.setitem(sys.modules, "servicemanager", sm)
    monkeypatch.setattr(winservice, "_CLASS", None)
    yield {"events": events, "options": options}
    winservice._CLASS = None  # built against the fakes: never reuse it


def test_importing_econnector_imports_no_pywin32() -> None:
    code = ("import sys, econnector.cli, econnector.winservice, econnector.commands.service, "
            "econnector.control, econnector.winpaths\n"
            "print([m for m in ('win32serviceutil', 'servicemanager', 'pywintypes', "
            "'win32pipe', 'win32file') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_the_service_manager_stop_ends_the_real_daemon_through_the_stop_event(
        pywin32: dict[str, Any], tmp_path: Path, identity: TestIdentity,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SvcDoRun runs the shared start (winservice.start_daemon) and the real runtime.serve;
    SvcStop, from another thread, sets serve's stop event through the loop; the ordered
    shutdown runs and SvcDoRun returns. The event log says start, stop and stopped."""
    # One signing worker: the stop waits for it to have started (importing pyHanko).
    path = write_config(tmp_path / "practice", [("90812100", identity)],
                        signing={"workers": 1})
    cfg = config.load(path)
    cfg.folders.outbox.mkdir(parents=True, exist_ok=True)
    prepared: list[Path | None] = []

    def prepare(p: Path | None) -> config.Config:  # the process-wide steps (umask, lock,
        prepared.append(p)                      # logging) would change this test process
        return cfg

    monkeypatch.setattr(winservice, "prepare", prepare)
    served: list[asyncio.Event] = []
    real_serve = winservice_runtime_serve()

    async def serve(c: config.Config, stop: asyncio.Event | None = None) -> int:
        assert stop is not None
        served.append(stop)
        return await real_serve(c, stop=stop)

    import econnector.runtime as runtime
    monkeypatch.setattr(runtime, "serve", serve)

    pywin32["options"][("econnector-test", "config")] = str(path)
    svc = winservice.service_class()(["econnector-test"])
    t = threading.Thread(target=svc.SvcDoRun, name="service-main")
    t.start()
    sock = cfg.folders.work / "run" / "control.sock"
    deadline = time.monotonic() + 20
    while not sock.exists() and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists(), pywin32["events"]
    assert prepared == [path]
    assert not served[0].is_set()

    svc.SvcStop()  # the service manager's thread (here: the test's)
    t.join(30)
    assert not t.is_alive(), "SvcDoRun did not return after SvcStop"
    assert served[0].is_set()
    assert svc.statuses == [(winservice.SERVICE_STOP_PENDING, winservice.STOP_WAIT_HINT_MS)]
    assert not sock.exists()  # the control channel closed in the ordered shutdown
    kinds = [(k, m.split(": ", 1)[1].split(" ")[0]) for k, m in pywin32["events"]]
    assert kinds == [("info", "starting"), ("info", "stop"), ("info", "stopped")], \
        pywin32["events"]


def winservice_runtime_serve() -> Any:
    from econnector import runtime

    return runtime.serve


def test_a_stop_before_the_loop_runs_is_kept() -> None:
    stopper = winservice.Stopper()
    stopper.request()  # during the start: no loop yet

    async def main() -> bool:
        stop = asyncio.Event()
        stopper.attach(asyncio.get_running_loop(), stop)
        await asyncio.wait_for(stop.wait(), 2)
        return stop.is_set()

    assert asyncio.run(main())
    stopper.request()  # after the loop ended: no error


def test_a_config_error_is_logged_and_the_service_stops_without_a_traceback(
        pywin32: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(p: Path | None, started: Any = None) -> int:
        raise ConfigError("folders.outbox: Z:\\out is on the mapped network drive Z:")

    monkeypatch.setattr(winservice, "start_daemon", refuse)
    svc = winservice.service_class()(["econnector"])
    svc.SvcDoRun()  # returns: restarting cannot fix a config
    assert pywin32["events"][-1][0] == "error"
    assert "cannot start: folders.outbox: Z:\\out" in pywin32["events"][-1][1]

    def crash(p: Path | None, started: Any = None) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(winservice, "start_daemon", crash)
    with pytest.raises(RuntimeError):  # pythonservice reports a failure: recovery restarts
        svc.SvcDoRun()
    assert pywin32["events"][-1] == ("error", "econnector: stopped by an unexpected error: "
                                              "RuntimeError: boom")


def test_pythonservice_exe_finds_the_class_by_its_dotted_name(
        pywin32: dict[str, Any]) -> None:
    import importlib

    module, name = winservice.CLASS_STRING.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, FakeFramework)
    assert cls._svc_name_ == "econnector"


def test_the_signing_workers_get_python_not_the_service_host() -> None:
    exists = {"C:\\Python311\\python.exe"}.__contains__
    assert winservice.worker_python("C:\\Python311\\Lib\\site-packages\\win32\\"
                                    "pythonservice.exe", "C:\\Python311", exists) \
        == "C:\\Python311\\python.exe"
    venv = {"C:\\econnector\\.venv\\Scripts\\python.exe"}.__contains__
    assert winservice.worker_python("C:\\econnector\\.venv\\pythonservice.exe",
                                    "C:\\econnector\\.venv", venv) \
        == "C:\\econnector\\.venv\\Scripts\\python.exe"
    assert winservice.worker_python("/usr/bin/python3", "/usr", exists) == "/usr/bin/python3"


def test_accounts() -> None:
    for bad in ("LocalSystem", ".\\LocalSystem", "NT AUTHORITY\\SYSTEM"):
        assert winservice.account_refusal(bad) == "LocalSystem"
    assert winservice.account_refusal(".\\econnector") is None
    assert winservice.default_account("econnector") == "NT SERVICE\\econnector"
    assert not winservice.needs_password("NT SERVICE\\econnector")
    assert not winservice.needs_password("PRAXIS\\econnector$")  # a gMSA
    assert winservice.needs_password(".\\econnector")


# -- ``econnector service`` off Windows -------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr", "de"])
def test_service_install_off_windows_points_to_systemd(
        lang: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["service", "install", "--lang", lang, "-c", "/nonexistent.yaml"])
    out = capsys.readouterr()
    assert rc == cli.EXIT_CONFIG
    assert out.err.strip() == SERVICE_TEXTS[lang]["not-windows"]
    assert "docs/install-linux.md" in out.err and "Traceback" not in out.err
    assert out.out == ""


def test_service_texts_exist_in_every_language_with_the_same_fields() -> None:
    import string

    keys = set(SERVICE_TEXTS["en"])
    for lang in ("fr", "de"):
        assert set(SERVICE_TEXTS[lang]) == keys
        for k in keys:
            fields = {f for _, f, _, _ in string.Formatter().parse(SERVICE_TEXTS[lang][k]) if f}
            want = {f for _, f, _, _ in string.Formatter().parse(SERVICE_TEXTS["en"][k]) if f}
            assert fields == want, (lang, k)
            left = english_words(SERVICE_TEXTS[lang][k])
            assert not left, (lang, k, left)


# -- the named pipe -----------------------------------------------------------------------------

SERVICE_SID = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"


def test_the_pipe_admits_only_system_the_service_and_the_admin_group() -> None:
    sddl = control.pipe_sddl(SERVICE_SID, "S-1-5-21-1-2-3-1107")
    assert sddl == ("D:P(D;;GA;;;NU)(A;;GA;;;SY)"
                    f"(A;;GA;;;{SERVICE_SID})(A;;0x0012018b;;;S-1-5-21-1-2-3-1107)")
    # No Everyone (WD), no Authenticated Users (AU), no anonymous (AN); nothing inherited.
    for other in ("WD", "AU", "AN", "IU"):
        assert f";;;{other})" not in sddl
    assert sddl.startswith("D:P")
    # The admin group may read and write, not create an instance (FILE_CREATE_PIPE_INSTANCE
    # = 4, which GENERIC_WRITE would carry).
    assert not int(control.PIPE_CLIENT_RIGHTS, 16) & 0x4
    assert int(control.PIPE_CLIENT_RIGHTS, 16) & 0x3 == 0x3
    assert control.pipe_sddl(SERVICE_SID).endswith(";;;BA)")  # no group: Administrators
    for bad in ("S-1-5-21)(A;;GA;;;WD", "Everyone", ""):
        with pytest.raises(ValueError):
            control.pipe_sddl(bad if bad else "x", None)
    with pytest.raises(ValueError):
        control.pipe_sddl(SERVICE_SID, "S-1-1-0)(A;;GA;;;WD")


class FakeClient:
    def __init__(self, data: bytes, silent: bool = False) -> None:
        self.inbuf, self.silent, self.out = data, silent, b""
        self.closed = threading.Event()


class FakePipeApi:
    """The pywin32 side of PipeServer, in memory: clients arrive in ``incoming``."""

    def __init__(self) -> None:
        self.incoming: queue.Queue[FakeClient] = queue.Queue()
        self.created: list[dict[str, Any]] = []

    def sddl(self, group: str | None) -> str:
        return control.pipe_sddl(SERVICE_SID, None)

    def create(self, name: str, sddl: str, first: bool) -> dict[str, Any]:
        h: dict[str, Any] = {"first": first, "client": None, "sddl": sddl}
        self.created.append(h)
        return h

    def connect(self, h: dict[str, Any], stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                h["client"] = self.incoming.get(timeout=0.02)
                return True
            except queue.Empty:
                continue
        return False

    def read(self, h: dict[str, Any], size: int, timeout: float) -> bytes:
        c: FakeClient = h["client"]
        if c.silent or (not c.inbuf and not c.out):
            time.sleep(min(timeout, 0.05))
            if c.silent:
                raise TimeoutError
        chunk, c.inbuf = c.inbuf[:size], c.inbuf[size:]
        return chunk

    def write(self, h: dict[str, Any], data: bytes, timeout: float) -> None:
        h["client"].out += data

    def peer(self, h: dict[str, Any]) -> str:
        return "pid 4242"

    def close(self, h: dict[str, Any]) -> None:
        if h["client"] is not None:
            h["client"].closed.set()

    def new_stop(self) -> threading.Event:
        return threading.Event()

    def set_stop(self, stop: threading.Event) -> None:
        stop.set()


class Handler:
    def __init__(self) -> None:
        self.locked: list[str | None] = []

    async def unlock_manual(self, pc: str, pin: bytes) -> dict[str, Any]:
        return {"result": "wrong-pin", "tries_left": "few"}

    async def lock_manual(self, pc: str | None) -> dict[str, Any]:
        self.locked.append(pc)
        return {"result": "locked", "providers": ["90812100"]}

    def identities_state(self) -> dict[str, dict[str, Any]]:
        return {"90812100": {"state": "locked"}}


def test_the_pipe_server_answers_each_request_on_its_own_instance(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "IDLE_TIMEOUT", 0.3)
    api, handler = FakePipeApi(), Handler()

    async def main() -> list[FakeClient]:
        server = control.PipeServer(handler, r"\\.\pipe\econnector-control-test",
                                    asyncio.get_running_loop(), None, api)
        await server.start()
        clients = [FakeClient(b'{"op": "lock", "provider": null}\n'),
                   FakeClient(b'{"op": "unlock", "provider": "90812100", "pin": "1234"}\n'),
                   FakeClient(b"x" * (control.MAX_REQUEST + 10)),
                   FakeClient(b"", silent=True)]
        for c in clients:
            api.incoming.put(c)
        for c in clients:
            assert await asyncio.to_thread(c.closed.wait, 5), "a request got no answer"
        await server.close()
        return clients

    lock, unlock, long, silent = asyncio.run(main())
    assert yaml.safe_load(lock.out) == {"result": "locked", "providers": ["90812100"]}
    assert handler.locked == [None]
    assert yaml.safe_load(unlock.out) == {"result": "wrong-pin", "tries_left": "few"}
    assert b"1234" not in unlock.out
    assert yaml.safe_load(long.out) == {"result": "bad-request", "detail": "request too long"}
    assert yaml.safe_load(silent.out) == {"result": "bad-request",
                                          "detail": "no request in time"}
    # The first instance refuses a name already taken; each request had its own instance.
    assert api.created[0]["first"] and not any(h["first"] for h in api.created[1:])
    served = [h for h in api.created if h["client"] is not None]
    assert len(served) == 4 and len({id(h) for h in served}) == 4
    assert all(h["sddl"] == control.pipe_sddl(SERVICE_SID) for h in api.created)


def test_the_request_reader_stops_at_the_line_or_the_limit() -> None:
    parts = [b'{"op": ', b'"status"}\nrest', b"never read"]
    assert control.read_request(lambda n: parts.pop(0)) == b'{"op": "status"}'
    rest = [b"no newline", b""]
    assert control.read_request(lambda n: rest.pop(0)) == b"no newline"
    with pytest.raises(control.BadRequest):
        control.read_request(lambda n: b"y" * n, limit=100)
