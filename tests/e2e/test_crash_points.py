"""Crash at every named point between two durable effects, restart, and check that
each document ends exactly once: one vault record, one receipt (or one error file, or
one opted-out answer), originals archived (or in failed/), no stray temp files,
nothing left in work."""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from econnector.crashpoints import POINTS
from econnector_testsupport.daemon import (
    assert_pdfsig_last_valid,
    drop,
    econnector_cmd,
    make_identity,
    pyhanko_status,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    VaultProcess,
    running_vault,
    subprocess_env,
    unsigned_pdf,
    vault_records,
)

pytestmark = pytest.mark.e2e

REJECTING = ("reject", "error", "failed")
OPTING_OUT = "opted-out"
DELIVERY_POINTS = [p for p in POINTS if OPTING_OUT not in p
                   and not any(w in p for w in REJECTING)]
REJECTION_POINTS = [p for p in POINTS if any(w in p for w in REJECTING)]
REJECTION_POINTS += ["after-claim", "after-received-status"]
# The opted-out path's own points, and those it shares with a delivery: the upload that
# the vault refuses (repeated after the restart) and the moves of the originals.
OPTED_OUT_POINTS = [p for p in POINTS if OPTING_OUT in p]
OPTED_OUT_POINTS += ["after-delivering-commit", "after-archive-pdf", "after-archive-sidecar"]

RED = "1953010100115"  # the vault's patient map makes this patient opt out
REJECTED = "1893120105733"  # a wrong check digit: refused before signing


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_vault(tmp_path_factory.mktemp("vault"), patients={RED: "red"}) as vp:
        yield vp


def provider_for(point: str, billed: bool) -> str:
    """One provider code (in ``econnector_testsupport.vault.TEST_PROVIDERS``) per point and
    outcome, so the vault's records tell each test's document apart. Unbilled outcomes
    (rejected, opted out) take index + 50: the two never share a point, and nothing is
    billed to either."""
    index = POINTS.index(point) + (0 if billed else 50)
    return f"9{index:03d}0000"


def crash_then_recover(tmp_path: Path, vault: VaultProcess, point: str,  # type: ignore[no-untyped-def]
                       matricule: str | None = None):
    """Drop one document, run the daemon until it kills itself at ``point``, restart it
    and wait for the document's final status. ``matricule`` makes it rejected or red."""
    provider = provider_for(point, billed=matricule is None)
    ident = make_identity(tmp_path / "id", provider)
    cfg = write_config(tmp_path / "practice", [(provider, ident)], vault=vault)
    root = tmp_path / "practice"
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    meta = sidecar("CRASH-1", provider=provider)
    if matricule is not None:
        meta["patient"]["matricule"] = matricule
    drop(root / "outbox", "doc", unsigned_pdf(f"crash {point}"), meta)
    first = subprocess.run(econnector_cmd("run", "-c", str(cfg)), capture_output=True,
                           env={**subprocess_env(), "ECONNECTOR_CRASH_AT": point}, timeout=60)
    assert first.returncode == -9, (first.returncode, first.stderr[-2000:])
    crashed_at = datetime.datetime.now(datetime.UTC)
    with running_daemon(cfg) as d:
        if matricule == RED:
            st = wait_for(lambda: (s := d.status("doc")) and s["state"] == "patient-opted-out"
                          and s, 30, "the opted-out outcome",
                          on_fail=lambda: f"status={d.status('doc')}\nlog:\n{d.log()}")
        else:
            st = d.wait_outcome("doc", timeout=30)
    return d, st, provider, ident, crashed_at


def no_strays(root: Path) -> None:
    for folder in ("inbox", "archive", "failed", "outbox"):
        stray = [p for p in (root / folder).rglob("*") if p.name.endswith(".tmp")
                 or p.name.startswith(".")]
        assert stray == [], stray
    assert list((root / "work" / "signed").iterdir()) == []


@pytest.mark.parametrize("point", DELIVERY_POINTS)
def test_crash_while_delivering(tmp_path: Path, vault: VaultProcess, point: str) -> None:
    d, st, provider, _, _ = crash_then_recover(tmp_path, vault, point)
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
    d, st, provider, _, _ = crash_then_recover(tmp_path, vault, point, REJECTED)
    assert st["state"] == "rejected" and st["reason"] == "matricule-verhoeff", st
    assert vault_records(vault, provider) == []
    assert sorted(p.name for p in d.inbox.iterdir()) == [
        "doc.error.json", "doc.error.txt", "doc.status.json"]
    assert sorted(p.name for p in d.failed.iterdir()) == ["doc.pdf", "doc.yaml"]
    assert list(d.outbox.iterdir()) == [] and d.archived() == []
    no_strays(d.root)


@pytest.mark.parametrize("point", OPTED_OUT_POINTS)
def test_crash_when_patient_opted_out(tmp_path: Path, vault: VaultProcess, point: str) -> None:
    d, st, provider, ident, crashed_at = crash_then_recover(tmp_path, vault, point, RED)
    assert st["state"] == "patient-opted-out" and st["reason"] == "patient-opted-out", st
    assert vault_records(vault, provider) == []  # not stored, not billed
    assert sorted(p.name for p in d.inbox.iterdir()) == [
        "doc.opted-out.json", "doc.opted-out.txt", "doc.signed.pdf", "doc.status.json"]
    signed = d.inbox / "doc.signed.pdf"
    answer = json.loads((d.inbox / "doc.opted-out.json").read_text("utf-8"))
    assert answer["code"] == "patient-opted-out" and answer["document_id"] == "CRASH-1"
    assert answer["signed_file"] == "doc.signed.pdf"
    assert answer["signed_sha256"] == hashlib.sha256(signed.read_bytes()).hexdigest()
    assert "doc.signed.pdf" in (d.inbox / "doc.opted-out.txt").read_text("utf-8")
    # when the vault said no (before the crash), not when the restart finished the files
    if point != "after-delivering-commit":  # there the vault is asked again after it
        decided = datetime.datetime.fromisoformat(answer["decided_at"].replace("Z", "+00:00"))
        assert decided <= crashed_at, (answer["decided_at"], crashed_at)
    # the copy to print is the signed document, whole and valid
    archived = d.archived()
    original = next(p for p in archived if p.name == "doc.pdf").read_bytes()
    assert signed.read_bytes().startswith(original) and signed.stat().st_size > len(original)
    last, earlier = pyhanko_status(signed, ident.ca_cert)
    assert last.intact and last.valid and last.trusted, last.pretty_print_details()
    assert last.coverage.name == "ENTIRE_FILE" and earlier == []
    assert_pdfsig_last_valid(signed)
    # finished, not failed: originals and signed bytes in the archive, once
    assert sorted(p.name for p in archived) == ["doc.pdf", "doc.signed.pdf", "doc.yaml"]
    assert next(p for p in archived if p.name == "doc.signed.pdf").read_bytes() == (
        signed.read_bytes())
    assert list(d.outbox.iterdir()) == [] and list(d.failed.iterdir()) == []
    no_strays(d.root)


def test_every_point_is_exercised() -> None:
    assert set(DELIVERY_POINTS) | set(REJECTION_POINTS) | set(OPTED_OUT_POINTS) == set(POINTS)
    # one provider code per point and outcome, all of them granted by the test vault
    assert len(POINTS) <= 50
    assert not set(REJECTION_POINTS) & set(OPTED_OUT_POINTS)


def test_unknown_crash_point_is_refused(tmp_path: Path) -> None:
    """A misspelt point stops ``econnector run`` at start, before it touches a
    folder (not silently never firing). Importing the module alone does nothing."""
    import sys

    env = {**subprocess_env(), "ECONNECTOR_CRASH_AT": "nowhere"}
    r = subprocess.run([sys.executable, "-c", "import econnector.crashpoints"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(econnector_cmd("run", "-c", str(tmp_path / "nope.yaml")),
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode != 0 and "unknown ECONNECTOR_CRASH_AT" in r.stderr
