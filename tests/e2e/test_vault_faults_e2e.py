"""The daemon against a misbehaving vault (fault injection over real TCP on loopback):
transient failures are retried until delivered exactly once; permanent answers are
never retried and end in an error file with the vault's code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    TEST_PROVIDERS,
    VaultProcess,
    add_fault,
    clear_faults,
    fault_counts,
    pending_faults,
    running_vault,
    unsigned_pdf,
    vault_records,
)

pytestmark = pytest.mark.e2e


TRANSIENT = [
    {"kind": "status", "status": 503, "count": 3},
    {"kind": "status", "status": 502, "count": 2},
    {"kind": "status", "status": 500, "count": 1},
    {"kind": "reset", "count": 2},
    {"kind": "stall", "seconds": 3, "count": 1},
    {"kind": "drop-after-commit", "count": 1},
    {"kind": "slow", "bytes_per_second": 5, "count": 1},
]


def _provider_for(spec: dict) -> str:  # type: ignore[type-arg]
    """A provider code of its own per fault, so records can be counted per test."""
    import zlib

    return f"96{zlib.crc32(repr(sorted(spec.items())).encode()) % 10**6:06d}"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("vault")
    token = "test-token-0123456789"
    # The vault token acts only for the provider codes it lists (issue #8).
    providers = [*TEST_PROVIDERS, *(_provider_for(s) for s in TRANSIENT)]
    with running_vault(folder, enable_faults=True, patients={"1953010100115": "red"},
                       max_document_mb=0.1, token=token, tokens={token: providers}) as vp:
        yield vp


def _cfg(tmp_path: Path, vault: VaultProcess, provider: str, **extra: dict) -> Path:  # type: ignore[type-arg]
    ident = make_identity(tmp_path / "id", provider)
    cfg = write_config(tmp_path / "practice", [(provider, ident)], vault=vault, **extra)
    text = cfg.read_text().replace("kind: http", "kind: http\n  timeout_s: 0.5")
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize(
    "spec",
    TRANSIENT,
    ids=lambda s: f"{s['kind']}-{s.get('status', s.get('count'))}",
)
def test_transient_faults_end_in_exactly_one_delivery(
    tmp_path: Path, vault: VaultProcess, spec: dict  # type: ignore[type-arg]
) -> None:
    clear_faults(vault)
    provider = _provider_for(spec)
    cfg = _cfg(tmp_path, vault, provider)
    before = fault_counts(vault).get(spec["kind"], 0)
    add_fault(vault, **spec)
    with running_daemon(cfg) as d:
        drop(d.outbox, "f", unsigned_pdf("fault"), sidecar("FAULT-1", provider=provider))
        st = d.wait_outcome("f", timeout=60)
        assert st["state"] == "delivered", st
        assert st["attempts"] >= 1  # it failed at least once and was retried
    assert fault_counts(vault)[spec["kind"]] - before == spec["count"]
    assert pending_faults(vault) == []
    records = vault_records(vault, provider)
    assert len(records) == 1
    assert d.receipt("f")["vault_document_id"] == records[0]["vault_document_id"]  # type: ignore[index]


def test_retry_after_is_honoured(tmp_path: Path, vault: VaultProcess) -> None:
    clear_faults(vault)
    provider = "95000429"
    cfg = _cfg(tmp_path, vault, provider)
    add_fault(vault, kind="status", status=429, retry_after=3, count=1)
    with running_daemon(cfg) as d:
        drop(d.outbox, "r", unsigned_pdf("429"), sidecar("RA-1", provider=provider))
        st = wait_for(lambda: (s := d.status("r")) and s["state"] == "waiting-retry" and s,
                      30, "waiting-retry")
        wait_at = dt.datetime.fromisoformat(st["next_attempt_at"].replace("Z", "+00:00"))
        since = dt.datetime.fromisoformat(st["updated_at"].replace("Z", "+00:00"))
        # retry base is 0.2 s in tests: only Retry-After explains a wait of 3 s
        assert (wait_at - since).total_seconds() >= 2
        assert d.wait_outcome("r", timeout=30)["state"] == "delivered"
    assert len(vault_records(vault, provider)) == 1


def test_permanent_answers_are_not_retried(tmp_path: Path, vault: VaultProcess) -> None:
    clear_faults(vault)
    provider = "95000422"
    cfg = _cfg(tmp_path, vault, provider)
    with running_daemon(cfg) as d:
        # 422: the vault refuses an opted-out patient
        drop(d.outbox, "red", unsigned_pdf("red"),
             sidecar("PERM-1", provider=provider, mat="1953010100115"))
        # 413: larger than the vault's 0.1 MiB limit
        big = unsigned_pdf("big " + "x" * 50, pages=400)
        assert len(big) > 0.12 * 1024 * 1024 or pytest.fail(f"only {len(big)} bytes")
        drop(d.outbox, "big", big, sidecar("PERM-2", provider=provider))
        red = wait_for(lambda: (s := d.status("red")) and s["state"] == "patient-opted-out"
                       and s, 30, "red's outcome")
        big_st = d.wait_outcome("big")
    # 422 patient-opted-out is final but no error (details: tests/e2e/test_vault_truth.py)
    assert red["attempts"] == 1 and d.error("red") is None
    assert big_st["state"] == "rejected" and big_st["attempts"] == 1  # one upload, no retry
    assert d.error("big")["code"] == "vault-too-large"  # type: ignore[index]
    assert sorted(p.name for p in d.failed.iterdir()) == ["big.pdf", "big.yaml"]
    assert vault_records(vault, provider) == []


def test_conflict_from_another_practice_is_refused_with_the_vault_code(
    tmp_path: Path, vault: VaultProcess
) -> None:
    clear_faults(vault)
    provider = "95000409"
    a = _cfg(tmp_path / "a", vault, provider)
    b = _cfg(tmp_path / "b", vault, provider)
    with running_daemon(a) as da:
        drop(da.outbox, "x", unsigned_pdf("first"), sidecar("CONFLICT-1", provider=provider))
        assert da.wait_outcome("x")["state"] == "delivered"
    with running_daemon(b) as db:
        drop(db.outbox, "x", unsigned_pdf("second"), sidecar("CONFLICT-1", provider=provider))
        st = db.wait_outcome("x")
    assert st["state"] == "rejected" and db.error("x")["code"] == "vault-conflict"  # type: ignore[index]
    assert len(vault_records(vault, provider)) == 1
