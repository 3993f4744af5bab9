"""The one place choosing how the vault is reached: ``kind: local`` needs the
embedded vault's distribution, and without it check-config says so before run does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from econnector import cli, demo
from econnector.errors import ConfigError
from econnector.vault_transport import local_problem, local_transport


def without_the_embedded_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after ``pip install econnector`` without the ``local`` extra."""
    monkeypatch.setitem(sys.modules, "econnector_vault.transport", None)


def test_the_local_kind_without_the_embedded_vault_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert local_problem() is None
    without_the_embedded_vault(monkeypatch)
    problem = local_problem()
    assert problem is not None and problem.field == "vault.kind"
    assert "econnector[local]" in str(problem)
    with pytest.raises(ConfigError, match=r"vault\.kind: .*econnector\[local\]"):
        local_transport(tmp_path / "v", ["90812100"])


def test_check_config_refuses_the_local_kind_without_the_embedded_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = demo.setup(tmp_path / "demo")
    assert cli.main(["check-config", "-c", str(cfg)]) == 0
    capsys.readouterr()
    without_the_embedded_vault(monkeypatch)
    assert cli.main(["check-config", "-c", str(cfg)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "econnector: vault.kind: 'local' needs the embedded reference vault" in err
    assert "econnector[local]" in err
