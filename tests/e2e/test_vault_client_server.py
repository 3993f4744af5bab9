"""VaultClient against the real vault server process, over HTTP and TLS on loopback, and
against servers that are down or never answer.

The ``make_client`` cases run twice, ``[local]`` (the in-process vault of ``kind: local``)
and ``[http]`` (the real server): one behaviour, both kinds."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from econnector.errors import (
    FileBusy,
    Held,
    PatientOptedOut,
    SignatureHeld,
    VaultRejected,
    VaultUnavailable,
)
from econnector.vault_client import Delivery, VaultClient, idempotency_key
from econnector.vault_transport import LOCAL_TOKEN, local_transport
from econnector_testsupport.vault import (
    MATRICULE,
    PROVIDER,
    VaultProcess,
    free_port,
    make_tls,
    metadata,
    running_vault,
    signed_pdf,
)

RED = "1990010112345"
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("client-vault"), patients={RED: "red"}) as vp:
        yield vp


Factory = Callable[..., VaultClient]


@pytest.fixture(params=["local", "http"])
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Builds clients of the local kind (in process) and of the real server over HTTP:
    the same cases must end the same way through both.

    Use them as ``async with`` inside one ``asyncio.run`` (connections are per loop).
    """
    if request.param == "local":
        def factory(token: str | None = None) -> VaultClient:
            return VaultClient("http://vault.local", token or LOCAL_TOKEN,
                               transport=local_transport(tmp_path / "local-vault", [PROVIDER]))
    else:
        server: VaultProcess = request.getfixturevalue("server")

        def factory(token: str | None = None) -> VaultClient:
            return VaultClient(server.base_url, token or server.token)

    yield factory


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def upload_with(client: VaultClient, meta: Any, path: Path, key: str) -> Delivery:
    async with client:
        return await client.upload(meta, path, key)


async def health_with(client: VaultClient) -> dict[str, Any]:
    async with client:
        return await client.health()


def key_for(document_id: str) -> str:
    return idempotency_key(PROVIDER, document_id)


# -- the happy path, in process and over HTTP ----------------------------------------


def test_upload_then_replay(make_client: Factory, pdf_files: dict[str, Path]) -> None:
    async def scenario() -> tuple[Delivery, Delivery]:
        async with make_client() as client:
            meta = metadata("cl-1")
            first = await client.upload(meta, pdf_files["signed"], key_for("cl-1"))
            second = await client.upload(meta, pdf_files["signed"], key_for("cl-1"))
            return first, second

    first, second = run(scenario())
    assert not first.replayed and second.replayed
    assert first.vault_document_id == second.vault_document_id
    assert first.vault_document_id.startswith("vd_")
    assert first.sha256 == hashlib.sha256(pdf_files["signed"].read_bytes()).hexdigest()
    assert (first.fee_amount, first.fee_currency) == ("0.30", "EUR")
    assert first.received_at == second.received_at
    datetime.fromisoformat(first.received_at)


def test_health_and_digital_status(make_client: Factory) -> None:
    async def scenario() -> tuple[dict[str, Any], str]:
        async with make_client() as client:
            return await client.health(), await client.digital_status(MATRICULE)

    health, status = run(scenario())
    assert health["status"] == "ok"
    assert status == "green"


# -- error mapping, in process and over HTTP -----------------------------------------


def test_wrong_token_is_held(make_client: Factory, pdf_files: dict[str, Path]) -> None:
    async def scenario() -> list[Held]:
        caught = []
        async with make_client(token="not-the-token") as client:
            for call in (
                client.upload(metadata("cl-401"), pdf_files["signed"], key_for("cl-401")),
                client.digital_status(MATRICULE),
            ):
                with pytest.raises(Held) as info:
                    await call
                caught.append(info.value)
        return caught

    for held in run(scenario()):
        assert held.code == "vault-unauthorized" and held.params["status"] == 401


def test_an_unsigned_pdf_is_a_signature_the_vault_refuses(
    make_client: Factory, pdf_files: dict[str, Path]
) -> None:
    """422 signature-invalid is never the document's fault (econnector signs every
    document): the client says so with a hold, naming the vault's reason as a phrase."""
    with pytest.raises(SignatureHeld) as info:
        run(upload_with(make_client(), metadata("cl-422"), pdf_files["unsigned"],
                        key_for("cl-422")))
    err = info.value
    assert err.code == "signature-invalid" and err.params["status"] == 422
    assert err.params["defect"] == "the signature is missing"
    assert "signature" in err.message


def test_bad_metadata_detail_names_fields_without_the_matricule(
    make_client: Factory, pdf_files: dict[str, Path]
) -> None:
    meta = metadata("cl-meta", type="lab-report")
    meta["patient"]["insurer"] = "AXA"
    with pytest.raises(VaultRejected) as info:
        run(upload_with(make_client(), meta, pdf_files["signed"], key_for("cl-meta")))
    err = info.value
    assert err.params["vault_code"] == "metadata-invalid"
    assert "type" in err.params["detail"] and "patient.insurer" in err.params["detail"]
    assert MATRICULE not in str(err) and MATRICULE not in err.message


def test_conflict_is_rejected_as_vault_conflict(
    make_client: Factory, pdf_files: dict[str, Path]
) -> None:
    async def scenario() -> None:
        async with make_client() as client:
            await client.upload(metadata("cl-409"), pdf_files["signed"], key_for("cl-409"))
            await client.upload(metadata("cl-409"), pdf_files["other"], key_for("cl-409"))

    with pytest.raises(VaultRejected) as info:
        run(scenario())
    assert info.value.code == "vault-conflict"


def test_bad_idempotency_key_is_rejected(make_client: Factory, pdf_files: dict[str, Path]) -> None:
    with pytest.raises(VaultRejected) as info:
        run(upload_with(make_client(), metadata(), pdf_files["signed"], "no spaces allowed"))
    assert info.value.params["status"] == 400
    assert info.value.params["vault_code"] == "idempotency-key-invalid"


def test_missing_pdf_is_file_busy_not_a_vault_error(make_client: Factory, tmp_path: Path) -> None:
    with pytest.raises(FileBusy):
        run(upload_with(make_client(), metadata(), tmp_path / "gone.pdf", key_for("gone")))


# -- error mapping against the real server only ----------------------------------------------------


def test_opted_out_patient_is_its_own_outcome(
    server: VaultProcess, pdf_files: dict[str, Path]
) -> None:
    """Not a rejection to correct and resend: the patient chose paper."""

    async def scenario() -> None:
        async with VaultClient(server.base_url, server.token) as client:
            assert await client.digital_status(RED) == "red"
            await client.upload(metadata("cl-red", matricule=RED), pdf_files["signed"],
                                key_for("r"))

    with pytest.raises(PatientOptedOut) as info:
        run(scenario())
    assert not isinstance(info.value, VaultRejected)
    assert info.value.code == "patient-opted-out"
    assert info.value.params["vault_code"] == "patient-opted-out"
    assert RED not in str(info.value)


def test_server_not_running_is_unavailable(pdf_files: dict[str, Path]) -> None:
    client = VaultClient(f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(VaultUnavailable) as info:
        run(upload_with(client, metadata(), pdf_files["signed"], key_for("down")))
    assert info.value.code == "vault-unavailable"
    assert "ConnectError" in info.value.message
    assert info.value.retry_after is None


def test_a_server_that_never_answers_times_out_as_unavailable() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = VaultClient(f"http://127.0.0.1:{port}", "t", timeout=httpx.Timeout(0.3, connect=1.0))
    try:
        with pytest.raises(VaultUnavailable) as info:
            run(health_with(client))
        assert "timeout" in info.value.message
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_upload_streams_the_file(server: VaultProcess, tmp_path: Path) -> None:
    """A 24 MiB upload must not be held in the client's memory."""
    big = tmp_path / "big.pdf"
    with big.open("wb") as fh:
        fh.write(signed_pdf("big"))
        chunk = b"%" + b"0" * (1024 * 1024 - 2) + b"\n"
        for _ in range(24):
            fh.write(chunk)
    client = VaultClient(server.base_url, server.token)
    tracemalloc.start()
    try:
        with pytest.raises(VaultRejected) as info:  # bytes after the signature: refused
            run(upload_with(client, metadata("big"), big, key_for("big")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Megabytes of bytes after the signature: refused either way, after the full upload.
    assert info.value.params["vault_code"] in {"signature-invalid", "pdf-invalid"}
    assert peak < 8 * 1024 * 1024, peak


# -- TLS verification failures are a misconfiguration (held), not an outage ------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    folder = tmp_path_factory.mktemp("client-tls-vault")
    with running_vault(folder, tls=make_tls(folder / "tls")) as vp:
        yield vp


@pytest.mark.parametrize(
    ("host", "trusted", "detail"),
    [
        ("127.0.0.1", False, "certificate not trusted (check vault.ca_bundle)"),
        # 127.0.0.1 as one number: the same server under a name the certificate does
        # not carry, resolved without /etc/hosts
        ("2130706433", True, "host name mismatch"),
    ],
)
def test_untrusted_vault_certificate_holds_with_vault_tls(
    tls_server: VaultProcess, pdf_files: dict[str, Path], tmp_path: Path,
    host: str, trusted: bool, detail: str,
) -> None:
    assert tls_server.ca_bundle is not None
    bundle = tls_server.ca_bundle if trusted else make_tls(tmp_path / "other").ca_bundle
    url = tls_server.base_url.replace("127.0.0.1", host)
    client = VaultClient(url, tls_server.token, ca_bundle=str(bundle))
    with pytest.raises(Held) as info:
        run(upload_with(client, metadata("tls-held"), pdf_files["signed"], key_for("tls-held")))
    assert info.value.code == "vault-tls"
    assert detail in info.value.params["detail"]
    assert detail in info.value.message


def test_the_right_ca_bundle_delivers(tls_server: VaultProcess, pdf_files: dict[str, Path]) -> None:
    client = VaultClient(tls_server.base_url, tls_server.token, ca_bundle=str(tls_server.ca_bundle))
    delivery = run(upload_with(client, metadata("tls-ok"), pdf_files["signed"], key_for("tls-ok")))
    assert not delivery.replayed
