"""The one conftest: every tier (tests/unit, tests/contract, tests/e2e, vault/tests) gets
the shared fixtures and its tier marker from the test-support package (docs/testing.md).

It sits at the root, next to the pytest configuration in pyproject.toml, because only
the root conftest is loaded for every way of calling pytest (``pytest vault/tests``
does not read ``tests/conftest.py``), and only it may declare ``pytest_plugins``.

It also runs the privacy check of the session (:mod:`econnector_testsupport.privacy`):
the controller makes the session folder before the xdist workers start (they inherit
the variable), the helpers that start daemons record their logs and the patient
values the tests used there, and at the end the controller scans every recorded log
and fails the run on any hit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from econnector_testsupport import privacy
from econnector_testsupport.daemon import TEST_WORKERS_ENV

pytest_plugins = ("econnector_testsupport.fixtures", "econnector_testsupport.tiers",
                  "econnector_testsupport.pki", "econnector_testsupport.softhsm")

_OWNED = "_econnector_privacy_dir"  # set on the controller's config when it made the folder


def pytest_configure(config: pytest.Config) -> None:
    # One signing worker per test daemon unless a test asks for more: each worker
    # imports pyHanko (1-2 s of CPU) and a stop waits for it; hundreds of daemon
    # starts share 2 cores (CI's 20 minutes). `make bench` keeps the per-CPU default.
    os.environ.setdefault(TEST_WORKERS_ENV, "1")
    if hasattr(config, "workerinput") or os.environ.get(privacy.ENV):
        return  # an xdist worker (or an outer session) writes to the folder it was given
    folder = tempfile.mkdtemp(prefix="econnector-test-logs-")
    os.environ[privacy.ENV] = folder
    setattr(config, _OWNED, folder)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = getattr(session.config, _OWNED, None)
    if folder is None:
        return  # a worker: the controller scans once every worker is done
    hits, files = privacy.scan(Path(folder))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and files:
        reporter.write("\n")  # after the progress line, not on it
    if hits:
        for line in privacy.report(hits):
            if reporter is not None:
                reporter.write_line(line, red=True)
            else:
                print(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"privacy check: recorded logs and values kept in {folder}")
        return
    if files and reporter is not None:
        reporter.write_line(f"privacy check: {files} daemon log(s) scanned, no patient data")
    shutil.rmtree(folder, ignore_errors=True)
