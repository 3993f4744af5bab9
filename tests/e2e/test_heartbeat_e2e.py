"""The heartbeat file through the real daemon (issue 13): inbox/_econnector.json appears
after the start, is rewritten every interval_s (always whole JSON: read while it is being
replaced), counts a delivery without naming it, and says stopped after SIGTERM. systemd
hears EXTEND_TIMEOUT_USEC= before the long part of the start (before READY=1). With
``heartbeat.enabled: false`` there is none (one an earlier run left is taken away). The
name on a shared inbox (one per PC) is in tests/unit/test_heartbeat.py: each start here
costs seconds."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from econnector import heartbeat, runtime
from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf

pytestmark = pytest.mark.e2e

MATRICULE = "1893120105732"


def _read(path: Path) -> dict[str, Any] | None:
    """The heartbeat as a reader sees it: absent, or whole (never a partial file)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    doc: dict[str, Any] = json.loads(text)  # a partial file would fail here
    return doc


def _config(tmp_path: Path, beat: dict[str, Any]) -> Path:
    # One signing worker: a stop waits for workers still importing pyHanko.
    return write_config(tmp_path / "practice", [(PROVIDER, make_identity(tmp_path / "id"))],
                        heartbeat=beat, signing={"workers": 1})


def _notify_socket(tmp_path: Path) -> socket.socket:
    path = tmp_path / "n.sock"
    assert len(os.fsencode(path)) < 100, f"tmp path too long for AF_UNIX: {path}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def _received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


def test_the_heartbeat_beats_counts_without_names_and_says_stopped(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"enabled": True, "interval_s": 1})
    sock = _notify_socket(tmp_path)
    try:
        with running_daemon(cfg, env={"NOTIFY_SOCKET": sock.getsockname()}) as d:
            path = d.inbox / heartbeat.FILE
            first = wait_for(lambda: _read(path), 10, "the heartbeat file",
                             on_fail=d.log)
            assert first["schema"] == "econnector.heartbeat/v1" and first["stopped"] is False
            assert first["ok"] is True, first
            assert first["message"]["fr"] == "econnector fonctionne."
            assert first["interval_s"] == 1 and first["pid"] == d.proc.pid  # type: ignore[union-attr]
            assert first["node"] and first["version"]
            assert first["vault"] == {"reachable": True, "state": "open"}
            assert first["watcher_healthy"] is True
            assert first["identities"][PROVIDER]["state"] == "unlocked"
            assert first["identities"][PROVIDER]["certificate_days_left"] > 300
            for key in ("started_at", "updated_at", "stale_after"):
                assert first[key].endswith("Z"), key

            # Rewritten: updated_at advances, and a reader never sees half a file.
            seen = {first["updated_at"]}
            deadline = time.monotonic() + 4
            while len(seen) < 2 and time.monotonic() < deadline:
                doc = _read(path)
                assert doc is not None
                seen.add(doc["updated_at"])
                time.sleep(0.02)
            assert len(seen) >= 2, seen
            assert min(seen) == first["updated_at"]

            stem = f"{MATRICULE}-hb"
            drop(d.outbox, stem, unsigned_pdf("HB-1"), sidecar("HB-1", mat=MATRICULE))
            assert d.wait_outcome(stem)["state"] == "delivered"
            after = wait_for(lambda: (doc := _read(path)) and doc["counts"]["delivered"] == 1
                             and doc, 5, "the delivery counted", on_fail=lambda: str(_read(path)))
            assert after["ok"] is True and after["oldest_waiting"] is None
            wait_for(lambda: (_read(path) or {}).get("last_full_scan_at"), 5,
                     "a full rescan recorded")
            assert d.stop() == 0
        last = _read(path)
        assert last is not None and last["stopped"] is True and last["ok"] is False, last
        assert last["reasons"] == ["stopped"]
        assert last["message"]["en"].startswith("econnector is stopped")
        assert last["counts"]["delivered"] == 1
        text = path.read_text("utf-8")
        assert MATRICULE not in text and "HB-1" not in text and "-hb" not in text
        assert not [p.name for p in d.inbox.iterdir() if p.name.startswith(".")]  # no temp

        said = _received(sock)
        extend = f"EXTEND_TIMEOUT_USEC={int(runtime.START_EXTENSION * 1_000_000)}"
        assert extend in said and "READY=1" in said, said
        assert said.index(extend) < said.index("READY=1")
    finally:
        sock.close()


def test_no_heartbeat_when_turned_off_and_an_old_one_is_removed(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"enabled": False, "interval_s": 1})
    inbox = tmp_path / "practice" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / heartbeat.FILE).write_text('{"schema": "econnector.heartbeat/v1", '
                                        '"stopped": true}')
    with running_daemon(cfg) as d:
        wait_for(lambda: not (inbox / heartbeat.FILE).exists(), 10,
                 "the old heartbeat file taken away", on_fail=d.log)
        time.sleep(1.5)  # more than an interval: still none
        assert not [p.name for p in inbox.iterdir() if "econnector" in p.name]
        assert d.stop() == 0
    assert not (inbox / heartbeat.FILE).exists()
