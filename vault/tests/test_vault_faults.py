"""Fault injection in the reference vault: each kind over real TCP on loopback.

The real server process runs with ``--enable-faults``; faults are queued through
the control API and observed both with raw httpx and with the daemon's
``VaultClient`` (transient trouble -> ``VaultUnavailable``). Client timeouts are
short so the whole file stays fast.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from econnector.errors import VaultUnavailable
from econnector.vault_client import Delivery, VaultClient, idempotency_key
from econnector_testsupport.vault import (
    MATRICULE,
    TlsFiles,
    VaultProcess,
    add_fault,
    clear_faults,
    fault_counts,
    make_tls,
    metadata,
    pending_faults,
    running_vault,
    server_command,
    signed_pdf,
    subprocess_env,
    verify_for,
)
from econnector_vault.billing import quarter_of
from econnector_vault.testing import is_loopback_host

SHORT = 0.5  # the client's read timeout when a fault should make it give up
_providers = itertools.count(1)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("vault-faults"), enable_faults=True) as vp:
        yield vp


@pytest.fixture(autouse=True)
def no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    if "vault" not in request.fixturenames:
        yield
        return
    vp: VaultProcess = request.getfixturevalue("vault")
    clear_faults(vp)
    yield
    clear_faults(vp)


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "doc.pdf"
    path.write_bytes(signed_pdf("fault test"))
    return path


@pytest.fixture
def provider() -> str:
    """A provider code of its own per test, so fee records can be counted per test."""
    return f"7{next(_providers):07d}"


# -- helpers --------------------------------------------------------------------------------------


def client(vp: VaultProcess, read: float = 5.0) -> VaultClient:
    return VaultClient(
        vp.base_url,
        vp.token,
        ca_bundle=str(vp.ca_bundle) if vp.ca_bundle else None,
        timeout=httpx.Timeout(connect=2.0, read=read, write=2.0, pool=2.0),
    )


def upload(
    vp: VaultProcess, pdf: Path, provider: str, document_id: str = "doc-1", read: float = 5.0
) -> Delivery:
    """One delivery with the daemon's client and its real Idempotency-Key."""

    async def go() -> Delivery:
        async with client(vp, read) as c:
            return await c.upload(
                metadata(document_id, provider_code=provider),
                pdf,
                idempotency_key(provider, document_id),
            )

    return asyncio.run(go())


def upload_fails(vp: VaultProcess, pdf: Path, provider: str, read: float = 5.0) -> VaultUnavailable:
    with pytest.raises(VaultUnavailable) as info:
        upload(vp, pdf, provider, read=read)
    return info.value


def stored(vp: VaultProcess, provider: str, document_id: str = "doc-1") -> int:
    """How many documents the vault holds under this delivery's Idempotency-Key."""
    with sqlite3.connect(vp.data_dir / "vault.sqlite") as conn:
        row = conn.execute(
            "SELECT count(*) FROM documents WHERE idempotency_key = ?",
            (idempotency_key(provider, document_id),),
        ).fetchone()
    return int(row[0])


def fees(vp: VaultProcess, provider: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{vp.base_url}/v1/billing/activity",
        params={"quarter": quarter_of(datetime.now(UTC)), "provider_code": provider},
        headers=auth(vp),
        verify=verify_for(vp),
    )
    assert r.status_code == 200, r.text
    records: list[dict[str, Any]] = r.json()["records"]
    return records


def auth(vp: VaultProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {vp.token}"}


def get(vp: VaultProcess, path: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(
        f"{vp.base_url}{path}", headers=auth(vp), verify=verify_for(vp), timeout=timeout
    )


def digital_status(vp: VaultProcess) -> str:
    async def go() -> str:
        async with client(vp) as c:
            return await c.digital_status(MATRICULE)

    return asyncio.run(go())


def applied_since(before: dict[str, int], vp: VaultProcess) -> dict[str, int]:
    now = fault_counts(vp)
    return {k: now[k] - before.get(k, 0) for k in now if now[k] != before.get(k, 0)}


# -- the flag and the control API -----------------------------------------------------------------


def test_without_the_flag_the_control_api_is_404(tmp_path: Path) -> None:
    with running_vault(tmp_path) as vp:
        for method in ("GET", "POST", "DELETE"):
            r = httpx.request(
                method, f"{vp.base_url}/v1/_faults", headers=auth(vp), json={"kind": "reset"}
            )
            assert r.status_code == 404, (method, r.text)
            assert r.json()["code"] == "not-found"
        assert "fault injection is enabled" not in vp.log()


def _refusal(tmp_path: Path, command: list[str]) -> tuple[int, str]:
    (tmp_path / "tok").write_text("t0ken 90812100\n", "utf-8")
    done = subprocess.run(
        [*command, "--data", str(tmp_path / "d"), "--token-file", str(tmp_path / "tok")],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=30,
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "vault.example.org"])
def test_enable_faults_is_refused_unless_the_host_is_loopback(tmp_path: Path, host: str) -> None:
    code, stderr = _refusal(tmp_path, server_command("--host", host, "--enable-faults"))
    assert code == 2
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and "loopback" in stderr
    assert not (tmp_path / "d").exists()


def test_the_econnector_cli_refuses_it_too(tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "import sys; from econnector.cli import main; sys.exit(main())"]
    args = ["vault", "serve", "--host", "0.0.0.0", "--enable-faults"]
    code, stderr = _refusal(tmp_path, [*cli, *args])
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and "loopback" in stderr


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LocalHost"):
        assert is_loopback_host(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "localhost.example.org", ""):
        assert not is_loopback_host(host), host


def test_control_api_needs_a_token(vault: VaultProcess) -> None:
    url = f"{vault.base_url}/v1/_faults"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        for method in ("GET", "POST", "DELETE"):
            r = httpx.request(method, url, headers=headers, json={"kind": "reset"})
            assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = httpx.put(url, headers=auth(vault), json={})
    assert r.status_code == 405 and r.json()["code"] == "method-not-allowed"
    assert pending_faults(vault) == []


def test_queue_list_and_clear(vault: VaultProcess) -> None:
    first = add_fault(vault, kind="status")
    assert first == {
        "id": first["id"],
        "kind": "status",
        "count": 1,
        "remaining": 1,
        "path": "/v1/documents",
        "method": "POST",
        "status": 503,
    }
    add_fault(vault, kind="stall", seconds=2, count=3, path="*")
    add_fault(vault, kind="status", status=429, path="/v1/health")
    pending = pending_faults(vault)
    assert [f["kind"] for f in pending] == ["status", "stall", "status"]
    assert pending[1] == {
        "id": first["id"] + 1,
        "kind": "stall",
        "count": 3,
        "remaining": 3,
        "path": "*",
        "method": "*",
        "seconds": 2.0,
    }
    assert pending[2]["retry_after"] == 1  # the default for 429
    r = httpx.get(f"{vault.base_url}/v1/_faults", headers=auth(vault))
    assert set(r.json()["applied"]) == {"status", "stall", "reset", "drop-after-commit", "slow"}

    before = fault_counts(vault)
    r = httpx.delete(f"{vault.base_url}/v1/_faults", headers=auth(vault))
    assert r.status_code == 200 and r.json() == {"cleared": 3}
    assert pending_faults(vault) == []
    assert fault_counts(vault) == before  # clearing keeps the counters
    assert get(vault, "/v1/health").status_code == 200


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"kind": "explode"}, {"kind"}),
        ({}, {"kind"}),
        ({"kind": "status", "status": 404}, {"status"}),
        ({"kind": "status", "status": 429, "retry_after": 1.5}, {"retry_after"}),
        ({"kind": "stall"}, {"seconds"}),
        ({"kind": "stall", "seconds": -1}, {"seconds"}),
        ({"kind": "slow", "bytes_per_second": 0}, {"bytes_per_second"}),
        ({"kind": "reset", "count": 0}, {"count"}),
        ({"kind": "reset", "count": True}, {"count"}),
        ({"kind": "reset", "seconds": 1}, {"seconds"}),
        ({"kind": "reset", "path": "v1/documents"}, {"path"}),
        ({"kind": "reset", "path": "/v1/_faults"}, {"path"}),
        ({"kind": "reset", "method": "GE T"}, {"method"}),
        ({"kind": "reset", "surprise": 1}, {"surprise"}),
        ([{"kind": "reset"}], {"(body)"}),
    ],
)
def test_invalid_fault_specs_are_422(vault: VaultProcess, spec: Any, fields: set[str]) -> None:
    r = httpx.post(f"{vault.base_url}/v1/_faults", headers=auth(vault), json=spec)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "fault-invalid"
    assert {e["field"] for e in body["errors"]} == fields
    assert pending_faults(vault) == []


def test_a_spec_that_is_not_json_is_400(vault: VaultProcess) -> None:
    r = httpx.post(f"{vault.base_url}/v1/_faults", headers=auth(vault), content=b"kind=reset")
    assert r.status_code == 400 and r.json()["code"] == "request-invalid"


# -- status ---------------------------------------------------------------------------------------


def test_status_503_is_unavailable_then_the_next_upload_succeeds(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    before = fault_counts(vault)
    add_fault(vault, kind="status", status=503)
    error = upload_fails(vault, pdf_path, provider)
    assert error.params["status"] == 503 and error.retry_after is None
    assert stored(vault, provider) == 0 and fees(vault, provider) == []

    delivery = upload(vault, pdf_path, provider)
    assert not delivery.replayed  # 201: the 503 had stored nothing
    assert stored(vault, provider) == 1 and len(fees(vault, provider)) == 1
    assert applied_since(before, vault) == {"status": 1}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_answers_are_problem_details(vault: VaultProcess, status: int) -> None:
    add_fault(vault, kind="status", status=status, path="/v1/health")
    r = get(vault, "/v1/health")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "retry-after" not in r.headers
    body = r.json()
    assert body["code"] == "fault-injected" and body["status"] == status
    assert body["type"].endswith("fault-injected") and body["title"] and body["detail"]
    assert get(vault, "/v1/health").status_code == 200


def test_429_carries_retry_after(vault: VaultProcess, pdf_path: Path, provider: str) -> None:
    add_fault(vault, kind="status", status=429, retry_after=7)
    error = upload_fails(vault, pdf_path, provider)
    assert error.params["status"] == 429 and error.retry_after == 7.0

    add_fault(vault, kind="status", status=429, path="/v1/health")
    r = get(vault, "/v1/health")
    assert r.status_code == 429 and r.headers["retry-after"] == "1"  # the default
    add_fault(vault, kind="status", status=503, retry_after=2, path="/v1/health")
    assert get(vault, "/v1/health").headers["retry-after"] == "2"


# -- count, path filter, head-only ----------------------------------------------------------------


def test_each_matching_request_consumes_one_unit(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    add_fault(vault, kind="status", status=503, count=2)
    assert pending_faults(vault)[0]["remaining"] == 2
    upload_fails(vault, pdf_path, provider)
    assert get(vault, "/v1/health").status_code == 200  # not matching: consumes nothing
    assert pending_faults(vault)[0]["remaining"] == 1
    upload_fails(vault, pdf_path, provider)
    assert pending_faults(vault) == []
    assert not upload(vault, pdf_path, provider).replayed


def test_path_filter(vault: VaultProcess, pdf_path: Path, provider: str) -> None:
    add_fault(vault, kind="status", status=503, path="/v1/health")
    assert not upload(vault, pdf_path, provider).replayed  # POST /v1/documents: untouched
    assert get(vault, "/v1/health").status_code == 503
    assert get(vault, "/v1/health").status_code == 200

    add_fault(vault, kind="status", status=502, path="/v1/patients/*")  # a prefix
    with pytest.raises(VaultUnavailable):
        digital_status(vault)
    assert digital_status(vault) == "green"

    add_fault(vault, kind="status", status=500, path="*", count=2)
    assert get(vault, "/v1/_faults").status_code == 200  # the control API is never faulted
    assert get(vault, "/v1/openapi.yaml").status_code == 500
    with pytest.raises(VaultUnavailable):
        digital_status(vault)
    assert pending_faults(vault) == []

    add_fault(vault, kind="status", status=503, path="/v1/documents/*", method="GET")
    assert get(vault, "/v1/documents/vd_00000000000000000000000000000000").status_code == 503


def test_only_the_head_fault_is_armed(vault: VaultProcess, pdf_path: Path, provider: str) -> None:
    add_fault(vault, kind="status", status=503, path="/v1/health")
    add_fault(vault, kind="status", status=500)
    assert not upload(vault, pdf_path, provider, "doc-a").replayed  # the head waits for health
    assert get(vault, "/v1/health").status_code == 503
    assert upload_fails(vault, pdf_path, provider).params["status"] == 500
    assert pending_faults(vault) == []


# -- stall ----------------------------------------------------------------------------------------


def test_a_stall_below_the_read_timeout_only_delays(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    add_fault(vault, kind="stall", seconds=0.4)
    started = time.monotonic()
    assert not upload(vault, pdf_path, provider, read=5.0).replayed
    assert time.monotonic() - started >= 0.4


def test_a_stall_past_the_read_timeout_stores_nothing(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    before = fault_counts(vault)
    add_fault(vault, kind="stall", seconds=1.5)
    started = time.monotonic()
    error = upload_fails(vault, pdf_path, provider, read=SHORT)
    assert "timeout" in error.message.lower() or "timeout" in str(error.params).lower()
    assert time.monotonic() - started < 1.4
    time.sleep(1.5)  # past the end of the stall: the vault saw the client leave
    assert stored(vault, provider) == 0 and fees(vault, provider) == []
    assert "vault-fault-client-gone" in vault.log()
    assert not upload(vault, pdf_path, provider).replayed
    assert applied_since(before, vault) == {"stall": 1}


# -- reset ----------------------------------------------------------------------------------------


def test_reset_is_unavailable_and_stores_nothing(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    before = fault_counts(vault)
    add_fault(vault, kind="reset")
    upload_fails(vault, pdf_path, provider)
    assert stored(vault, provider) == 0 and fees(vault, provider) == []
    assert not upload(vault, pdf_path, provider).replayed
    assert applied_since(before, vault) == {"reset": 1}


def test_reset_sends_rst(vault: VaultProcess) -> None:
    add_fault(vault, kind="reset", path="/v1/health")
    with pytest.raises(httpx.ReadError) as info:
        get(vault, "/v1/health")
    assert "reset" in str(info.value).lower()
    assert get(vault, "/v1/health").status_code == 200


# -- drop-after-commit ----------------------------------------------------------------------------


def test_drop_after_commit_then_the_retry_replays(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    before = fault_counts(vault)
    add_fault(vault, kind="drop-after-commit")
    upload_fails(vault, pdf_path, provider)
    assert stored(vault, provider) == 1  # committed although the answer was lost
    assert len(fees(vault, provider)) == 1

    delivery = upload(vault, pdf_path, provider)
    assert delivery.replayed  # 200 with the original receipt
    assert stored(vault, provider) == 1
    records = fees(vault, provider)
    assert len(records) == 1 and records[0]["vault_document_id"] == delivery.vault_document_id
    assert applied_since(before, vault) == {"drop-after-commit": 1}


def test_drop_after_commit_with_raw_httpx(vault: VaultProcess) -> None:
    add_fault(vault, kind="drop-after-commit", path="/v1/health")
    with pytest.raises(httpx.RemoteProtocolError):
        get(vault, "/v1/health")


# -- slow -----------------------------------------------------------------------------------------


def test_slow_answer_times_out_a_short_read_timeout(
    vault: VaultProcess, pdf_path: Path, provider: str
) -> None:
    before = fault_counts(vault)
    add_fault(vault, kind="slow", bytes_per_second=5)
    started = time.monotonic()
    upload_fails(vault, pdf_path, provider, read=SHORT)
    assert time.monotonic() - started < 3
    # The request itself was handled normally: the document is stored, a retry replays.
    assert stored(vault, provider) == 1
    assert upload(vault, pdf_path, provider).replayed
    assert len(fees(vault, provider)) == 1
    assert applied_since(before, vault) == {"slow": 1}


def test_slow_answer_arrives_whole_with_a_patient_client(vault: VaultProcess) -> None:
    add_fault(vault, kind="slow", bytes_per_second=40, path="/v1/health")
    started = time.monotonic()
    r = get(vault, "/v1/health", timeout=5.0)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert elapsed >= len(r.content) / 40 - 0.05


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_faults_over_tls(tmp_path: Path, tls: TlsFiles, pdf_path: Path, provider: str) -> None:
    with running_vault(tmp_path, tls=tls, enable_faults=True) as vp:
        assert vp.base_url.startswith("https://")
        add_fault(vp, kind="reset")
        add_fault(vp, kind="status", status=503)
        add_fault(vp, kind="drop-after-commit")
        add_fault(vp, kind="slow", bytes_per_second=5)
        for _ in range(3):
            upload_fails(vp, pdf_path, provider)
        assert stored(vp, provider) == 1 and len(fees(vp, provider)) == 1  # the dropped one
        upload_fails(vp, pdf_path, provider, read=SHORT)
        assert upload(vp, pdf_path, provider).replayed
        assert stored(vp, provider) == 1 and len(fees(vp, provider)) == 1
        assert fault_counts(vp) == {
            "status": 1,
            "stall": 0,
            "reset": 1,
            "drop-after-commit": 1,
            "slow": 1,
        }
        assert vp.stop() == 0
        assert "Traceback" not in vp.log()
