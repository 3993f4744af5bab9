"""The daemon's logging (econnector.logs): one handler for our events and the libraries',
JSON lines rotated by size with private files, a readable console, and the privacy
filter on every line whatever its source."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from econnector import logs

MAT = "1893120105732"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure() changes process-wide state: put it back for the next tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "watchdog", "asyncio")}
    saved = structlog.get_config()
    try:
        yield
    finally:
        for h in logs._installed:
            h.close()
        logs._installed.clear()
        root.handlers, root.level = handlers, level
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)
        structlog.reset_defaults()
        structlog.configure(**saved)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_ours_and_the_libraries_share_one_file_and_the_privacy_filter(tmp_path: Path) -> None:
    target = tmp_path / "econnector.jsonl"
    logs.configure(str(target), "info")
    log = structlog.get_logger("econnector.test")
    log.info("claimed", drop=7, first_name="Anne", detail=f"file of {MAT}",
             patient={"matricule": MAT, "last_name": "Weber"})
    log.debug("chatter")  # below the level
    logging.getLogger("econnector.lib").warning("a library says %s", MAT)
    logging.getLogger("httpx").warning("GET https://vault/v1/patients/%s/status", MAT)
    try:
        raise RuntimeError(f"bad {MAT}")
    except RuntimeError:
        log.exception("internal-error")
    text = target.read_text("utf-8")
    assert MAT not in text and "Anne" not in text and "Weber" not in text
    ours, lib, httpx_line, exc = lines(target)
    assert ours["event"] == "claimed" and ours["logger"] == "econnector.test"
    assert ours["level"] == "info" and "timestamp" in ours and ours["drop"] == 7
    assert ours["detail"] == "file of 1893********2" and "patient" not in ours
    assert lib == {**lib, "event": "a library says 1893********2", "level": "warning",
                   "logger": "econnector.lib"}
    assert httpx_line["event"] == "GET https://vault/v1/patients/*************/status"
    assert exc["event"] == "internal-error" and "RuntimeError: bad 1893********2" in str(
        exc["exception"])


def test_rotation_keeps_keep_files_of_whole_json_lines(tmp_path: Path) -> None:
    target = tmp_path / "econnector.jsonl"
    logs.configure(str(target), "info", max_bytes=300, keep=2)
    log = structlog.get_logger("econnector.test")
    for n in range(40):
        log.info("tick", n=n)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["econnector.jsonl", "econnector.jsonl.1", "econnector.jsonl.2"]
    seen = [e["n"] for name in reversed(names) for e in lines(tmp_path / name)]
    assert seen == list(range(seen[0], 40))  # oldest first, nothing lost between files
    for name in names:
        assert (tmp_path / name).stat().st_size <= 300


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_new_files_are_private_and_an_administrators_mode_survives_rotation(
        tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "econnector.jsonl"
        logs.configure(str(target), "info", max_bytes=200, keep=1)
        for n in range(10):
            structlog.get_logger("t").info("tick", n=n)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "econnector.jsonl.1").stat().st_mode) == 0o600
        shared = tmp_path / "shared.jsonl"
        shared.touch()
        shared.chmod(0o644)  # the administrator's choice (a log-reading group, and more)
        logs.configure(str(shared), "info", max_bytes=200, keep=1)
        structlog.get_logger("t").info("tick")
        assert stat.S_IMODE(shared.stat().st_mode) == 0o644
        for n in range(10):  # rotated: the new file gets the group's read, not the others'
            structlog.get_logger("t").info("tick", n=n)
        assert (tmp_path / "shared.jsonl.1").exists()
        assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.parametrize(("console", "tty", "env", "fmt", "colour"), [
    ("auto", True, {}, "text", True),
    ("auto", True, {"NO_COLOR": "1"}, "text", False),
    ("auto", False, {}, "json", False),
    ("auto", True, {"JOURNAL_STREAM": "8:1234"}, "json", False),
    ("text", False, {}, "text", False),
    ("text", True, {"JOURNAL_STREAM": "8:1234"}, "text", True),
    ("json", True, {}, "json", False),
])
def test_console_format(console: str, tty: bool, env: dict[str, str], fmt: str,
                        colour: bool) -> None:
    assert logs.console_format(console, tty, env) == fmt
    assert (fmt == "text" and logs.use_colour(tty, env)) == colour


def test_stdout_text_is_readable_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()  # not a terminal: no colour
    monkeypatch.setattr(sys, "stdout", out)
    logs.configure("-", "info", console="text")
    structlog.get_logger("econnector.test").info("delivered", drop=3, ref=MAT, last_name="Weber")
    logging.getLogger("watchdog").error("observer %s", MAT)
    first, second = out.getvalue().splitlines()
    assert "[info" in first and "delivered" in first and "drop=3" in first
    assert "ref=1893********2" in first and "Weber" not in first
    assert "\x1b[" not in first
    assert "[error" in second and "observer 1893********2" in second


def test_stdout_auto_off_a_terminal_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    logs.configure("-", "info")
    structlog.get_logger("econnector.test").info("starting", vault="local")
    event = json.loads(out.getvalue())
    assert event["event"] == "starting" and event["vault"] == "local"


def test_an_unwritable_target_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        logs.configure(str(tmp_path / "missing" / "econnector.jsonl"), "info")
