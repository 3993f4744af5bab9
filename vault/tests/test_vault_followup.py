"""What happens after delivery, on the vault's side: the patient opens a document, a
patient's digital status changes while the vault runs.

The real server process on loopback, with the patient simulator (``--patient-simulator``)
and a ``--patients`` file the tests rewrite as an operator would.
"""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from econnector_testsupport.vault import (
    PROVIDER,
    VaultProcess,
    metadata,
    open_document,
    running_vault,
    server_command,
    set_digital_status,
    signed_pdf,
    subprocess_env,
    vault_digital_status,
    write_patients,
)
from econnector_vault.patients import PatientDirectory, PatientsFileError
from econnector_vault.store import VaultStore

OTHER_PROVIDER = "90812200"
TOKEN = "followup-token-0123456789"
OTHER_TOKEN = "other-practice-token-0123"
RED = "1990010112345"
BLUE = "1990010154321"
UNKNOWN_ID = "vd_" + "0" * 32


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return signed_pdf("follow-up test")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    """A vault with the simulator and a patients file; two practices, one token each."""
    folder = tmp_path_factory.mktemp("followup-vault")
    patients = write_patients(folder / "patients.yaml", {RED: "red", BLUE: "blue"})
    with running_vault(folder, token=TOKEN, tokens={TOKEN: [PROVIDER],
                                                    OTHER_TOKEN: [OTHER_PROVIDER]},
                       patient_simulator=True, patients_file=patients) as vp:
        yield vp


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    """A vault without the simulator."""
    with running_vault(tmp_path_factory.mktemp("plain-vault"), token=TOKEN,
                       tokens={TOKEN: [PROVIDER]}) as vp:
        yield vp


def headers(token: str, key: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


_counter = iter(range(1_000_000))


def upload(vp: VaultProcess, pdf: bytes, matricule: str = "1984123112345",
           token: str = TOKEN, provider: str = PROVIDER) -> httpx.Response:
    n = next(_counter)
    meta = metadata(f"fu-{n}", matricule=matricule, provider_code=provider)
    return httpx.post(
        f"{vp.base_url}/v1/documents",
        headers=headers(token, f"followup-key-{n:06d}-0123456789"),
        files={"metadata": (None, json.dumps(meta).encode(), "application/json"),
               "file": ("doc.pdf", pdf, "application/pdf")},
        timeout=30,
    )


def stored(vp: VaultProcess, pdf: bytes) -> str:
    r = upload(vp, pdf)
    assert r.status_code == 201, r.text
    return str(r.json()["vault_document_id"])


def get_document(vp: VaultProcess, vault_document_id: str, token: str = TOKEN) -> httpx.Response:
    return httpx.get(f"{vp.base_url}/v1/documents/{vault_document_id}",
                     headers=headers(token), timeout=10)


def post_open(vp: VaultProcess, vault_document_id: str, token: str | None = TOKEN
              ) -> httpx.Response:
    return httpx.post(f"{vp.base_url}/v1/simulator/documents/{vault_document_id}/open",
                      headers=headers(token) if token else {}, timeout=10)


def put_status(vp: VaultProcess, matricule: str, body: Any, token: str = TOKEN
               ) -> httpx.Response:
    return httpx.put(f"{vp.base_url}/v1/simulator/patients/{matricule}/digital-status",
                     headers=headers(token), json=body, timeout=10)


def assert_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``check()`` holds; the vault looks at its patients file at most once a second."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the vault did not pick up the change in time"
        time.sleep(0.1)


# -- opening a document ---------------------------------------------------------------------------


def test_the_simulator_does_not_exist_without_its_flag(plain: VaultProcess, pdf: bytes) -> None:
    vault_document_id = stored(plain, pdf)
    assert_problem(post_open(plain, vault_document_id), 404, "not-found")
    assert_problem(put_status(plain, RED, {"status": "red"}), 404, "not-found")
    doc = get_document(plain, vault_document_id)
    assert doc.status_code == 200 and doc.json()["opened_at"] is None
    assert "patient simulator" not in plain.log()


def test_a_document_is_unopened_until_the_patient_opens_it(sim: VaultProcess, pdf: bytes
                                                           ) -> None:
    vault_document_id = stored(sim, pdf)
    assert get_document(sim, vault_document_id).json()["opened_at"] is None

    r = post_open(sim, vault_document_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"vault_document_id", "opened_at"}
    assert body["vault_document_id"] == vault_document_id
    opened_at = body["opened_at"]
    assert opened_at.endswith("Z")
    received_at = get_document(sim, vault_document_id).json()["received_at"]
    assert received_at <= opened_at  # both RFC 3339 UTC with milliseconds

    doc = get_document(sim, vault_document_id).json()
    assert doc["opened_at"] == opened_at and doc["state"] == "stored"
    assert "patient simulator is enabled" in sim.log()


def test_opening_again_keeps_the_first_opening(sim: VaultProcess, pdf: bytes) -> None:
    vault_document_id = stored(sim, pdf)
    first = open_document(sim, vault_document_id)
    time.sleep(0.01)  # a second opening would get a later time
    again = post_open(sim, vault_document_id)
    assert again.status_code == 200 and again.json()["opened_at"] == first
    assert get_document(sim, vault_document_id).json()["opened_at"] == first


def test_the_opening_survives_a_restart(tmp_path: Path, pdf: bytes) -> None:
    """Kept in the vault's SQLite, not in the process."""
    with running_vault(tmp_path, token=TOKEN, tokens={TOKEN: [PROVIDER]},
                       patient_simulator=True) as vp:
        vault_document_id = stored(vp, pdf)
        opened_at = open_document(vp, vault_document_id)
    with running_vault(tmp_path, token=TOKEN, tokens={TOKEN: [PROVIDER]}) as vp:
        assert get_document(vp, vault_document_id).json()["opened_at"] == opened_at


def test_another_practice_can_neither_open_nor_see(sim: VaultProcess, pdf: bytes) -> None:
    vault_document_id = stored(sim, pdf)
    assert_problem(post_open(sim, vault_document_id, OTHER_TOKEN), 404, "not-found")
    assert_problem(get_document(sim, vault_document_id, OTHER_TOKEN), 404, "not-found")
    # The refused attempt opened nothing.
    assert get_document(sim, vault_document_id).json()["opened_at"] is None
    # An unknown id answers the same, and the simulator needs a token like the API.
    assert_problem(post_open(sim, UNKNOWN_ID), 404, "not-found")
    assert_problem(post_open(sim, "not-an-id"), 404, "not-found")
    assert_problem(post_open(sim, vault_document_id, token=None), 401, "unauthorized")
    assert get_document(sim, vault_document_id).json()["opened_at"] is None


# -- a digital status that changes while the vault runs -------------------------------------------


def test_a_status_changed_by_the_simulator_refuses_the_next_upload(sim: VaultProcess,
                                                                   pdf: bytes) -> None:
    matricule = "1970060612345"
    assert vault_digital_status(sim, matricule) == "green"
    assert upload(sim, pdf, matricule).status_code == 201

    set_digital_status(sim, matricule, "red")
    assert vault_digital_status(sim, matricule) == "red"
    assert_problem(upload(sim, pdf, matricule), 422, "patient-opted-out")

    set_digital_status(sim, matricule, "blue")
    assert vault_digital_status(sim, matricule) == "blue"
    assert upload(sim, pdf, matricule).status_code == 201


def test_the_simulator_refuses_a_bad_status_or_matricule(sim: VaultProcess) -> None:
    matricule = "1970060654321"
    assert_problem(put_status(sim, matricule, {"status": "purple"}), 400, "request-invalid")
    assert_problem(put_status(sim, matricule, ["red"]), 400, "request-invalid")
    bad_json = httpx.put(f"{sim.base_url}/v1/simulator/patients/{matricule}/digital-status",
                         headers={**headers(TOKEN), "Content-Type": "application/json"},
                         content=b"{not json", timeout=10)
    assert_problem(bad_json, 400, "request-invalid")
    assert_problem(put_status(sim, "12345", {"status": "red"}), 400, "query-invalid")
    assert vault_digital_status(sim, matricule) == "green"  # nothing changed


def test_an_edited_patients_file_is_read_again(sim: VaultProcess, pdf: bytes) -> None:
    """What an operator does: edit the --patients file; the vault follows within seconds,
    and a file that became invalid keeps the statuses it had."""
    assert sim.patients_file is not None
    newly_red = "1955020212345"
    assert vault_digital_status(sim, newly_red) == "green"
    assert vault_digital_status(sim, RED) == "red"

    write_patients(sim.patients_file, {RED: "green", BLUE: "blue", newly_red: "red"})
    eventually(lambda: vault_digital_status(sim, newly_red) == "red")
    assert vault_digital_status(sim, RED) == "green"
    assert_problem(upload(sim, pdf, newly_red), 422, "patient-opted-out")
    assert upload(sim, pdf, RED).status_code == 201

    sim.patients_file.write_text("not: [a mapping of matricules\n", "utf-8")
    time.sleep(2.5)  # more than the vault's look at the file (once a second)
    assert vault_digital_status(sim, newly_red) == "red"
    assert "patients-file-not-reloaded" in sim.log()
    assert newly_red not in sim.log()  # the log names no patient

    write_patients(sim.patients_file, {RED: "red", BLUE: "blue"})
    eventually(lambda: vault_digital_status(sim, newly_red) == "green")
    assert vault_digital_status(sim, RED) == "red"


def test_the_directory_looks_at_its_file_at_most_once_a_second(tmp_path: Path) -> None:
    """In process, with a clock the test moves: the throttle, a bad edit, a simulator change."""
    now = [100.0]
    path = write_patients(tmp_path / "patients.yaml", {RED: "red"})
    directory = PatientDirectory.from_file(path, monotonic=lambda: now[0])
    assert dict(directory) == {RED: "red"}

    write_patients(path, {BLUE: "blue"})
    now[0] += 0.5
    assert dict(directory) == {RED: "red"}  # not looked at yet
    now[0] += 0.6
    assert dict(directory) == {BLUE: "blue"}  # replaced whole

    directory.set(RED, "green")
    assert directory.get(RED) == "green" and directory.get(BLUE) == "blue"
    with pytest.raises(ValueError, match="unknown digital status"):
        directory.set(RED, "purple")

    path.write_text(f'"{RED}": purple\n', "utf-8")
    now[0] += 1.1
    assert dict(directory) == {RED: "green", BLUE: "blue"}  # the bad file is not applied
    path.unlink()
    now[0] += 1.1
    assert dict(directory) == {RED: "green", BLUE: "blue"}
    with pytest.raises(PatientsFileError, match="does not exist"):
        PatientDirectory.from_file(path)


def test_the_simulator_needs_a_loopback_host(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("t0ken 90812100\n", "utf-8")
    done = subprocess.run(
        server_command("--data", str(tmp_path / "d"), "--host", "0.0.0.0", "--port", "1",
                       "--token-file", str(tmp_path / "tok"), "--patient-simulator"),
        capture_output=True, text=True, env=subprocess_env(), timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "econnector vault: --patient-simulator needs a loopback --host "
        "(127.0.0.0/8, ::1 or localhost)"
    ]


# -- the database of an earlier version -----------------------------------------------------------


def test_a_database_without_opened_at_is_migrated(tmp_path: Path, pdf: bytes) -> None:
    """A vault.sqlite of schema 2 (no opened_at) opens, keeps its rows, and records openings."""
    store = VaultStore(tmp_path)
    receipt = store.submit(metadata("mig-1"), io.BytesIO(pdf), "migration-key-0123456789")
    store.close()
    with sqlite3.connect(tmp_path / "vault.sqlite") as conn:
        conn.execute("ALTER TABLE documents DROP COLUMN opened_at")
        conn.execute("PRAGMA user_version = 2")
    conn.close()

    store = VaultStore(tmp_path)
    try:
        doc = store.get(receipt.vault_document_id)
        assert doc is not None and doc.opened_at is None
        assert store.open_document(receipt.vault_document_id, {OTHER_PROVIDER}) is None
        opened = store.open_document(receipt.vault_document_id, {PROVIDER})
        assert opened is not None and opened.opened_at is not None
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "vault.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
