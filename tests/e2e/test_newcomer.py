"""The newcomer path behind `make run` + `make demo-drop`: demo-setup, run, demo-drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    assert_pdfsig_last_valid,
    pyhanko_status,
    run_cli,
    running_daemon,
    wait_for,
)

pytestmark = pytest.mark.e2e


def test_embedded_default_yields_receipts_for_demo_drops(tmp_path: Path) -> None:
    root = tmp_path / "data"
    setup = run_cli("demo-setup", "--root", str(root))
    assert setup.returncode == 0, setup.stderr
    cfg = root / "econnector.yaml"
    assert "kind: local" in cfg.read_text()
    check = run_cli("check-config", "-c", str(cfg))
    assert check.returncode == 0, check.stderr
    assert "identity 90812100 (Dr Test Demo" in check.stdout and ": unlocked (" in check.stdout
    assert "CN=TEST" in check.stdout
    # demo-setup is idempotent: the identity is not regenerated
    p12 = (root / "identity" / "90812100.p12").read_bytes()
    assert run_cli("demo-setup", "--root", str(root)).returncode == 0
    assert (root / "identity" / "90812100.p12").read_bytes() == p12
    with running_daemon(cfg) as d:
        dropped = run_cli("demo-drop", "-c", str(cfg))
        assert dropped.returncode == 0, dropped.stderr
        assert "dropped 4 documents" in dropped.stdout
        wait_for(lambda: len(list(d.inbox.glob("*.receipt.json"))) == 4, 30, "4 receipts",
                 on_fail=d.log)
    signed = sorted(d.inbox.glob("*.signed.pdf"))
    assert len(signed) == 4
    for pdf in signed:
        last, _ = pyhanko_status(pdf, root / "identity" / "test-ca.pem")
        assert last.intact and last.valid and last.trusted
        assert_pdfsig_last_valid(pdf)
    texts = " ".join(p.read_text("utf-8") for p in d.inbox.glob("*.receipt.txt"))
    assert "Accusé de dépôt" in texts and "Zustellbestätigung" in texts
    assert "Delivery receipt" in texts


def test_check_config_fails_on_a_locked_identity(tmp_path: Path) -> None:
    """Exit 0 means ready (issue 9, point 2): a locked identity is a failure, named."""
    root = tmp_path / "data"
    assert run_cli("demo-setup", "--root", str(root)).returncode == 0
    (root / "identity" / "90812100.passphrase").write_text("wrong\n")
    r = run_cli("check-config", "-c", str(root / "econnector.yaml"))
    assert r.returncode == 2
    assert "identity 90812100 (Dr Test Demo" in r.stdout and "): LOCKED" in r.stdout
    assert r.stderr.startswith("econnector: identities[0].pkcs12: identity 90812100 ")
    assert "wrong passphrase" in r.stderr and "config ok" not in r.stdout


@pytest.mark.parametrize(
    "args",
    [(), ("run",), ("status",), ("check-config",), ("vault", "serve"), ("demo-setup",),
     ("demo-drop",), ("config-schema",)],
)
def test_help_everywhere(args: tuple[str, ...]) -> None:
    r = run_cli(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_unusable_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "data"
    assert run_cli("demo-setup", "--root", str(root)).returncode == 0
    (root / "inbox").write_text("a file where the inbox folder should be")
    r = run_cli("run", "-c", str(root / "econnector.yaml"))
    assert r.returncode == 2
    assert r.stderr.startswith("econnector: folders.inbox: ")
    assert len(r.stderr.strip().splitlines()) == 1
