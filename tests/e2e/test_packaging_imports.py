"""The daemon and the reference vault are two distributions (issue 10), as a fresh
interpreter and a built wheel see them: importing the daemon loads no web server and
no vault module; importing every vault module loads no daemon module; the daemon's
wheel requires no web server.

One fresh interpreter per distribution: in this one, other tests have already loaded
both. The requirements and the vault's source are checked in tests/unit/test_packaging.py.
"""

from __future__ import annotations

import email.parser
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from econnector_testsupport.packaging import (
    WEB_SERVER_DISTRIBUTIONS,
    base_requirements,
    only_under_extras,
)
from econnector_testsupport.paths import REPO

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


def test_the_built_wheel_requires_no_web_server(tmp_path: Path) -> None:
    """The wheel pip would install from the index: no web server without an extra,
    and none of the vault's code inside."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(REPO)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("econnector-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(z.read(meta).decode("utf-8"))
    requirements = metadata.get_all("Requires-Dist") or []
    assert "httpx>=0.28.1" in requirements  # the metadata is really read
    assert base_requirements(requirements) & WEB_SERVER_DISTRIBUTIONS == set()
    assert only_under_extras(requirements, ("local", "test")) == []
    assert "econnector-vault; extra == 'local'" in requirements
    assert not [n for n in names if n.startswith("econnector_vault/")]
    assert "econnector/pipeline.py" in names
