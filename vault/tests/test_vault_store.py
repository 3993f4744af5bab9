"""VaultStore against real files, real SQLite and real pyHanko-signed PDFs."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from econnector_testsupport.vault import (
    MATRICULE,
    PROVIDER,
    add_document_timestamp,
    metadata,
    sign_pdf,
    signed_pdf,
    signing_identity,
    unsigned_pdf,
)
from econnector_vault.billing import REFERENCE_FEES, parse_quarter, quarter_of
from econnector_vault.errors import StoreError
from econnector_vault.metadata import validate_metadata
from econnector_vault.signatures import signature_problem
from econnector_vault.store import VaultStore


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return signed_pdf("Invoice A")


@pytest.fixture(scope="module")
def other_pdf() -> bytes:
    return signed_pdf("Invoice B")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = VaultStore(tmp_path / "vault")
    yield s
    s.close()


def leftovers(store: VaultStore) -> list[Path]:
    return [p for p in store.documents_dir.rglob("*") if p.is_file() and p.suffix != ".pdf"]


def pdf_files(store: VaultStore) -> list[Path]:
    return sorted(store.documents_dir.rglob("*.pdf"))


def fee_rows(store: VaultStore) -> int:
    with sqlite3.connect(store.db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM fees").fetchone()[0])


def refusal(fn: Any, *args: Any, **kwargs: Any) -> StoreError:
    with pytest.raises(StoreError) as info:
        fn(*args, **kwargs)
    return info.value


# -- idempotency ----------------------------------------------------------------------------------


def test_first_submit_stores_and_bills_replay_returns_same_receipt(
    store: VaultStore, pdf: bytes, other_pdf: bytes
) -> None:
    first = store.submit(metadata(), io.BytesIO(pdf), "key-1")
    assert not first.replayed
    assert first.vault_document_id.startswith("vd_")
    assert first.sha256 == hashlib.sha256(pdf).hexdigest()
    assert (first.fee_amount, first.fee_currency) == ("0.30", "EUR")
    assert first.received_at.endswith("Z")

    again = store.submit(metadata(), io.BytesIO(pdf), "key-1")
    assert again.replayed
    assert again.as_json() == first.as_json()

    conflict = refusal(store.submit, metadata(), io.BytesIO(other_pdf), "key-1")
    assert (conflict.status, conflict.code) == (409, "idempotency-conflict")

    assert store.count_documents() == 1
    assert fee_rows(store) == 1
    assert len(pdf_files(store)) == 1
    assert leftovers(store) == []


def test_receipts_survive_reopening_the_store(tmp_path: Path, pdf: bytes) -> None:
    first_store = VaultStore(tmp_path / "v")
    first = first_store.submit(metadata(), io.BytesIO(pdf), "key-1")
    first_store.close()
    reopened = VaultStore(tmp_path / "v")
    try:
        replay = reopened.submit(metadata(), io.BytesIO(pdf), "key-1")
        assert replay.replayed and replay.vault_document_id == first.vault_document_id
    finally:
        reopened.close()


@pytest.mark.parametrize("key", ["", "a b", "x" * 129, "ключ", "a/b"])
def test_malformed_idempotency_key_is_refused(store: VaultStore, pdf: bytes, key: str) -> None:
    err = refusal(store.submit, metadata(), io.BytesIO(pdf), key)
    assert (err.status, err.code) == (400, "idempotency-key-invalid")


def test_concurrent_duplicates_from_threads_make_exactly_one_record(
    store: VaultStore, pdf: bytes
) -> None:
    n = 12
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.submit(metadata(), io.BytesIO(pdf), "same-key")
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert len({r.vault_document_id for r in results}) == 1
    assert store.count_documents() == 1
    assert fee_rows(store) == 1
    assert len(pdf_files(store)) == 1
    assert leftovers(store) == []


def test_concurrent_same_key_with_different_bytes_one_wins_rest_conflict(
    store: VaultStore, pdf: bytes, other_pdf: bytes
) -> None:
    n = 8
    barrier = threading.Barrier(n)
    outcomes: list[Any] = [None] * n

    def worker(i: int) -> None:
        data = pdf if i % 2 else other_pdf
        barrier.wait()
        try:
            outcomes[i] = store.submit(metadata(), io.BytesIO(data), "contested")
        except StoreError as exc:
            outcomes[i] = exc.code

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    receipts = [o for o in outcomes if not isinstance(o, str)]
    conflicts = [o for o in outcomes if o == "idempotency-conflict"]
    assert len(receipts) + len(conflicts) == n
    assert len({r.sha256 for r in receipts}) == 1
    assert sum(not r.replayed for r in receipts) == 1
    assert len(conflicts) == n // 2
    assert store.count_documents() == 1 and fee_rows(store) == 1
    assert len(pdf_files(store)) == 1


# -- signatures and PDFs --------------------------------------------------------------------------


def test_unsigned_pdf_is_refused_and_leaves_nothing(store: VaultStore) -> None:
    err = refusal(store.submit, metadata(), io.BytesIO(unsigned_pdf()), "k")
    assert (err.status, err.code) == (422, "signature-invalid")
    assert "no embedded signature" in err.detail
    assert store.count_documents() == 0
    assert pdf_files(store) == [] and leftovers(store) == []


def test_bytes_appended_after_signature_are_refused(store: VaultStore, pdf: bytes) -> None:
    err = refusal(store.submit, metadata(), io.BytesIO(pdf + b"\n% appended\n"), "k")
    assert (err.status, err.code) == (422, "signature-invalid")
    assert "whole file" in err.detail
    assert store.count_documents() == 0 and pdf_files(store) == []


def test_modified_signed_bytes_are_refused(store: VaultStore, pdf: bytes) -> None:
    tampered = bytearray(pdf)
    at = tampered.index(b"595.28")  # the page size, inside the signed byte range
    tampered[at + 5] = ord("9")
    err = refusal(store.submit, metadata(), io.BytesIO(bytes(tampered)), "k")
    assert (err.status, err.code) == (422, "signature-invalid")
    assert "modified" in err.detail


def test_document_timestamp_after_the_signature_is_accepted(store: VaultStore, pdf: bytes) -> None:
    """PAdES B-LTA ends with a document timestamp; the check looks underneath it."""
    lta = add_document_timestamp(pdf)
    assert not store.submit(metadata(), io.BytesIO(lta), "lta").replayed
    err = refusal(store.submit, metadata(), io.BytesIO(lta + b"\n%x\n"), "lta-2")
    assert err.code == "signature-invalid" and "whole file" in err.detail
    only_ts = add_document_timestamp(unsigned_pdf())
    err = refusal(store.submit, metadata(), io.BytesIO(only_ts), "lta-3")
    assert err.code == "signature-invalid" and "only document timestamps" in err.detail


@pytest.mark.parametrize("data", [b"", b"hello, not a pdf", b"%PDF-1.7\n garbage"])
def test_unparseable_pdf_is_pdf_invalid(store: VaultStore, data: bytes) -> None:
    err = refusal(store.submit, metadata(), io.BytesIO(data), "k")
    assert (err.status, err.code) == (422, "pdf-invalid")
    assert store.count_documents() == 0 and leftovers(store) == []


def test_trust_roots_when_configured_require_a_chain(tmp_path: Path) -> None:
    identity = signing_identity("Dr Trusted")
    data = sign_pdf(unsigned_pdf(), identity)
    root = asn1_x509.Certificate.load(identity.cert.public_bytes(serialization.Encoding.DER))
    stranger = signing_identity("Somebody Else").cert.public_bytes(serialization.Encoding.DER)

    strict = VaultStore(tmp_path / "a", trust_roots=[asn1_x509.Certificate.load(stranger)])
    try:
        err = refusal(strict.submit, metadata(), io.BytesIO(data), "k")
        assert err.code == "signature-invalid" and "trusted root" in err.detail
    finally:
        strict.close()
    trusting = VaultStore(tmp_path / "b", trust_roots=[root])
    try:
        assert not trusting.submit(metadata(), io.BytesIO(data), "k").replayed
    finally:
        trusting.close()


def test_too_large_document_is_refused_while_copying(tmp_path: Path, pdf: bytes) -> None:
    small = VaultStore(tmp_path / "v", max_document_bytes=len(pdf) - 1)
    try:
        err = refusal(small.submit, metadata(), io.BytesIO(pdf), "k")
        assert (err.status, err.code) == (413, "too-large")
        assert pdf_files(small) == [] and leftovers(small) == []
        exact = VaultStore(tmp_path / "w", max_document_bytes=len(pdf))
        try:
            assert not exact.submit(metadata(), io.BytesIO(pdf), "k").replayed
        finally:
            exact.close()
    finally:
        small.close()


# -- placement ------------------------------------------------------------------------------------


def test_file_is_placed_atomically_under_its_shard(store: VaultStore, pdf: bytes) -> None:
    receipt = store.submit(metadata(), io.BytesIO(pdf), "key-1")
    vid = receipt.vault_document_id
    expected = store.data_dir / "documents" / vid[3:5] / f"{vid}.pdf"
    assert pdf_files(store) == [expected]
    assert expected.read_bytes() == pdf
    assert leftovers(store) == []  # no temp files once placed

    doc = store.get(vid)
    assert doc is not None
    assert doc.path == expected and doc.size == len(pdf) and doc.sha256 == receipt.sha256
    assert doc.metadata == metadata()
    body = doc.as_json()
    assert body["state"] == "stored" and body["fee"] == {"amount": "0.30", "currency": "EUR"}
    assert store.get("vd_" + "0" * 32) is None
    assert store.get("../etc/passwd") is None


# -- patients -------------------------------------------------------------------------------------


def test_opted_out_patient_is_refused_but_replays_still_succeed(
    store: VaultStore, pdf: bytes
) -> None:
    first = store.submit(metadata(), io.BytesIO(pdf), "key-1")
    replay = store.submit(metadata(), io.BytesIO(pdf), "key-1", patient_opted_out=True)
    assert replay.replayed and replay.vault_document_id == first.vault_document_id
    err = refusal(store.submit, metadata(), io.BytesIO(pdf), "key-2", patient_opted_out=True)
    assert (err.status, err.code) == (422, "patient-opted-out")
    assert MATRICULE not in err.detail
    assert store.count_documents() == 1


# -- fees and billing -----------------------------------------------------------------------------


def test_fee_records_and_billing_by_quarter(store: VaultStore, pdf: bytes) -> None:
    other = "12345678"
    for n, doc_type in enumerate(["invoice", "prescription", "certificate"]):
        store.submit(metadata(f"d{n}", doc_type), io.BytesIO(pdf), f"a-{n}")
    store.submit(
        metadata("d9", "sick-leave-certificate", provider_code=other), io.BytesIO(pdf), "b"
    )
    store.submit(metadata("d0", "invoice"), io.BytesIO(pdf), "a-0")  # replay: no new fee

    quarter = quarter_of(datetime.now(UTC))
    mine = store.billing_activity(quarter, PROVIDER).as_json()
    assert mine["quarter"] == quarter and mine["provider_code"] == PROVIDER
    assert [r["type"] for r in mine["records"]] == ["invoice", "prescription", "certificate"]
    assert [r["amount"] for r in mine["records"]] == ["0.30", "0.20", "0.20"]
    assert mine["total"] == "0.70" and mine["currency"] == "EUR"
    record = mine["records"][0]
    assert set(record) >= {"provider_code", "vault_document_id", "type", "amount", "recorded_at"}
    assert record["quarter"] == quarter

    theirs = store.billing_activity(quarter, other).as_json()
    assert theirs["total"] == "0.20" and len(theirs["records"]) == 1
    assert store.billing_activity("2001Q1", PROVIDER).as_json()["records"] == []
    assert store.billing_activity("2001Q1", PROVIDER).total == "0.00"
    with pytest.raises(ValueError):
        store.billing_activity("2026Q5", PROVIDER)


def test_reference_fee_schedule_values() -> None:
    assert {
        "invoice": Decimal("0.30"),
        "prescription": Decimal("0.20"),
        "certificate": Decimal("0.20"),
        "sick-leave-certificate": Decimal("0.20"),
    } == REFERENCE_FEES


@pytest.mark.parametrize(
    ("moment", "quarter"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), "2026Q1"),
        (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), "2026Q1"),
        (datetime(2026, 4, 1, tzinfo=UTC), "2026Q2"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026Q4"),
    ],
)
def test_quarter_of(moment: datetime, quarter: str) -> None:
    assert quarter_of(moment) == quarter


@pytest.mark.parametrize("value", ["2026Q0", "2026Q5", "26Q1", "2026q1", "1999Q4", "", None])
def test_parse_quarter_rejects(value: str | None) -> None:
    assert parse_quarter(value) is None


def test_signature_problem_decisions() -> None:
    assert signature_problem(True, True, True, None) is None
    assert signature_problem(True, True, True, True) is None
    assert "modified" in (signature_problem(False, True, True, None) or "")
    assert "verify" in (signature_problem(True, False, True, None) or "")
    assert "whole file" in (signature_problem(True, True, False, None) or "")
    assert "trusted" in (signature_problem(True, True, True, False) or "")


# -- metadata -------------------------------------------------------------------------------------


def fields_of(meta: Any) -> set[str]:
    return {e.field for e in validate_metadata(meta)}


def test_valid_metadata_has_no_errors() -> None:
    assert validate_metadata(metadata()) == []
    assert validate_metadata(metadata(doc_type="certificate")) == []
    vendor: dict[str, Any] = {"x-vendor": {"anything": [1, 2]}}
    assert validate_metadata(metadata(**vendor)) == []


def without(meta: dict[str, Any], *path: str) -> dict[str, Any]:
    target = meta
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return meta


def patched(meta: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = meta
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return meta


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (without(metadata(), "document_id"), {"document_id"}),
        (patched(metadata(), "a b", "document_id"), {"document_id"}),
        (patched(metadata(), "x" * 65, "document_id"), {"document_id"}),
        (patched(metadata(), "lab-report", "type"), {"type"}),
        (patched(metadata(), "2026-11-25T10:15:00", "issued_at"), {"issued_at"}),
        (patched(metadata(), "2026-11-25", "issued_at"), {"issued_at"}),
        (patched(metadata(), 1984123112345, "patient", "matricule"), {"patient.matricule"}),
        (patched(metadata(), "198412311234", "patient", "matricule"), {"patient.matricule"}),
        (patched(metadata(), "AXA", "patient", "insurer"), {"patient.insurer"}),
        (patched(metadata(), "", "patient", "last_name"), {"patient.last_name"}),
        (patched(metadata(), "x", "patient", "nickname"), {"patient.nickname"}),
        (without(metadata(), "patient", "insurer"), {"patient.insurer"}),
        (patched(metadata(), "list", "patient"), {"patient"}),
        (patched(metadata(), "9081210", "author", "provider_code"), {"author.provider_code"}),
        (patched(metadata(), "fr-LU", "language"), {"language"}),
        (patched(metadata(), "84,60", "invoice", "total"), {"invoice.total"}),
        (patched(metadata(), 84.6, "invoice", "total"), {"invoice.total"}),
        (patched(metadata(), "USD", "invoice", "currency"), {"invoice.currency"}),
        (patched(metadata(), "yes", "invoice", "paid"), {"invoice.paid"}),
        (without(metadata(), "invoice"), {"invoice"}),
        (
            metadata(
                doc_type="prescription", invoice={"total": "1", "currency": "EUR", "paid": True}
            ),
            {"invoice"},
        ),
        (patched(metadata(), "abc", "original_sha256"), {"original_sha256"}),
        (patched(metadata(), 1, "unknown_key"), {"unknown_key"}),
        ([], {"metadata"}),
    ],
)
def test_metadata_errors_name_the_fields(meta: Any, expected: set[str]) -> None:
    assert fields_of(meta) == expected


def test_metadata_errors_never_echo_values(store: VaultStore, pdf: bytes) -> None:
    bad = patched(metadata(), "AXA", "patient", "insurer")
    err = refusal(store.submit, bad, io.BytesIO(pdf), "k")
    assert (err.status, err.code) == (422, "metadata-invalid")
    assert [e.field for e in err.errors] == ["patient.insurer"]
    text = err.detail + " ".join(e.message for e in err.errors)
    assert MATRICULE not in text and "AXA" not in text
    assert store.count_documents() == 0 and pdf_files(store) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    meta=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(
                [*metadata().keys(), "x-a", "zzz"],
            ),
            json_values,
        ),
    )
)
def test_validate_metadata_is_total(meta: Any) -> None:
    """Any JSON value gets a verdict, never an exception; errors always name a field."""
    errors = validate_metadata(meta)
    assert all(e.field and e.message for e in errors)
    if not isinstance(meta, dict):
        assert [e.field for e in errors] == ["metadata"]
