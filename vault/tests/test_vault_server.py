"""The real vault server process: HTTP and HTTPS on loopback, the documented protocol."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

import econnector_vault
from econnector.errors import VaultHeld
from econnector.vault_client import VaultClient
from econnector_testsupport.daemon import econnector_cmd
from econnector_testsupport.vault import (
    MATRICULE,
    PROVIDER,
    TlsFiles,
    VaultProcess,
    make_tls,
    metadata,
    running_vault,
    server_command,
    signed_pdf,
    subprocess_env,
    unsigned_pdf,
)
from econnector_vault.billing import quarter_of
from econnector_vault.metadata import validate_metadata

RED = "1990010112345"
BLUE = "1990010154321"
PATIENTS = {RED: "red", BLUE: "blue"}


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    with running_vault(
        tmp_path_factory.mktemp("vault-http"), patients=PATIENTS, max_document_mb=1
    ) as vp:
        yield vp


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_vault(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("vault-tls"), tls=tls) as vp:
        yield vp


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return signed_pdf("server test")


def auth(vp: VaultProcess, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {vp.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def form(meta: Any, data: bytes) -> dict[str, Any]:
    return {
        "metadata": (None, json.dumps(meta).encode(), "application/json"),
        "file": ("doc.pdf", data, "application/pdf"),
    }


def post(vp: VaultProcess, key: str, meta: Any, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{vp.base_url}/v1/documents", headers=auth(vp, key), files=form(meta, data), timeout=30
    )


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return body


def documents_with_key(vp: VaultProcess, key: str) -> int:
    with sqlite3.connect(vp.data_dir / "vault.sqlite") as conn:
        row = conn.execute(
            "SELECT count(*) FROM documents WHERE idempotency_key = ?", (key,)
        ).fetchone()
    return int(row[0])


# -- unauthenticated endpoints --------------------------------------------------------------------


def test_health_needs_no_token(vault: VaultProcess) -> None:
    r = httpx.get(f"{vault.base_url}/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["version"]


def test_openapi_is_served_and_describes_every_path(vault: VaultProcess) -> None:
    r = httpx.get(f"{vault.base_url}/v1/openapi.yaml")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/yaml")
    spec = yaml.safe_load(r.text)
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) >= {
        "/v1/documents",
        "/v1/documents/{vault_document_id}",
        "/v1/patients/{matricule}/digital-status",
        "/v1/billing/activity",
        "/v1/health",
        "/v1/token",
        "/v1/openapi.yaml",
    }


def test_openapi_describes_its_own_answer(vault: VaultProcess) -> None:
    """The document served at /v1/openapi.yaml matches the schema it gives for that answer."""
    r = httpx.get(f"{vault.base_url}/v1/openapi.yaml")
    spec = yaml.safe_load(r.text)
    content = spec["paths"]["/v1/openapi.yaml"]["get"]["responses"]["200"]["content"]
    assert r.headers["content-type"].split(";")[0] in content
    schema = {**content["application/yaml"]["schema"], "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(spec)


def test_openapi_links_the_upload_to_the_document(vault: VaultProcess) -> None:
    spec = yaml.safe_load(httpx.get(f"{vault.base_url}/v1/openapi.yaml").text)
    responses = spec["paths"]["/v1/documents"]["post"]["responses"]
    for status in ("200", "201"):
        ref = responses[status]["links"]["GetDocument"]["$ref"]
        link = spec["components"]["links"][ref.rsplit("/", 1)[-1]]
        assert link["operationId"] == "getDocument"
        assert link["parameters"] == {"vault_document_id": "$response.body#/vault_document_id"}


def test_openapi_metadata_schema_agrees_with_the_validator(vault: VaultProcess) -> None:
    """The published schema and the server's checks must not drift apart."""
    spec = yaml.safe_load(httpx.get(f"{vault.base_url}/v1/openapi.yaml").text)
    schema = spec["components"]["schemas"]["Metadata"]
    validator = jsonschema.Draft202012Validator(schema)
    vendor: dict[str, Any] = {"x-vendor": [1]}
    good = [metadata(), metadata(doc_type="certificate"), metadata(**vendor)]
    bad = [
        metadata(type="lab-report"),
        metadata(surprise=1),
        metadata(doc_type="prescription", invoice={"total": "1", "currency": "EUR", "paid": True}),
        metadata(original_sha256="abc"),
        {k: v for k, v in metadata().items() if k != "invoice"},
        {**metadata(), "patient": {"matricule": "123", "insurer": "CNS"}},
        {**metadata(), "author": {"provider_code": "90812100", "name": "x"}},
        {**metadata(), "invoice": {"total": "84,60", "currency": "EUR", "paid": False}},
    ]
    for meta in good:
        assert validate_metadata(meta) == [] and validator.is_valid(meta), meta
    for meta in bad:
        assert validate_metadata(meta) and not validator.is_valid(meta), meta


# -- authentication -------------------------------------------------------------------------------


def test_token_endpoint_names_the_tokens_provider_codes(tmp_path: Path) -> None:
    tokens = {"tok-a": ["90812200", "90812100"], "tok-b": ["90555500"]}
    with running_vault(tmp_path, token="tok-a", tokens=tokens) as vp:
        r = httpx.get(f"{vp.base_url}/v1/token", headers={"Authorization": "Bearer tok-a"})
        assert r.status_code == 200 and r.json() == {"provider_codes": ["90812100", "90812200"]}
        r = httpx.get(f"{vp.base_url}/v1/token", headers={"Authorization": "Bearer tok-b"})
        assert r.json() == {"provider_codes": ["90555500"]}
        assert_problem(httpx.get(f"{vp.base_url}/v1/token"), 401, "unauthorized")



@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dGVzdDp0ZXN0", "Bearer"])
def test_requests_without_a_valid_token_are_401(vault: VaultProcess, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in [
        ("POST", "/v1/documents"),
        ("GET", f"/v1/documents/vd_{'0' * 32}"),
        ("GET", f"/v1/patients/{MATRICULE}/digital-status"),
        ("GET", "/v1/billing/activity?quarter=2026Q4&provider_code=90812100"),
    ]:
        r = httpx.request(method, f"{vault.base_url}{path}", headers=headers)
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer second-token", "bearer test-token-0123456789"])
def test_every_token_in_the_file_is_accepted(vault: VaultProcess, header: str) -> None:
    r = httpx.get(
        f"{vault.base_url}/v1/patients/{MATRICULE}/digital-status",
        headers={"Authorization": header},
    )
    assert r.status_code == 200


# -- uploads --------------------------------------------------------------------------------------


def test_upload_replay_conflict_and_read_back(vault: VaultProcess, pdf: bytes) -> None:
    meta = metadata("srv-1")
    first = post(vault, "srv-key-1", meta, pdf)
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {"vault_document_id", "received_at", "sha256", "fee", "idempotency_key"}
    assert body["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert body["fee"] == {"amount": "0.30", "currency": "EUR"}
    assert body["idempotency_key"] == "srv-key-1"
    datetime.fromisoformat(body["received_at"])

    again = post(vault, "srv-key-1", meta, pdf)
    assert again.status_code == 200 and again.json() == body

    conflict = post(vault, "srv-key-1", meta, signed_pdf("other content"))
    assert_problem(conflict, 409, "idempotency-conflict")
    assert documents_with_key(vault, "srv-key-1") == 1

    got = httpx.get(
        f"{vault.base_url}/v1/documents/{body['vault_document_id']}", headers=auth(vault)
    )
    assert got.status_code == 200
    doc = got.json()
    assert doc["state"] == "stored" and doc["metadata"] == meta
    assert doc["size"] == len(pdf) and doc["sha256"] == body["sha256"]
    assert doc["fee"] == body["fee"] and doc["received_at"] == body["received_at"]
    vid = body["vault_document_id"]
    stored = vault.data_dir / "documents" / vid[3:5] / f"{vid}.pdf"
    assert stored.read_bytes() == pdf


def test_unknown_document_is_404(vault: VaultProcess) -> None:
    for vid in (f"vd_{'0' * 32}", "nope"):
        r = httpx.get(f"{vault.base_url}/v1/documents/{vid}", headers=auth(vault))
        assert_problem(r, 404, "not-found")


def test_unsigned_pdf_is_422_signature_invalid(vault: VaultProcess) -> None:
    r = post(vault, "srv-unsigned", metadata("srv-2"), unsigned_pdf())
    assert_problem(r, 422, "signature-invalid")


def test_garbage_is_422_pdf_invalid(vault: VaultProcess) -> None:
    assert_problem(post(vault, "srv-garbage", metadata(), b"GIF89a"), 422, "pdf-invalid")


def test_bad_metadata_is_422_with_field_errors(vault: VaultProcess, pdf: bytes) -> None:
    meta = metadata(type="lab-report", surprise=1)
    meta["patient"]["matricule"] = "123"
    body = assert_problem(post(vault, "srv-meta", meta, pdf), 422, "metadata-invalid")
    assert {e["field"] for e in body["errors"]} == {"type", "surprise", "patient.matricule"}
    assert all(e["message"] for e in body["errors"])


def test_metadata_that_is_not_json_is_422(vault: VaultProcess, pdf: bytes) -> None:
    files = {
        "metadata": (None, b"{not json", "application/json"),
        "file": ("doc.pdf", pdf, "application/pdf"),
    }
    r = httpx.post(f"{vault.base_url}/v1/documents", headers=auth(vault, "k"), files=files)
    body = assert_problem(r, 422, "metadata-invalid")
    assert body["errors"][0]["field"] == "metadata"


@pytest.mark.parametrize("key", [None, "", "has space", "x" * 129])
def test_bad_idempotency_key_is_400(vault: VaultProcess, pdf: bytes, key: str | None) -> None:
    headers = auth(vault)
    if key is not None:
        headers["Idempotency-Key"] = key
    r = httpx.post(f"{vault.base_url}/v1/documents", headers=headers, files=form(metadata(), pdf))
    assert_problem(r, 400, "idempotency-key-invalid")


@pytest.mark.parametrize("file_first", [False, True])
@pytest.mark.parametrize("filename", ["doc.pdf", None])
def test_parts_in_either_order_with_or_without_a_filename(
    vault: VaultProcess, pdf: bytes, file_first: bool, filename: str | None
) -> None:
    """The order of the parts and a missing ``filename`` are the client's choice (RFC 7578)."""
    key = f"order-{int(file_first)}-{int(filename is not None)}"
    meta = metadata(f"order-{key}")
    parts = [
        ("metadata", (None, json.dumps(meta).encode(), "application/json")),
        ("file", (filename, pdf, "application/pdf")),
    ]
    if file_first:
        parts.reverse()
    r = httpx.post(
        f"{vault.base_url}/v1/documents", headers=auth(vault, key), files=parts, timeout=30
    )
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(pdf).hexdigest()
    stored = httpx.get(
        f"{vault.base_url}/v1/documents/{r.json()['vault_document_id']}", headers=auth(vault)
    )
    assert stored.json()["size"] == len(pdf)


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        (["metadata", "file", "extra"], "Only the parts"),
        (["metadata", "file", "file"], "more than once"),
        (["metadata", "metadata", "file"], "more than once"),
    ],
)
def test_other_or_repeated_parts_are_400(
    vault: VaultProcess, pdf: bytes, parts: list[str], words: str
) -> None:
    meta = json.dumps(metadata("parts-x")).encode()
    values = {
        "metadata": (None, meta, "application/json"),
        "file": ("doc.pdf", pdf, "application/pdf"),
        "extra": (None, b"x", "text/plain"),
    }
    r = httpx.post(
        f"{vault.base_url}/v1/documents",
        headers=auth(vault, "parts-x"),
        files=[(name, values[name]) for name in parts],
    )
    body = assert_problem(r, 400, "request-invalid")
    assert words in body["detail"]


def test_missing_file_part_is_400(vault: VaultProcess) -> None:
    r = httpx.post(
        f"{vault.base_url}/v1/documents",
        headers=auth(vault, "k"),
        files={"metadata": (None, json.dumps(metadata()).encode(), "application/json")},
    )
    body = assert_problem(r, 400, "request-invalid")
    assert body["errors"][0]["field"] == "file"


def test_over_limit_upload_is_413_with_and_without_content_length(
    vault: VaultProcess, pdf: bytes, tmp_path: Path
) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(pdf + b"\0" * (3 * 1024 * 1024))  # the server allows 1 MiB
    with big.open("rb") as fh:
        files: dict[str, Any] = {
            "metadata": (None, json.dumps(metadata()).encode(), "application/json"),
            "file": ("big.pdf", fh, "application/pdf"),
        }
        r = httpx.post(
            f"{vault.base_url}/v1/documents", headers=auth(vault, "big-1"), files=files, timeout=30
        )
    assert_problem(r, 413, "too-large")

    # Chunked (no Content-Length): the limit is enforced while reading.
    request = httpx.Request("POST", "http://x", files=form(metadata(), big.read_bytes()))
    body, content_type = request.read(), request.headers["content-type"]

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(body), 64 * 1024):
            yield body[at : at + 64 * 1024]

    r = httpx.post(
        f"{vault.base_url}/v1/documents",
        headers={**auth(vault, "big-2"), "Content-Type": content_type},
        content=chunks(),
        timeout=30,
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "too-large")
    assert documents_with_key(vault, "big-1") + documents_with_key(vault, "big-2") == 0


def test_concurrent_duplicate_posts_make_one_record(vault: VaultProcess, pdf: bytes) -> None:
    meta = metadata("srv-concurrent")

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=vault.base_url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/documents", headers=auth(vault, "srv-dup"), files=form(meta, pdf)
                    )
                    for _ in range(10)
                )
            )

    responses = asyncio.run(run())
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [201]
    assert len({r.json()["vault_document_id"] for r in responses}) == 1
    assert documents_with_key(vault, "srv-dup") == 1


# -- patients -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matricule", "status"), [(RED, "red"), (BLUE, "blue"), (MATRICULE, "green")]
)
def test_digital_status_from_the_patients_file(
    vault: VaultProcess, matricule: str, status: str
) -> None:
    r = httpx.get(f"{vault.base_url}/v1/patients/{matricule}/digital-status", headers=auth(vault))
    assert r.status_code == 200
    assert r.json() == {"matricule": matricule, "status": status}


def test_malformed_matricule_is_400(vault: VaultProcess) -> None:
    r = httpx.get(f"{vault.base_url}/v1/patients/12345/digital-status", headers=auth(vault))
    assert_problem(r, 400, "query-invalid")


def test_opted_out_patient_is_refused(vault: VaultProcess, pdf: bytes) -> None:
    r = post(vault, "srv-red", metadata("srv-red", matricule=RED), pdf)
    body = assert_problem(r, 422, "patient-opted-out")
    assert RED not in body["detail"]
    assert documents_with_key(vault, "srv-red") == 0


def test_access_log_does_not_hold_matricules(vault: VaultProcess) -> None:
    httpx.get(f"{vault.base_url}/v1/patients/{RED}/digital-status", headers=auth(vault))
    deadline = time.monotonic() + 5
    while "/v1/patients/{matricule}/digital-status" not in vault.log():
        assert time.monotonic() < deadline, vault.log()
        time.sleep(0.05)
    assert RED not in vault.log() and MATRICULE not in vault.log()


# -- billing --------------------------------------------------------------------------------------


def test_billing_activity_lists_this_quarters_fees(vault: VaultProcess, pdf: bytes) -> None:
    provider = "55501234"
    for n, doc_type in enumerate(["invoice", "prescription"]):
        r = post(vault, f"bill-{n}", metadata(f"bill-{n}", doc_type, provider_code=provider), pdf)
        assert r.status_code == 201
    quarter = quarter_of(datetime.now(UTC))
    r = httpx.get(
        f"{vault.base_url}/v1/billing/activity",
        params={"quarter": quarter, "provider_code": provider},
        headers=auth(vault),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["quarter"] == quarter and body["provider_code"] == provider
    assert body["total"] == "0.50" and body["currency"] == "EUR"
    assert [(x["type"], x["amount"]) for x in body["records"]] == [
        ("invoice", "0.30"),
        ("prescription", "0.20"),
    ]


@pytest.mark.parametrize(
    "params",
    [{"quarter": "2026Q5", "provider_code": PROVIDER}, {"quarter": "2026-4"}, {}],
)
def test_bad_billing_query_is_400(vault: VaultProcess, params: dict[str, str]) -> None:
    r = httpx.get(f"{vault.base_url}/v1/billing/activity", params=params, headers=auth(vault))
    body = assert_problem(r, 400, "query-invalid")
    assert "quarter" in {e["field"] for e in body["errors"]}


def test_unknown_route_is_a_problem_404(vault: VaultProcess) -> None:
    assert_problem(httpx.get(f"{vault.base_url}/v2/nothing"), 404, "not-found")
    assert_problem(httpx.delete(f"{vault.base_url}/v1/health"), 405, "method-not-allowed")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/health", {"GET", "HEAD"}),
        ("PUT", "/v1/documents", {"POST"}),
        ("POST", f"/v1/documents/vd_{'0' * 32}", {"GET", "HEAD"}),
        ("PATCH", "/v1/token", {"GET", "HEAD"}),
    ],
)
def test_405_names_the_allowed_methods(
    vault: VaultProcess, method: str, path: str, allowed: set[str]
) -> None:
    """RFC 9110 section 15.5.6: a 405 answer carries Allow."""
    r = httpx.request(method, f"{vault.base_url}{path}", headers=auth(vault))
    assert_problem(r, 405, "method-not-allowed")
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


# -- TLS ------------------------------------------------------------------------------------------


def test_tls_with_the_throwaway_ca(tls_vault: VaultProcess, tls: TlsFiles, pdf: bytes) -> None:
    assert tls_vault.base_url.startswith("https://")

    async def run() -> None:
        client = VaultClient(tls_vault.base_url, tls_vault.token, ca_bundle=str(tls.ca_bundle))
        try:
            assert (await client.health())["status"] == "ok"
            delivery = await client.upload(
                metadata("tls-1"), _write(pdf, tls.cert.parent / "tls.pdf"), "tls-key"
            )
            assert delivery.sha256 == hashlib.sha256(pdf).hexdigest()
            assert not delivery.replayed
        finally:
            await client.aclose()

        untrusting = VaultClient(tls_vault.base_url, tls_vault.token)  # public roots only
        try:
            with pytest.raises(VaultHeld) as info:
                await untrusting.health()
            assert info.value.code == "vault-tls"
            assert "certificate not trusted" in info.value.message
        finally:
            await untrusting.aclose()

    asyncio.run(run())
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_vault.base_url}/v1/health")
    ctx = ssl.create_default_context(cafile=str(tls.ca_bundle))
    assert httpx.get(f"{tls_vault.base_url}/v1/health", verify=ctx).status_code == 200


def test_plain_http_to_the_tls_port_fails(tls_vault: VaultProcess) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls_vault.base_url.replace("https://", "http://") + "/v1/health")


def _write(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path


# -- process lifecycle ----------------------------------------------------------------------------


def test_sigterm_stops_the_server_with_exit_code_0(tmp_path: Path) -> None:
    with running_vault(tmp_path) as vp:
        assert vp.stop() == 0
        assert "Traceback" not in vp.log()


def refusal(
    tmp_path: Path, *extra: str, tokens: str | None = "t0ken 90812100\n"
) -> tuple[int, str]:
    args = ["--data", str(tmp_path / "d"), "--port", "1", "--token-file", str(tmp_path / "tok")]
    if tokens is not None:
        (tmp_path / "tok").write_text(tokens, "utf-8")
    done = subprocess.run(
        server_command(*args, *extra),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=30,
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("tokens", "extra", "reason"),
    [
        (None, [], "does not exist"),
        ("# only a comment\n\n   \n", [], "holds no token"),
        ("t0ken 90812100\n", ["--tls-cert", "/nonexistent/c.pem"], "must be given together"),
        (
            "t0ken 90812100\n",
            ["--tls-cert", "/nonexistent/c", "--tls-key", "/nonexistent/k"],
            "TLS",
        ),
        ("t0ken 90812100\n", ["--patients", "/nonexistent/p.yaml"], "patients file"),
    ],
)
def test_bad_startup_input_exits_2_with_one_line(
    tmp_path: Path, tokens: str | None, extra: list[str], reason: str
) -> None:
    code, stderr = refusal(tmp_path, *extra, tokens=tokens)
    assert code == 2
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and reason in stderr


def vault_cmd(*args: str) -> list[str]:
    """The ``econnector-vault`` console script the vault's pyproject installs."""
    script = Path(sys.executable).parent / "econnector-vault"
    assert script.exists(), "pip install -e ./vault installs the econnector-vault command"
    return [str(script), *args]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda *a: econnector_cmd("vault", "serve", *a), id="econnector vault serve"),
        pytest.param(lambda *a: vault_cmd("serve", *a), id="econnector-vault serve"),
    ],
)
def test_port_in_use_exits_2_with_one_line(
    tmp_path: Path, command: Callable[..., list[str]]
) -> None:
    """Either command on a taken port: exit 2 and one line, not uvicorn's exit 3."""
    (tmp_path / "tok").write_text("t0ken 90812100\n", "utf-8")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            command(
                "--data", str(tmp_path / "d"), "--host", "127.0.0.1",
                "--port", str(port), "--token-file", str(tmp_path / "tok"),
            ),
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"econnector vault: port {port} on 127.0.0.1 is already in use"
    ]


@pytest.mark.parametrize(
    ("args", "code", "stream", "expected"),
    [
        (["--help"], 0, "stdout", "usage: econnector-vault serve"),
        (["--version"], 0, "stdout", f"econnector-vault {econnector_vault.__version__}"),
        (["serve", "--help"], 0, "stdout", "usage: econnector-vault serve [-h] --data DATA"),
        ([], 2, "stderr", "usage: econnector-vault serve"),
        (["run"], 2, "stderr", "econnector-vault: unknown command 'run'"),
    ],
)
def test_econnector_vault_command(args: list[str], code: int, stream: str, expected: str) -> None:
    done = subprocess.run(
        vault_cmd(*args), capture_output=True, text=True, env=subprocess_env(), timeout=60
    )
    assert done.returncode == code, done.stderr
    assert expected in getattr(done, stream)
    assert "Traceback" not in done.stderr
