"""The daemon as IT installs it (issue 13, install): ``python -m build`` makes the sdist
and the wheel, and the wheel installed by pipx (its own virtual environment, its own
``bin`` folder, dependencies from the package index) gives a working ``econnector``
command: ``--version`` names the installed release, ``check-config --help`` answers.
``service/install.sh`` (``make install-unit``) lays down, in a staged root (DESTDIR),
what service/econnector.service expects; ``--dry-run`` shows the steps on the real
system without changing it.

The pipx test is the slowest of its kind (about 35 s: a pipx install with the
dependencies); it runs in CI like every other (never skipped there).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from econnector import __version__
from econnector_testsupport.paths import REPO

pytestmark = pytest.mark.e2e


def require_module(name: str) -> None:
    """``build`` and ``pipx`` come with the test extras; missing in CI is a failure."""
    if importlib.util.find_spec(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel of this tree, built once for the module."""
    require_module("build")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    return out


def test_the_built_wheel_installs_with_pipx_and_runs(tmp_path: Path, dist: Path) -> None:
    require_module("pipx")
    (wheel,) = dist.glob("econnector-*.whl")
    (sdist,) = dist.glob("econnector-*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {"econnector/py.typed", "econnector/cli.py", "econnector/messages/fr.py",
            "econnector/messages/de.py", "econnector/config_schema.py"} <= names
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "daemon/econnector/cli.py", "service/econnector.service",
            "service/install.sh", "config/econnector.example.yaml"} <= members

    env = {**os.environ, "PIPX_HOME": str(tmp_path / "pipx"),
           "PIPX_BIN_DIR": str(tmp_path / "bin"), "PIPX_MAN_DIR": str(tmp_path / "man")}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel)], check=True,
                   capture_output=True, env=env, timeout=300)
    exe = tmp_path / "bin" / "econnector"
    assert exe.exists()
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             env=env, timeout=60, check=True)
    assert version.stdout.strip() == f"econnector {__version__}"
    helped = subprocess.run([str(exe), "check-config", "--help"], capture_output=True,
                            text=True, env=env, timeout=60, check=True)
    assert helped.stdout.startswith("usage: econnector check-config")
    assert "--offline" in helped.stdout
    # The installed command runs from pipx's environment, not from this source tree.
    where = subprocess.run([str(tmp_path / "pipx" / "venvs" / "econnector" / "bin" / "python"),
                            "-c", "import econnector; print(econnector.__file__)"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.startswith(str(tmp_path / "pipx"))


# -- service/install.sh ----------------------------------------------------------------------


def unit_value(unit: str, key: str) -> str:
    (line,) = [x for x in unit.splitlines() if x.startswith(f"{key}=")]
    return line.split("=", 1)[1]


def install(*args: str, destdir: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHON": sys.executable, **env}
    full.pop("DESTDIR", None)
    if destdir is not None:
        full["DESTDIR"] = str(destdir)
    return subprocess.run(["sh", str(REPO / "service" / "install.sh"), *args],
                          capture_output=True, text=True, env=full, timeout=300)


def test_install_sh_lays_down_what_the_unit_expects(tmp_path: Path, dist: Path) -> None:
    (wheel,) = dist.glob("econnector-*.whl")
    root = tmp_path / "root"
    # The layout, quickly: the dependencies' installation is the pipx test's (--no-deps),
    # and this interpreter's pip installs into the new venv (no ensurepip).
    fast = {"PIP_INSTALL_OPTS": "--no-deps",
            "PIP": f"{sys.executable} -m pip --python {root}/opt/econnector/.venv/bin/python"}
    done = install("--wheel", str(wheel), destdir=root, **fast)
    assert done.returncode == 0, done.stderr
    assert "systemctl daemon-reload skipped" in done.stdout
    unit = (REPO / "service" / "econnector.service").read_text()
    # ExecStart= and ExecStartPre= name the installed command; it runs.
    exe = root / unit_value(unit, "ExecStart").split()[0].lstrip("/")
    pre = root / unit_value(unit, "ExecStartPre").split()[0].lstrip("/")
    assert exe == pre and os.access(exe, os.X_OK)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert version.stdout.strip() == f"econnector {__version__}"
    # The config of Environment=ECONNECTOR_CONFIG=, from the example, not for others.
    config = root / unit_value(unit, "Environment").split("=", 1)[1].lstrip("/")
    assert config.read_bytes() == (REPO / "config" / "econnector.example.yaml").read_bytes()
    assert config.stat().st_mode & 0o777 == 0o640
    assert config.parent.stat().st_mode & 0o777 == 0o750
    # ReadWritePaths= exist (systemd refuses to start the unit otherwise), private.
    for folder in unit_value(unit, "ReadWritePaths").split():
        assert (root / folder.lstrip("/")).stat().st_mode & 0o777 == 0o750, folder
    assert (root / "var/lib/econnector/outbox").is_dir()
    # The units as shipped; the docs of Documentation=.
    for name in ("econnector.service", "econnector@.service"):
        installed = root / "etc/systemd/system" / name
        assert installed.read_bytes() == (REPO / "service" / name).read_bytes()
    for doc in unit_value(unit, "Documentation").split():
        assert (root / doc.removeprefix("file:///")).is_file(), doc

    # Again (an upgrade): the edited config is kept, the code replaced.
    config.write_text("# edited by IT\n")
    again = install("--wheel", str(wheel), destdir=root, **fast)
    assert again.returncode == 0, again.stderr
    assert "econnector.yaml exists, kept" in again.stdout
    assert config.read_text() == "# edited by IT\n"


def test_install_sh_dry_run_shows_the_steps_and_changes_nothing(tmp_path: Path) -> None:
    unit = (REPO / "service" / "econnector.service").read_text()
    before = {p: p.exists() for p in (Path("/opt/econnector"), Path("/etc/econnector"),
                                      Path("/etc/systemd/system/econnector.service"))}
    done = install("--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    user = unit_value(unit, "User")
    assert f"--shell /usr/sbin/nologin {user}\n" in out or f"user {user} exists" in out
    assert f"-o {user} -g {user} -m 0750 /var/lib/econnector /var/lib/econnector/outbox" in out
    assert f"+ {sys.executable} -m venv /opt/econnector/.venv" in out
    assert "/etc/econnector/econnector.yaml" in out
    assert "service/econnector.service" in out and "/etc/systemd/system/" in out
    if Path("/run/systemd/system").is_dir():
        assert "+ systemctl daemon-reload" in out
    else:
        assert "systemd is not running this machine (PID 1)" in out
        assert "+ systemctl" not in out
    assert {p: p.exists() for p in before} == before
