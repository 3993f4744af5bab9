"""Test doubles at the pipeline's seams, for in-process tests that patch nothing private.

- :class:`RecordingInbox`: the real inbox writer that also remembers every status
  document it wrote (a retry can replace a status file faster than polling sees);
- :class:`RecordingListener`: a transition listener that records what it hears;
- :class:`ScriptedPool`: a signing pool that signs in process (the real worker
  code) after a script of failures or exceptions;
- :class:`MockVault`: a vault behind ``httpx.MockTransport``, answering from a
  script and recording every upload; :meth:`MockVault.client` is a real
  :class:`~econnector.vault_client.VaultClient` over it;
- :class:`FakeClock`: wall and monotonic time that a test moves.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from econnector import signer, signworker
from econnector.inbox import InboxWriter
from econnector.states import Event, State
from econnector.statestore import Drop
from econnector.vault_client import VaultClient


class RecordingInbox(InboxWriter):
    """The real writer; every status document written is also kept, in order."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.written: list[tuple[str, dict[str, Any]]] = []

    def write_status(self, stem: str, doc: dict[str, Any]) -> None:
        super().write_status(stem, doc)
        with self._lock:
            self.written.append((stem, doc))

    def statuses(self, stem: str) -> list[dict[str, Any]]:
        """The versions of ``stem``'s status file, consecutive repeats merged."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for s, doc in self.written:
                if s == stem and (not out or out[-1] != doc):
                    out.append(doc)
        return out

    @classmethod
    def for_config(cls, cfg: Any) -> RecordingInbox:
        """As the pipeline would build it for ``cfg``."""
        from functools import partial

        from econnector.drops import signed_path

        f = cfg.folders
        return cls(inbox=f.inbox, outbox=f.outbox, failed=f.failed,
                   signed_path=partial(signed_path, f.work / "signed"),
                   default_language=cfg.default_language)


@dataclass(frozen=True)
class Heard:
    drop_id: int
    stem: str
    old: State | None
    event: Event
    new: State
    reason: str | None


@dataclass
class RecordingListener:
    """Records every transition the pipeline announces."""

    heard: list[Heard] = field(default_factory=list)

    def on_transition(self, drop: Drop, old: State | None, event: Event) -> None:
        self.heard.append(Heard(drop.id, drop.stem, old, event, drop.state, drop.reason))

    def path(self, stem: str) -> list[State]:
        """The states ``stem`` went through, as heard (claim first)."""
        return [h.new for h in self.heard if h.stem == stem]


class ScriptedPool:
    """A signing pool that signs in process with the real worker code. ``script``
    is consumed one entry per job first: a :class:`SignOutcome` is returned as it
    is, an exception is raised (a failure of ours, not the document's)."""

    def __init__(self, script: Iterable[signer.SignOutcome | BaseException] = ()) -> None:
        self.script = list(script)
        self.calls = 0
        self.started: list[list[str]] = []
        self._one_at_a_time = threading.Lock()

    def start(self, keys: Any, policy: Any = None) -> None:
        signworker._SIGNERS.clear()
        signworker._KEYS.clear()
        signworker.init_worker(keys, policy or signer.Policy(), 0)
        self.started.append([k.provider_code for k in keys])

    async def sign(self, job: signer.SignJob) -> signer.SignOutcome:
        self.calls += 1
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, BaseException):
                raise step
            return step
        return await asyncio.to_thread(self._sign_one, job)

    def _sign_one(self, job: signer.SignJob) -> signer.SignOutcome:
        # A real worker signs one job at a time (its event loop, its cached services).
        with self._one_at_a_time:
            return signworker.sign_file(job)

    def stop(self) -> None:
        pass


def busy(detail: str = "Permission denied") -> signer.SignOutcome:
    """The outcome of a worker that could not read the file (a lock, a mode)."""
    return signer.SignOutcome(ok=False, code="file-busy", params={"detail": detail})


@dataclass(frozen=True)
class Upload:
    key: str
    metadata: dict[str, Any]
    sha256: str


Answer = int | tuple[int, dict[str, Any]] | Callable[[Upload], httpx.Response]


class MockVault:
    """A vault behind ``httpx.MockTransport``. Each upload takes the next scripted
    answer (a status code, a status with a problem body, or a function of the
    upload); with the script empty it stores the document (201, or 200 for a
    replay of a key it has)."""

    def __init__(self, script: Iterable[Answer] = ()) -> None:
        self.script = list(script)
        self.uploads: list[Upload] = []
        self.stored: dict[str, dict[str, Any]] = {}
        # Patients' digital status (matricule -> green/blue/red; unlisted: green), and
        # the matricules asked, in order.
        self.statuses: dict[str, str] = {}
        self.status_asks: list[str] = []
        self.status_down = False  # digital-status answers 503 while True

    def client(self) -> VaultClient:
        return VaultClient("http://mock-vault", "mock-token",
                           transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        if (request.method == "GET" and len(parts) == 5 and parts[2] == "patients"
                and parts[4] == "digital-status"):
            self.status_asks.append(parts[3])
            if self.status_down:
                return httpx.Response(503, json={"code": "unavailable"})
            return httpx.Response(200, json={"matricule": parts[3],
                                             "status": self.statuses.get(parts[3], "green")})
        if request.url.path != "/v1/documents" or request.method != "POST":
            return httpx.Response(404, json={"code": "not-found"})
        up = _parse_upload(request)
        self.uploads.append(up)
        if self.script:
            answer = self.script.pop(0)
            if callable(answer):
                return answer(up)
            status, problem = answer if isinstance(answer, tuple) else (answer, {})
            return httpx.Response(status, json=problem or {"code": f"http-{status}"})
        replay = up.key in self.stored
        if not replay:
            self.stored[up.key] = {
                "vault_document_id": f"vd_{uuid.uuid4().hex}",
                "received_at": "2026-11-25T17:31:48.574Z", "sha256": up.sha256,
                "fee": {"amount": "0.30", "currency": "EUR"}}
        return httpx.Response(200 if replay else 201, json=self.stored[up.key])


def _parse_upload(request: httpx.Request) -> Upload:
    body = request.read()
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts[str(name)] = payload if isinstance(payload, bytes) else b""
    return Upload(key=request.headers["idempotency-key"],
                  metadata=json.loads(parts.get("metadata") or b"{}"),
                  sha256=hashlib.sha256(parts.get("file", b"")).hexdigest())


class FakeClock:
    """Wall time (``clock``) and monotonic time (``mono``) for a Pipeline; both follow
    the real monotonic clock (the loop's timeouts are real) plus an offset a test
    moves with :meth:`advance` or sets with :meth:`set_wall`."""

    def __init__(self, wall: float | None = None) -> None:
        import time

        self._time = time
        self._start_mono = time.monotonic()
        self._wall0 = time.time() if wall is None else wall
        self._offset = 0.0

    def clock(self) -> float:
        return self._wall0 + (self._time.monotonic() - self._start_mono) + self._offset

    def mono(self) -> float:
        return self._time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def set_wall(self, wall: float) -> None:
        """Jump the wall clock to ``wall`` (monotonic time is unaffected)."""
        self._wall0 += wall - self.clock()
