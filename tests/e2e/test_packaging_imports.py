"""The daemon and the reference vault are two distributions (issue 10), as a fresh
interpreter sees them: importing the daemon loads no web server and no vault module;
importing every vault module loads no daemon module.

One fresh interpreter per distribution: in this one, other tests have already loaded
both. The requirements and the vault's source are checked in tests/unit/test_packaging.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

WEB_SERVER_MODULES = ("starlette", "uvicorn", "multipart", "python_multipart")
DAEMON_ENTRY_MODULES = (
    "econnector",
    "econnector.cli",
    "econnector.pipeline",
    "econnector.runtime",
    "econnector.vault_transport",
)
# Prints sys.modules after the entry modules ("entry"), then after every module of
# the package ("all"); __main__ modules would run a command.
IMPORT_ALL = """
    import importlib, json, pkgutil, sys
    {entry}
    entry = sorted(sys.modules)
    import {package}
    for info in pkgutil.walk_packages({package}.__path__, "{package}."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            importlib.import_module(info.name)
    print(json.dumps({{"entry": entry, "all": sorted(sys.modules)}}))
"""


def loaded_modules(package: str, entry: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """``sys.modules`` of a fresh interpreter after importing ``entry``, then all of ``package``."""
    program = textwrap.dedent(IMPORT_ALL).format(
        package=package, entry="import " + ", ".join(entry) if entry else ""
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def is_web_server(module: str) -> bool:
    return module.split(".")[0] in WEB_SERVER_MODULES


def is_daemon(module: str) -> bool:
    return module.split(".")[0] == "econnector"


# -- the daemon -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon_modules() -> dict[str, list[str]]:
    return loaded_modules("econnector", DAEMON_ENTRY_MODULES)


def test_importing_the_daemon_loads_no_web_server(daemon_modules: dict[str, list[str]]) -> None:
    entry = daemon_modules["entry"]
    assert set(DAEMON_ENTRY_MODULES) <= set(entry)
    assert [m for m in entry if is_web_server(m) or m.startswith("econnector_vault")] == []


def test_importing_every_daemon_module_loads_no_web_server(
    daemon_modules: dict[str, list[str]],
) -> None:
    """Not only the entry points: no daemon module imports the vault at import time
    (``kind: local`` imports it when a client is made, in vault_transport)."""
    every = daemon_modules["all"]
    assert len([m for m in every if is_daemon(m)]) > len(DAEMON_ENTRY_MODULES)
    assert [m for m in every if is_web_server(m) or m.startswith("econnector_vault")] == []


# -- the vault ------------------------------------------------------------------------------------


def test_importing_every_vault_module_loads_no_daemon_module() -> None:
    every = loaded_modules("econnector_vault")["all"]
    assert {"econnector_vault.server", "econnector_vault.testing"} <= set(every)
    assert "starlette" in every  # the check below sees what was loaded
    assert [m for m in every if is_daemon(m)] == []
