"""Crash at every named point between two durable effects, restart, and check that
each document ends exactly once: one vault record, one receipt (or one error file),
originals archived (or in failed/), no stray temp files, nothing left in work."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import httpx
import pytest

from daemonutil import (
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    write_config,
)
from econnector.crashpoints import POINTS
from vaultutil import VaultProcess, running_vault, subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e

DELIVERY_POINTS = [p for p in POINTS if "reject" not in p and "error" not in p
                   and "failed" not in p]
REJECTION_POINTS = [p for p in POINTS if p not in DELIVERY_POINTS]
REJECTION_POINTS += ["after-claim", "after-received-status"]


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_vault(tmp_path_factory.mktemp("vault")) as vp:
        yield vp


def provider_for(point: str, rejected: bool) -> str:
    index = POINTS.index(point) + (50 if rejected else 0)
    return f"9{index:03d}0000"


def vault_records(vp: VaultProcess, provider: str) -> list[dict]:  # type: ignore[type-arg]
    today = datetime.date.today()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    r = httpx.get(f"{vp.base_url}/v1/billing/activity",
                  params={"quarter": quarter, "provider_code": provider},
                  headers={"Authorization": f"Bearer {vp.token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["records"]  # type: ignore[no-any-return]


def crash_then_recover(tmp_path: Path, vault: VaultProcess, point: str, rejected: bool):  # type: ignore[no-untyped-def]
    provider = provider_for(point, rejected)
    ident = make_identity(tmp_path / "id", provider)
    cfg = write_config(tmp_path / "practice", [(provider, ident)], vault=vault)
    root = tmp_path / "practice"
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    meta = sidecar("CRASH-1", provider=provider)
    if rejected:
        meta["patient"]["matricule"] = "1893120105733"
    drop(root / "outbox", "doc", unsigned_pdf(f"crash {point}"), meta)
    first = subprocess.run(econnector_cmd("run", "-c", str(cfg)), capture_output=True,
                           env={**subprocess_env(), "ECONNECTOR_CRASH_AT": point}, timeout=60)
    assert first.returncode == -9, (first.returncode, first.stderr[-2000:])
    with running_daemon(cfg) as d:
        st = d.wait_outcome("doc", timeout=30)
    return d, st, provider


def no_strays(root: Path) -> None:
    for folder in ("inbox", "archive", "failed", "outbox"):
        stray = [p for p in (root / folder).rglob("*") if p.name.endswith(".tmp")
                 or p.name.startswith(".")]
        assert stray == [], stray
    assert list((root / "work" / "signed").iterdir()) == []


@pytest.mark.parametrize("point", DELIVERY_POINTS)
def test_crash_while_delivering(tmp_path: Path, vault: VaultProcess, point: str) -> None:
    d, st, provider = crash_then_recover(tmp_path, vault, point, rejected=False)
    assert st["state"] == "delivered", st
    records = vault_records(vault, provider)
    assert len(records) == 1, records  # exactly once in the vault
    receipt = d.receipt("doc")
    assert receipt is not None
    assert receipt["vault_document_id"] == records[0]["vault_document_id"]
    assert sorted(p.name for p in d.inbox.iterdir()) == [
        "doc.receipt.json", "doc.receipt.txt", "doc.signed.pdf", "doc.status.json"]
    assert sorted(p.name for p in d.archived()) == ["doc.pdf", "doc.signed.pdf", "doc.yaml"]
    assert list(d.outbox.iterdir()) == [] and list(d.failed.iterdir()) == []
    stored = list((vault.data_dir / "documents").rglob(f"{receipt['vault_document_id']}.pdf"))
    assert stored[0].read_bytes() == (d.inbox / "doc.signed.pdf").read_bytes()
    no_strays(d.root)


@pytest.mark.parametrize("point", REJECTION_POINTS)
def test_crash_while_rejecting(tmp_path: Path, vault: VaultProcess, point: str) -> None:
    d, st, provider = crash_then_recover(tmp_path, vault, point, rejected=True)
    assert st["state"] == "rejected" and st["reason"] == "matricule-verhoeff", st
    assert vault_records(vault, provider) == []
    assert sorted(p.name for p in d.inbox.iterdir()) == [
        "doc.error.json", "doc.error.txt", "doc.status.json"]
    assert sorted(p.name for p in d.failed.iterdir()) == ["doc.pdf", "doc.yaml"]
    assert list(d.outbox.iterdir()) == [] and d.archived() == []
    no_strays(d.root)


def test_every_point_is_exercised() -> None:
    assert set(DELIVERY_POINTS) | set(REJECTION_POINTS) == set(POINTS)


def test_unknown_crash_point_is_refused() -> None:
    import sys

    r = subprocess.run([sys.executable, "-c", "import econnector.crashpoints"],
                       capture_output=True, text=True, timeout=60,
                       env={**subprocess_env(), "ECONNECTOR_CRASH_AT": "nowhere"})
    assert r.returncode != 0 and "unknown ECONNECTOR_CRASH_AT" in r.stderr
