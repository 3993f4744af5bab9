"""Importing the daemon changes nothing global (issue 10): every effect on a library,
a logger or the process is an explicit call made at start.

Each check runs in a fresh interpreter: in this one, other tests may already have
started a watcher or configured logging.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from econnector import crashpoints


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_importing_every_daemon_module_changes_nothing_global() -> None:
    """watchdog's move-pairing delay, the HTTP libraries' loggers and the process
    (an unknown crash point no longer exits at import) are as they were."""
    r = python("""
        import importlib, logging, pkgutil
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

        import econnector

        def loggers():
            names = ("", "httpx", "httpcore", "watchdog", "watchdog.observers.inotify_c")
            return {n: (list(logging.getLogger(n).filters), list(logging.getLogger(n).handlers),
                        logging.getLogger(n).level) for n in names}

        before = (InotifyMoveEventGrouper.delay, loggers())
        names = sorted(m.name for m in pkgutil.walk_packages(econnector.__path__, "econnector."))
        for name in names:
            importlib.import_module(name)
        assert {"econnector.watcher", "econnector.vault_client", "econnector.crashpoints",
                "econnector.logs"} <= set(names), names
        after = (InotifyMoveEventGrouper.delay, loggers())
        assert after == before, (before, after)
        assert InotifyMoveEventGrouper.delay == 0.5  # watchdog's own
        print(len(names), "modules")
    """, ECONNECTOR_CRASH_AT="nowhere")
    assert r.returncode == 0, r.stderr
    assert "modules" in r.stdout


def test_the_watcher_disables_move_pairing_when_it_starts(tmp_path: Path) -> None:
    r = python(f"""
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
        from econnector.watcher import Watcher

        w = Watcher({str(tmp_path)!r}, lambda: None, "native")
        assert InotifyMoveEventGrouper.delay == 0.5
        w.start()
        try:
            assert InotifyMoveEventGrouper.delay == 0.0
        finally:
            w.close()
    """)
    assert r.returncode == 0, r.stderr


def test_configuring_logs_installs_the_redaction_filter_once() -> None:
    r = python("""
        import logging
        from econnector import logs

        logs.configure("-", "info")
        logs.configure("-", "info")
        for name in ("httpx", "httpcore"):
            kinds = [type(f) for f in logging.getLogger(name).filters]
            assert kinds == [logs.RedactMatricules], (name, kinds)
        logging.getLogger("httpx").warning("GET /v1/patients/%s/digital-status", "1893120105732")
    """)
    assert r.returncode == 0, r.stderr
    assert "1893120105732" not in r.stdout and "*" * 13 in r.stdout


def test_an_unknown_crash_point_is_refused_when_armed() -> None:
    with pytest.raises(SystemExit, match="unknown ECONNECTOR_CRASH_AT point 'nowhere'"):
        crashpoints.point_from({"ECONNECTOR_CRASH_AT": "nowhere"})
    r = python("from econnector import crashpoints; crashpoints.arm()",
               ECONNECTOR_CRASH_AT="nowhere")
    assert r.returncode != 0 and "unknown ECONNECTOR_CRASH_AT" in r.stderr


def test_a_crash_point_arms_itself_at_the_first_point_reached() -> None:
    """A process that never calls arm() (a signing worker, a test) still dies there."""
    point = crashpoints.POINTS[0]
    r = python(f"""
        from econnector import crashpoints
        crashpoints.reached({crashpoints.POINTS[1]!r})
        print("passed the other point", flush=True)
        crashpoints.reached({point!r})
        print("not reached")
    """, ECONNECTOR_CRASH_AT=point)
    assert r.returncode == -signal.SIGKILL
    assert r.stdout == "passed the other point\n"
    r = python(f"from econnector import crashpoints; crashpoints.reached({point!r})",
               ECONNECTOR_CRASH_AT="")
    assert r.returncode == 0, r.stderr
