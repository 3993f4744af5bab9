"""The daemon and the reference vault are two distributions (issue 10).

The daemon imports no web server and does not require one (starlette, uvicorn and
python-multipart come only with the ``local`` and ``test`` extras, through
``econnector-vault``); the vault never imports the daemon, so it installs alone.

Requirements are checked in the source (``pyproject.toml``) and in the installed
distribution's metadata, which is what pip resolves from; the built wheel's metadata
and what a fresh interpreter imports are checked in tests/e2e/test_packaging_imports.py.
"""

from __future__ import annotations

import ast
import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

import econnector_vault
from econnector_testsupport.packaging import (
    WEB_SERVER_DISTRIBUTIONS,
    base_requirements,
    normalized,
    only_under_extras,
)
from econnector_testsupport.paths import REPO


def is_daemon(module: str) -> bool:
    return module.split(".")[0] == "econnector"


# -- the daemon -----------------------------------------------------------------------------------


def test_the_daemon_requires_no_web_server_in_its_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert base_requirements(project["dependencies"]) & WEB_SERVER_DISTRIBUTIONS == set()
    extras = {
        extra: {normalized(Requirement(r).name) for r in requirements}
        for extra, requirements in project.get("optional-dependencies", {}).items()
    }
    carrying = {extra for extra, names in extras.items() if names & WEB_SERVER_DISTRIBUTIONS}
    assert carrying <= {"local", "test"}, carrying
    assert "econnector-vault" in extras["local"]  # kind: local still has a way in


def test_the_installed_daemon_requires_no_web_server() -> None:
    """The metadata pip resolves from: no web server without an extra, and none
    pulled indirectly by what the daemon does require."""
    requirements = importlib.metadata.requires("econnector") or []
    direct = base_requirements(requirements)
    assert direct & WEB_SERVER_DISTRIBUTIONS == set()
    assert only_under_extras(requirements, ("local", "test")) == []

    pulled: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name in pulled:
            continue
        pulled.add(name)
        try:
            todo += base_requirements(importlib.metadata.requires(name) or [])
        except importlib.metadata.PackageNotFoundError:
            continue  # a marker-excluded or optional dependency not installed here
    assert pulled & WEB_SERVER_DISTRIBUTIONS == set(), sorted(pulled)


# -- the vault ------------------------------------------------------------------------------------


def test_the_vault_never_imports_the_daemon() -> None:
    """Not at import time and not inside a function either: no import statement in the
    vault's source names ``econnector``."""
    offenders = []
    for path in sorted(Path(econnector_vault.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if is_daemon(n)]
    assert offenders == []


def test_the_vault_installs_alone() -> None:
    project = tomllib.loads((REPO / "vault" / "pyproject.toml").read_text("utf-8"))["project"]
    declared = {normalized(Requirement(r).name) for r in project["dependencies"]}
    installed = {normalized(Requirement(r).name)
                 for r in importlib.metadata.requires("econnector-vault") or []}
    for names in (declared, installed):
        assert "econnector" not in names
        assert {"starlette", "uvicorn", "python-multipart"} <= names
    # Its own command, so it runs without the daemon's `econnector vault serve`.
    entry_points = importlib.metadata.distribution("econnector-vault").entry_points
    installed_scripts = {ep.name: ep.value for ep in entry_points if ep.group == "console_scripts"}
    expected = {"econnector-vault": "econnector_vault.cli:main"}
    assert project["scripts"] == installed_scripts == expected
