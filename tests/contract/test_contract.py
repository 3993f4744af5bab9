"""The folder contract v1: file names, sidecar parsing and validation, and its document."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econnector import contract, matricule
from econnector.contract import Kind, all_errors, classify, parse_sidecar
from econnector.contract.document import TOP_FIELDS
from econnector.errors import CATALOG, SidecarError
from econnector_testsupport.paths import DOCS

PROVIDERS = frozenset({"90812100"})
TODAY = date(2026, 12, 1)
DOC = DOCS / "folder-contract.md"
EXAMPLE: dict[str, Any] = yaml.safe_load(contract.example_sidecar())
MATRICULE = "1893120105732"

Outcome = tuple[str, str | None]


def parse(data: bytes | str, fmt: contract.Format = "yaml", **kw: Any) -> contract.DocumentMeta:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    kw.setdefault("providers", PROVIDERS)
    kw.setdefault("today", TODAY)
    return parse_sidecar(raw, fmt, **kw)


def outcome(data: bytes | str, fmt: contract.Format = "yaml", **kw: Any) -> Outcome:
    """("ok", canonical JSON) or (code, field): what a drop would get."""
    try:
        meta = parse(data, fmt, **kw)
    except SidecarError as e:
        return e.code, e.field
    return "ok", meta.canonical_json().decode()


def as_yaml(tree: Any, raw_unicode: bool = True) -> bytes:
    """YAML as a vendor's library would write it.

    PyYAML's emitter writes NEL and U+2028/U+2029 unescaped inside quoted
    scalars, where YAML folds them into spaces; property tests over arbitrary
    text therefore use ``raw_unicode=False`` (everything non-ASCII escaped).
    """
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=raw_unicode).encode("utf-8")


def as_json(tree: Any) -> bytes:
    return json.dumps(tree, ensure_ascii=False).encode("utf-8")


def example(**changes: Any) -> str:
    """The example YAML with ``old=new`` line replacements (keyword: the field name)."""
    text = contract.example_sidecar()
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^(\s*){key}:.*$", rf"\g<1>{key}: {value}", text)
        assert n == 1, key
    return text


# -- file names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "stem", "stem_ok", "fmt"),
    [
        ("2026-000123.pdf", Kind.PDF, "2026-000123", True, None),
        ("2026-000123.yaml", Kind.SIDECAR, "2026-000123", True, "yaml"),
        ("2026-000123.json", Kind.SIDECAR, "2026-000123", True, "json"),
        ("REPORT.PDF", Kind.PDF, "REPORT", True, None),
        ("Report.Pdf", Kind.PDF, "Report", True, None),
        ("a.YAML", Kind.SIDECAR, "a", True, "yaml"),
        ("2026-000123.yml", Kind.SIDECAR, "2026-000123", True, "yaml"),  # .yml is YAML too
        ("a.YML", Kind.SIDECAR, "a", True, "yaml"),
        ("a.Json", Kind.SIDECAR, "a", True, "json"),
        ("scan.v2.pdf", Kind.PDF, "scan.v2", True, None),
        ("a.pdf.pdf", Kind.PDF, "a.pdf", True, None),
        ("a_b-c.d.pdf", Kind.PDF, "a_b-c.d", True, None),
        ("9.pdf", Kind.PDF, "9", True, None),
        ("x" * 120 + ".pdf", Kind.PDF, "x" * 120, True, None),
        # bad stems keep their kind so the pipeline can answer them
        ("x" * 121 + ".pdf", Kind.PDF, "x" * 121, False, None),
        ("a b.pdf", Kind.PDF, "a b", False, None),
        ("facture-é.yaml", Kind.SIDECAR, "facture-é", False, "yaml"),
        ("_a.pdf", Kind.PDF, "_a", False, None),
        ("-a.json", Kind.SIDECAR, "-a", False, "json"),
        ("~a.pdf", Kind.PDF, "~a", False, None),
        ("a\nb.pdf", Kind.PDF, "a\nb", False, None),
        ("a$.pdf", Kind.PDF, "a$", False, None),
    ],
)
def test_classify(name: str, kind: Kind, stem: str, stem_ok: bool, fmt: str | None) -> None:
    got = classify(name)
    assert (got.kind, got.stem, got.stem_ok, got.fmt) == (kind, stem, stem_ok, fmt)
    assert got.ext == name.rsplit(".", 1)[1].lower()


@pytest.mark.parametrize(
    "name",
    [
        ".2026-000123.pdf",
        ".pdf",
        ".hidden.yaml",
        "~$letter.pdf",
        "~$x.json",
        "2026-000123.pdf.tmp",
        "2026-000123.PDF.TMP",
        "2026-000123.pdf.part",
        "2026-000123.Part",
        "a.tmp",
        "a.yml.tmp",
        "a.yaml.part",
        "a.txt",
        "a.xml",
        "a.pdf~",
        "a.pdf.crdownload",
        "a.pdf ",
        "a.",
        "noextension",
        "",
        "Thumbs.db",
        "a.ｐｄｆ",  # full-width letters are not an extension
    ],
)
def test_classify_ignored(name: str) -> None:
    got = classify(name)
    assert got.kind is Kind.IGNORED
    assert got.fmt is None and got.stem_ok is False


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=140))
def test_classify_is_total_and_consistent(name: str) -> None:
    got = classify(name)
    if got.kind is Kind.IGNORED:
        assert not got.stem_ok
        return
    assert name.lower().endswith("." + got.ext) or name.endswith("." + got.ext)
    assert got.ext in ("pdf", "yaml", "json")
    assert (got.fmt is None) == (got.kind is Kind.PDF)
    assert got.stem == name[: -len(got.ext) - 1]
    assert got.stem_ok == (re.fullmatch(contract.STEM_RE, got.stem) is not None)
    assert not name.startswith((".", "~$"))


# -- the example --------------------------------------------------------------------


def test_example_parses_to_the_documented_values() -> None:
    meta = parse(contract.example_sidecar())
    assert meta == contract.DocumentMeta(
        document_id="2026-000123",
        type="invoice",
        issued_at=datetime(2026, 11, 25, 10, 15, tzinfo=timezone(timedelta(hours=1))),
        language="fr",
        patient=contract.Patient(MATRICULE, "CNS", "Weber", "Anne"),
        provider_code="90812100",
        submitted_by="anna",
        invoice=contract.Invoice(Decimal("84.60"), "EUR", False),
        extensions=(),
    )


def test_canonical_is_the_vault_metadata() -> None:
    meta = parse(contract.example_sidecar())
    assert meta.canonical() == {
        "document_id": "2026-000123",
        "type": "invoice",
        "issued_at": "2026-11-25T10:15:00+01:00",
        "language": "fr",
        "patient": {
            "matricule": MATRICULE,
            "last_name": "Weber",
            "first_name": "Anne",
            "insurer": "CNS",
        },
        "author": {"provider_code": "90812100"},
        "submitted_by": "anna",
        "invoice": {"total": "84.60", "currency": "EUR", "paid": False},
    }
    assert json.loads(meta.canonical_json()) == meta.canonical()
    assert (
        meta.canonical_json()
        == json.dumps(
            meta.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )


def test_canonical_leaves_absent_fields_out() -> None:
    text = example(type="prescription", language="null", submitted_by="null")
    text = text.replace('  last_name: "Weber"\n  first_name: "Anne"\n', "")
    text = text[: text.index("invoice:")]
    canonical = parse(text).canonical()
    assert set(canonical) == {"document_id", "type", "issued_at", "patient", "author"}
    assert set(canonical["patient"]) == {"matricule", "insurer"}


def test_json_and_yaml_examples_are_equivalent() -> None:
    from_yaml = parse(contract.example_sidecar())
    from_json = parse(as_json(EXAMPLE), "json")
    assert from_yaml.canonical_json() == from_json.canonical_json()
    assert from_yaml == from_json


def test_canonical_plus_schema_parses_back() -> None:
    meta = parse(contract.example_sidecar() + 'x-pms: {visit: "V-1", n: [1, 2.5, true, null]}\n')
    again = {"schema": contract.SCHEMA_ID, **meta.canonical()}
    assert parse(as_json(again), "json").canonical_json() == meta.canonical_json()
    assert parse(as_yaml(again), "yaml").canonical_json() == meta.canonical_json()


# -- the documentation --------------------------------------------------------------


def _doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text("utf-8"), re.S)


def test_every_catalog_code_is_documented() -> None:
    text = DOC.read_text("utf-8")
    missing = [code for code in CATALOG if f"`{code}`" not in text]
    assert not missing


def test_documented_examples_are_valid_and_match_example_sidecar() -> None:
    yaml_blocks = [b for b in _doc_blocks("yaml") if contract.SCHEMA_ID in b]
    json_blocks = [b for b in _doc_blocks("json") if contract.SCHEMA_ID in b]
    assert yaml_blocks[0] == contract.example_sidecar()
    reference = parse(contract.example_sidecar()).canonical_json()
    assert parse(json_blocks[0], "json").canonical_json() == reference
    for block in yaml_blocks:
        parse(block)
    for block in json_blocks:
        parse(block, "json")


def test_documented_receipt_and_error_examples_are_json() -> None:
    schemas = {json.loads(b)["schema"] for b in _doc_blocks("json")}
    assert {"econnector.status/v1", "econnector.receipt/v1", "econnector.error/v1"} <= schemas


# -- field rules: one mutation, one expected error, in YAML and in JSON -------------

Mutation = Callable[[dict[str, Any]], None]


def put(path: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        doc[last] = value

    return apply


def drop(path: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        del doc[last]

    return apply


def both(*mutations: Mutation) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for m in mutations:
            m(doc)

    return apply


BAD_LUHN = MATRICULE[:11] + "4" + MATRICULE[12]
BAD_VERHOEFF = MATRICULE[:12] + "3"
BAD_DATE = matricule.make("19581301", "001")

CASES: list[tuple[str, Mutation, str, str | None]] = [
    ("schema-missing", drop("schema"), "field-missing", "schema"),
    ("schema-null", put("schema", None), "field-missing", "schema"),
    ("schema-v2", put("schema", "econnector.document/v2"), "sidecar-schema", "schema"),
    ("schema-number", put("schema", 1), "sidecar-schema", "schema"),
    ("document_id-missing", drop("document_id"), "field-missing", "document_id"),
    ("document_id-null", put("document_id", None), "field-missing", "document_id"),
    ("document_id-number", put("document_id", 2026000123), "field-type", "document_id"),
    ("document_id-list", put("document_id", ["a"]), "field-type", "document_id"),
    ("document_id-space", put("document_id", "2026 000123"), "document-id-invalid", "document_id"),
    ("document_id-empty", put("document_id", ""), "document-id-invalid", "document_id"),
    ("document_id-65", put("document_id", "a" * 65), "document-id-invalid", "document_id"),
    ("document_id-slash", put("document_id", "2026/1"), "document-id-invalid", "document_id"),
    ("document_id-accent", put("document_id", "facture-é"), "document-id-invalid", "document_id"),
    ("type-missing", drop("type"), "field-missing", "type"),
    ("type-number", put("type", 1), "field-type", "type"),
    ("type-unknown", put("type", "letter"), "document-type-unknown", "type"),
    ("type-case", put("type", "Invoice"), "document-type-unknown", "type"),
    ("type-lab", put("type", "lab-result"), "document-type-medical", "type"),
    ("type-lab-spaced", put("type", "Lab Result"), "document-type-medical", "type"),
    ("type-discharge", put("type", "discharge_letter"), "document-type-medical", "type"),
    ("type-radiology", put("type", "RADIOLOGY"), "document-type-medical", "type"),
    ("type-report", put("type", "report"), "document-type-medical", "type"),
    ("issued_at-missing", drop("issued_at"), "field-missing", "issued_at"),
    ("issued_at-number", put("issued_at", 1764062100), "field-type", "issued_at"),
    ("issued_at-naive", put("issued_at", "2026-11-25T10:15:00"), "issued-at-invalid", "issued_at"),
    ("issued_at-date", put("issued_at", "2026-11-25"), "issued-at-invalid", "issued_at"),
    ("issued_at-month", put("issued_at", "2026-13-25T10:15:00Z"), "issued-at-invalid", "issued_at"),
    ("issued_at-day", put("issued_at", "2026-02-30T10:15:00Z"), "issued-at-invalid", "issued_at"),
    ("issued_at-hour", put("issued_at", "2026-11-25T24:00:00Z"), "issued-at-invalid", "issued_at"),
    ("issued_at-leap", put("issued_at", "2026-12-31T23:59:60Z"), "issued-at-invalid", "issued_at"),
    ("issued_at-colon", put("issued_at", "2026-11-25T10:15:00+0100"), "issued-at-invalid", None),
    ("issued_at-lower", put("issued_at", "2026-11-25t10:15:00z"), "issued-at-invalid", None),
    ("issued_at-offset", put("issued_at", "2026-11-25T10:15:00+24:00"), "issued-at-invalid", None),
    ("issued_at-basic", put("issued_at", "20261125T101500Z"), "issued-at-invalid", "issued_at"),
    ("language-lb", put("language", "lb"), "language-unsupported", "language"),
    ("language-case", put("language", "FR"), "language-unsupported", "language"),
    ("language-number", put("language", 1), "field-type", "language"),
    ("language-list", put("language", ["fr"]), "field-type", "language"),
    ("patient-missing", drop("patient"), "field-missing", "patient"),
    ("patient-string", put("patient", MATRICULE), "field-type", "patient"),
    ("patient-list", put("patient", [MATRICULE]), "field-type", "patient"),
    ("patient-empty", put("patient", {}), "field-missing", "patient.matricule"),
    (
        "patient-unknown",
        put("patient.birth_date", "1893-12-01"),
        "field-unknown",
        "patient.birth_date",
    ),
    ("patient-X-", put("patient.X-chart", "1"), "field-unknown", "patient.X-chart"),
    ("matricule-missing", drop("patient.matricule"), "field-missing", "patient.matricule"),
    ("matricule-null", put("patient.matricule", None), "field-missing", "patient.matricule"),
    (
        "matricule-number",
        put("patient.matricule", int(MATRICULE)),
        "field-type",
        "patient.matricule",
    ),
    ("matricule-short", put("patient.matricule", MATRICULE[:12]), "matricule-format", None),
    ("matricule-spaces", put("patient.matricule", "1893 12 01 057 32"), "matricule-format", None),
    ("matricule-date", put("patient.matricule", BAD_DATE), "matricule-date", None),
    ("matricule-luhn", put("patient.matricule", BAD_LUHN), "matricule-luhn", None),
    ("matricule-verhoeff", put("patient.matricule", BAD_VERHOEFF), "matricule-verhoeff", None),
    ("last_name-empty", put("patient.last_name", ""), "field-invalid", "patient.last_name"),
    ("last_name-long", put("patient.last_name", "x" * 101), "field-invalid", "patient.last_name"),
    (
        "last_name-newline",
        put("patient.last_name", "We\nber"),
        "field-invalid",
        "patient.last_name",
    ),
    ("last_name-tab", put("patient.last_name", "We\tber"), "field-invalid", "patient.last_name"),
    ("last_name-number", put("patient.last_name", 5), "field-type", "patient.last_name"),
    (
        "first_name-sep",
        put("patient.first_name", "An\u2028ne"),
        "field-invalid",
        "patient.first_name",
    ),
    ("first_name-list", put("patient.first_name", ["Anne"]), "field-type", "patient.first_name"),
    ("insurer-missing", drop("patient.insurer"), "field-missing", "patient.insurer"),
    ("insurer-unknown", put("patient.insurer", "AXA"), "insurer-unknown", "patient.insurer"),
    ("insurer-case", put("patient.insurer", "cns"), "insurer-unknown", "patient.insurer"),
    ("insurer-number", put("patient.insurer", 1), "field-type", "patient.insurer"),
    ("author-missing", drop("author"), "field-missing", "author"),
    ("author-string", put("author", "90812100"), "field-type", "author"),
    ("author-unknown", put("author.name", "Dr Schmit"), "field-unknown", "author.name"),
    ("provider-missing", drop("author.provider_code"), "field-missing", "author.provider_code"),
    (
        "provider-number",
        put("author.provider_code", 90812100),
        "field-type",
        "author.provider_code",
    ),
    ("provider-7", put("author.provider_code", "9081210"), "field-invalid", "author.provider_code"),
    (
        "provider-letters",
        put("author.provider_code", "9081210a"),
        "field-invalid",
        "author.provider_code",
    ),
    ("provider-unknown", put("author.provider_code", "11111111"), "provider-unknown", None),
    ("submitted_by-space", put("submitted_by", "anna m"), "field-invalid", "submitted_by"),
    ("submitted_by-empty", put("submitted_by", ""), "field-invalid", "submitted_by"),
    ("submitted_by-65", put("submitted_by", "a" * 65), "field-invalid", "submitted_by"),
    ("submitted_by-number", put("submitted_by", 7), "field-type", "submitted_by"),
    ("invoice-missing", drop("invoice"), "invoice-missing", "invoice"),
    ("invoice-null", put("invoice", None), "invoice-missing", "invoice"),
    ("invoice-not-allowed", put("type", "prescription"), "invoice-not-allowed", "invoice"),
    ("invoice-string", put("invoice", "84.60"), "field-type", "invoice"),
    ("invoice-unknown", put("invoice.vat", "0.00"), "field-unknown", "invoice.vat"),
    ("total-missing", drop("invoice.total"), "field-missing", "invoice.total"),
    ("total-float", put("invoice.total", 84.6), "field-type", "invoice.total"),
    ("total-int", put("invoice.total", 84), "field-type", "invoice.total"),
    ("total-3-decimals", put("invoice.total", "84.601"), "invoice-total-invalid", None),
    ("total-zero", put("invoice.total", "0"), "invoice-total-invalid", None),
    ("total-zero-cents", put("invoice.total", "0.00"), "invoice-total-invalid", None),
    ("total-negative", put("invoice.total", "-1.00"), "invoice-total-invalid", None),
    ("total-plus", put("invoice.total", "+1.00"), "invoice-total-invalid", None),
    ("total-comma", put("invoice.total", "84,60"), "invoice-total-invalid", None),
    ("total-leading-zero", put("invoice.total", "084.60"), "invoice-total-invalid", None),
    ("total-exponent", put("invoice.total", "1e2"), "invoice-total-invalid", None),
    ("total-space", put("invoice.total", " 84.60"), "invoice-total-invalid", None),
    ("total-dot", put("invoice.total", "84."), "invoice-total-invalid", None),
    ("total-huge", put("invoice.total", "1000000000.00"), "invoice-total-invalid", None),
    ("total-empty", put("invoice.total", ""), "invoice-total-invalid", None),
    ("total-digits", put("invoice.total", "٨٤"), "invoice-total-invalid", None),
    ("currency-missing", drop("invoice.currency"), "field-missing", "invoice.currency"),
    ("currency-usd", put("invoice.currency", "USD"), "invoice-currency", "invoice.currency"),
    ("currency-case", put("invoice.currency", "eur"), "invoice-currency", "invoice.currency"),
    ("currency-number", put("invoice.currency", 978), "field-type", "invoice.currency"),
    ("paid-missing", drop("invoice.paid"), "field-missing", "invoice.paid"),
    ("paid-null", put("invoice.paid", None), "field-missing", "invoice.paid"),
    ("paid-string", put("invoice.paid", "false"), "field-type", "invoice.paid"),
    ("paid-number", put("invoice.paid", 0), "field-type", "invoice.paid"),
    ("top-unknown", put("foo", 1), "field-unknown", "foo"),
    ("top-typo", put("documentid", "x"), "field-unknown", "documentid"),
    ("top-X-", put("X-vendor", 1), "field-unknown", "X-vendor"),
    ("top-bare-x-", put("x-", 1), "field-unknown", "x-"),
    ("top-schema-case", put("Schema", 1), "field-unknown", "Schema"),
]


@pytest.mark.parametrize(
    ("mutate", "code", "field"),
    [pytest.param(m, c, f, id=i) for i, m, c, f in CASES],
)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_field_rules(mutate: Mutation, code: str, field: str | None, fmt: contract.Format) -> None:
    doc = copy.deepcopy(EXAMPLE)
    mutate(doc)
    data = as_yaml(doc) if fmt == "yaml" else as_json(doc)
    with pytest.raises(SidecarError) as info:
        parse(data, fmt)
    err = info.value
    assert err.code == code
    assert err.field == (field or _default_field(code))
    assert err.code in CATALOG
    assert "?" not in err.message, "a template parameter is missing"
    assert "?" not in err.hint


def _default_field(code: str) -> str:
    """The field a code always names; codes whose field varies are spelled out per case."""
    return {
        "matricule-format": "patient.matricule",
        "matricule-date": "patient.matricule",
        "matricule-luhn": "patient.matricule",
        "matricule-verhoeff": "patient.matricule",
        "provider-unknown": "author.provider_code",
        "invoice-total-invalid": "invoice.total",
        "issued-at-invalid": "issued_at",
    }[code]


VALID_VARIANTS: list[tuple[str, Mutation, Callable[[contract.DocumentMeta], bool]]] = [
    ("no-language", drop("language"), lambda m: m.language is None),
    ("null-language", put("language", None), lambda m: m.language is None),
    ("de", put("language", "de"), lambda m: m.language == "de"),
    (
        "no-names",
        both(drop("patient.last_name"), drop("patient.first_name")),
        lambda m: m.patient.last_name is None and m.patient.first_name is None,
    ),
    ("long-name", put("patient.last_name", "É" * 100), lambda m: m.patient.last_name == "É" * 100),
    ("no-submitter", drop("submitted_by"), lambda m: m.submitted_by is None),
    ("id-64", put("document_id", "a" * 64), lambda m: m.document_id == "a" * 64),
    ("id-chars", put("document_id", "A.b_c-9"), lambda m: True),
    ("total-1-decimal", put("invoice.total", "84.6"), lambda m: _total(m) == "84.60"),
    ("total-integer", put("invoice.total", "12"), lambda m: _total(m) == "12.00"),
    ("total-cent", put("invoice.total", "0.01"), lambda m: _total(m) == "0.01"),
    ("total-max", put("invoice.total", "999999999.99"), lambda m: _total(m) == "999999999.99"),
    ("paid", put("invoice.paid", True), lambda m: m.invoice is not None and m.invoice.paid),
    (
        "prescription",
        both(put("type", "prescription"), drop("invoice")),
        lambda m: m.invoice is None,
    ),
    (
        "prescription-null-invoice",
        both(put("type", "certificate"), put("invoice", None)),
        lambda m: m.invoice is None,
    ),
    (
        "sick-leave",
        both(put("type", "sick-leave-certificate"), drop("invoice")),
        lambda m: m.type == "sick-leave-certificate",
    ),
    ("insurer", put("patient.insurer", "RCAM"), lambda m: m.patient.insurer == "RCAM"),
    (
        "zulu",
        put("issued_at", "2026-11-25T09:15:00Z"),
        lambda m: m.canonical()["issued_at"] == "2026-11-25T09:15:00+00:00",
    ),
    (
        "no-seconds",
        put("issued_at", "2026-11-25T10:15+01:00"),
        lambda m: m.canonical()["issued_at"] == "2026-11-25T10:15:00+01:00",
    ),
    (
        "space",
        put("issued_at", "2026-11-25 10:15:00-05:00"),
        lambda m: m.canonical()["issued_at"] == "2026-11-25T10:15:00-05:00",
    ),
    (
        "millis",
        put("issued_at", "2026-11-25T09:15:00.250Z"),
        lambda m: m.canonical()["issued_at"] == "2026-11-25T09:15:00.250000+00:00",
    ),
    (
        "nanos",
        put("issued_at", "2026-11-25T09:15:00.123456789+01:00"),
        lambda m: m.issued_at.microsecond == 123456,
    ),
    ("unknown-month", put("patient.matricule", matricule.make("19580000", "123")), lambda m: True),
]


def _total(meta: contract.DocumentMeta) -> str:
    return str(meta.canonical()["invoice"]["total"])


@pytest.mark.parametrize(
    ("mutate", "check"), [pytest.param(m, c, id=i) for i, m, c in VALID_VARIANTS]
)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_valid_variants(
    mutate: Mutation, check: Callable[[contract.DocumentMeta], bool], fmt: contract.Format
) -> None:
    doc = copy.deepcopy(EXAMPLE)
    mutate(doc)
    data = as_yaml(doc) if fmt == "yaml" else as_json(doc)
    meta = parse(data, fmt)
    assert check(meta)


def test_provider_must_be_configured() -> None:
    assert outcome(contract.example_sidecar(), providers=[])[0] == "provider-unknown"
    assert outcome(contract.example_sidecar(), providers=["90812100", "1"])[0] == "ok"


def test_matricule_future_birth_date_depends_on_today() -> None:
    text = example(matricule=f'"{matricule.make("20261203", "001")}"')
    assert outcome(text, today=date(2026, 12, 2))[0] == "matricule-date"
    assert outcome(text, today=date(2026, 12, 3))[0] == "ok"


# -- order and completeness of errors ----------------------------------------------


def test_errors_are_collected_in_documented_order() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["zzz"] = 1
    doc["document_id"] = "bad id"
    doc["language"] = "lb"
    doc["patient"]["matricule"] = BAD_LUHN
    doc["patient"]["insurer"] = "AXA"
    doc["invoice"]["currency"] = "USD"
    doc["invoice"]["paid"] = "no"
    formats: list[tuple[bytes, contract.Format]] = [(as_yaml(doc), "yaml"), (as_json(doc), "json")]
    for data, fmt in formats:
        with pytest.raises(SidecarError) as info:
            parse(data, fmt)
        found = [(e.code, e.field) for e in all_errors(info.value)]
        assert found == [
            ("field-unknown", "zzz"),
            ("document-id-invalid", "document_id"),
            ("language-unsupported", "language"),
            ("matricule-luhn", "patient.matricule"),
            ("insurer-unknown", "patient.insurer"),
            ("invoice-currency", "invoice.currency"),
            ("field-type", "invoice.paid"),
        ]
        assert info.value is all_errors(info.value)[0]


def test_a_wrong_schema_stops_validation() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["schema"] = "econnector.document/v2"
    doc["new_in_v2"] = 1
    with pytest.raises(SidecarError) as info:
        parse(as_json(doc), "json")
    assert [e.code for e in all_errors(info.value)] == ["sidecar-schema"]


def test_all_errors_of_an_early_failure_is_the_error_itself() -> None:
    with pytest.raises(SidecarError) as info:
        parse(b"\xff", "yaml")
    assert all_errors(info.value) == (info.value,)


def test_messages_never_contain_the_matricule_or_names() -> None:
    secret_names = ("Zyxwvutsr", "Qponmlkji")
    bad_values: list[tuple[str, Any]] = [
        ("matricule", BAD_LUHN),
        ("matricule", BAD_VERHOEFF),
        ("matricule", MATRICULE[:12]),
        ("matricule", int(MATRICULE)),
        ("matricule", matricule.make("19581301", "123")),
        ("last_name", secret_names[0] * 12),
        ("last_name", secret_names[0] + "\n"),
        ("first_name", secret_names[1] + "\t"),
        ("first_name", 12345678),
    ]
    for key, value in bad_values:
        doc = copy.deepcopy(EXAMPLE)
        doc["patient"][key] = value
        with pytest.raises(SidecarError) as info:
            parse(as_json(doc), "json")
        for err in all_errors(info.value):
            rendered = " ".join([str(err), err.hint, repr(err.params), repr(err.as_dict())])
            for secret in (*secret_names, str(value), MATRICULE):
                assert secret not in rendered


def test_vendor_text_in_messages_is_clipped_and_escaped() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["type"] = "letter\n" + "x" * 500
    with pytest.raises(SidecarError) as info:
        parse(as_json(doc), "json")
    assert "\n" not in info.value.message
    assert len(info.value.message) < 200


# -- YAML: the implicit-typing traps ---------------------------------------------------

TRAPS = [
    ({"language": "no"}, "field-type", "language"),
    ({"language": "No"}, "field-type", "language"),
    ({"paid": "no"}, "field-type", "invoice.paid"),
    ({"paid": "off"}, "field-type", "invoice.paid"),
    ({"paid": "yes"}, "field-type", "invoice.paid"),
    ({"paid": '"false"'}, "field-type", "invoice.paid"),
    ({"document_id": "2026-11-25"}, "field-type", "document_id"),
    ({"document_id": "0123"}, "field-type", "document_id"),
    ({"document_id": "123"}, "field-type", "document_id"),
    ({"document_id": "10:15"}, "field-type", "document_id"),
    ({"document_id": "1_000"}, "field-type", "document_id"),
    ({"document_id": "0b101"}, "field-type", "document_id"),
    ({"document_id": "0x1F"}, "field-type", "document_id"),
    ({"document_id": "1.5"}, "field-type", "document_id"),
    ({"document_id": "~"}, "field-missing", "document_id"),
    ({"document_id": ""}, "field-missing", "document_id"),
    ({"matricule": MATRICULE}, "field-type", "patient.matricule"),
    ({"provider_code": "90812100"}, "field-type", "author.provider_code"),
    ({"provider_code": "07712100"}, "field-type", "author.provider_code"),  # YAML 1.1 octal
    ({"last_name": "No"}, "field-type", "patient.last_name"),
    ({"first_name": "Yes"}, "field-type", "patient.first_name"),
    ({"total": "84.60"}, "field-type", "invoice.total"),
    ({"total": "84"}, "field-type", "invoice.total"),
    ({"currency": "="}, "field-type", "invoice.currency"),
    ({"issued_at": "2026-11-25"}, "issued-at-invalid", "issued_at"),
    ({"issued_at": "2026-11-25 10:15:00"}, "issued-at-invalid", "issued_at"),
    ({"issued_at": "2026-11-25T10:15:00"}, "issued-at-invalid", "issued_at"),
    ({"issued_at": "1764062100"}, "field-type", "issued_at"),
]


@pytest.mark.parametrize(("changes", "code", "field"), TRAPS)
def test_yaml_traps_are_refused_not_coerced(changes: dict[str, str], code: str, field: str) -> None:
    assert outcome(example(**changes)) == (code, field)


def test_yaml_trap_messages_say_what_yaml_read() -> None:
    with pytest.raises(SidecarError) as info:
        parse(example(document_id="2026-11-25"))
    assert "date" in info.value.message
    assert "quoted" in info.value.message


@pytest.mark.parametrize(
    "changes",
    [
        {"issued_at": "2026-11-25T10:15:00+01:00"},  # unquoted timestamp with an offset
        {"issued_at": "2026-11-25 10:15:00+01:00"},
        {"document_id": "2026-000123"},  # not a YAML 1.1 date: text
        {"document_id": "A-2026"},
        {"paid": "False"},
        {"paid": "FALSE"},
        {"paid": "true"},
        {"provider_code": "'90812100'"},
        {"language": "de"},
        {"last_name": "Weber-Muller"},
        {"first_name": "'No'"},
    ],
)
def test_plain_yaml_that_means_the_same_everywhere_is_accepted(changes: dict[str, str]) -> None:
    assert outcome(example(**changes))[0] == "ok"


def test_yaml_unquoted_issued_at_is_read_as_written() -> None:
    meta = parse(example(issued_at="2026-11-25T10:15:00+01:00"))
    assert meta.canonical()["issued_at"] == "2026-11-25T10:15:00+01:00"


# -- YAML features that are refused -------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(contract.example_sidecar() + "x-a: &anchor 1\n", id="anchor"),
        pytest.param(contract.example_sidecar() + "x-a: *undefined\n", id="alias"),
        pytest.param("!!python/object/apply:os.system ['echo pwned']\n", id="python-apply"),
        pytest.param("x: !!python/object:os.system {}\n", id="python-object"),
        pytest.param("x: !!python/name:os.system\n", id="python-name"),
        pytest.param(contract.example_sidecar() + "x-a: !!str 123\n", id="core-tag"),
        pytest.param(contract.example_sidecar() + "x-a: !!binary aGVsbG8=\n", id="binary"),
        pytest.param(contract.example_sidecar() + "x-a: !custom 1\n", id="local-tag"),
        pytest.param(contract.example_sidecar() + "x-a: ! 1\n", id="non-specific-tag"),
        pytest.param("--- !!map\nschema: econnector.document/v1\n", id="tagged-root"),
        pytest.param("<<: {schema: econnector.document/v1}\n", id="merge"),
        pytest.param("x-a: {<<: {b: 1}}\n", id="nested-merge"),
        pytest.param("? [a, b]\n: 1\n", id="complex-key"),
        pytest.param("? {a: 1}\n: 1\n", id="mapping-key"),
    ],
)
def test_yaml_features_are_refused(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def forbidden(*args: Any) -> None:
        raise AssertionError("a YAML tag ran code")

    monkeypatch.setattr(os, "system", forbidden)
    started = time.process_time()  # CPU, not wall: other tests share the cores (xdist)
    assert outcome(text) == ("sidecar-yaml-feature", None)
    assert time.process_time() - started < 1.0


def test_quoted_merge_key_is_just_an_unknown_field() -> None:
    assert outcome(contract.example_sidecar() + '"<<": 1\n') == ("field-unknown", "<<")


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ("a: 1\na: 2\n", "yaml"),
        ("1: a\n'1': b\n", "yaml"),  # keys are their text
        (
            contract.example_sidecar().replace(
                "  insurer: CNS\n", "  insurer: CNS\n  insurer: CNS\n"
            ),
            "yaml",
        ),
        ('{"a": 1, "a": 2}', "json"),
        ('{"x": {"b": 1, "b": 1}}', "json"),
    ],
)
def test_duplicate_keys_are_syntax_errors(data: str, fmt: contract.Format) -> None:
    assert outcome(data, fmt) == ("sidecar-syntax", None)


def test_yaml_keys_are_text() -> None:
    assert outcome(contract.example_sidecar() + "no: 1\n") == ("field-unknown", "no")
    assert outcome(contract.example_sidecar() + "123: 1\n") == ("field-unknown", "123")


# -- bytes, encodings, syntax, structure ---------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_utf8_bom_is_accepted(fmt: contract.Format) -> None:
    data = contract.example_sidecar().encode() if fmt == "yaml" else as_json(EXAMPLE)
    assert parse(b"\xef\xbb\xbf" + data, fmt) == parse(data, fmt)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-16"),
        lambda s: s.encode("utf-16-le"),
        lambda s: s.replace("Weber", "Müller").encode("latin-1"),
        lambda s: s.encode() + b"\xc3",
    ],
)
def test_non_utf8_is_an_encoding_error(
    fmt: contract.Format, encode: Callable[[str], bytes]
) -> None:
    text = contract.example_sidecar() if fmt == "yaml" else as_json(EXAMPLE).decode()
    assert outcome(encode(text), fmt) == ("sidecar-encoding", None)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [('{"x-a": "\\ud800"}', "json"), ('{"\\udfff": 1}', "json"), ('x-a: "\\ud800"\n', "yaml")],
)
def test_lone_surrogates_are_an_encoding_error(data: str, fmt: contract.Format) -> None:
    assert outcome(data, fmt) == ("sidecar-encoding", None)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_size_limit(fmt: contract.Format) -> None:
    data = contract.example_sidecar().encode() if fmt == "yaml" else as_json(EXAMPLE)
    assert outcome(data, fmt, max_bytes=len(data))[0] == "ok"
    with pytest.raises(SidecarError) as info:
        parse(data, fmt, max_bytes=len(data) - 1)
    assert info.value.code == "sidecar-too-large"
    assert info.value.params["size"] == len(data)
    assert info.value.params["limit"] == len(data) - 1
    padded = b"#" + b" " * 70000 + b"\n" + data if fmt == "yaml" else data + b" " * 70000
    assert outcome(padded, fmt)[0] == "sidecar-too-large"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ('{"schema": "econnector.document/v1",}', "json"),
        ("{'schema': 'econnector.document/v1'}", "json"),
        ('{"x-a": NaN}', "json"),
        ('{"x-a": Infinity}', "json"),
        ('{"x-a": -Infinity}', "json"),
        ("{", "json"),
        ("", "json"),
        ('{"a": 1} {"b": 2}', "json"),
        ("a:\n  - b\n c: d\n", "yaml"),
        ("a:\n\t- b\n", "yaml"),
        ('a: "unterminated\n', "yaml"),
        ("a: 1\n---\nb: 2\n", "yaml"),
        ("a: [1, 2\n", "yaml"),
        ("a: 1\x07\n", "yaml"),
        ("%YAML 2.0\n---\na: 1\n", "yaml"),
        ("x-a: " + "1" * 5000 + "\n", "yaml"),
        ('{"x-a": ' + "1" * 5000 + "}", "json"),
    ],
)
def test_syntax_errors(data: str, fmt: contract.Format) -> None:
    assert outcome(data, fmt) == ("sidecar-syntax", None)


def test_syntax_details_name_the_position_but_not_the_content() -> None:
    text = contract.example_sidecar().replace('last_name: "Weber"', 'last_name: "Weber')
    with pytest.raises(SidecarError) as info:
        parse(text)
    assert info.value.code == "sidecar-syntax"
    assert "line" in info.value.message
    assert "Weber" not in info.value.message and MATRICULE not in info.value.message


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ("", "yaml"),
        ("# only a comment\n", "yaml"),
        ("null\n", "yaml"),
        ("- a\n- b\n", "yaml"),
        ("just text\n", "yaml"),
        ("42\n", "yaml"),
        ("[]", "json"),
        ('"x"', "json"),
        ("null", "json"),
        ("3.5", "json"),
    ],
)
def test_top_level_must_be_a_mapping(data: str, fmt: contract.Format) -> None:
    assert outcome(data, fmt) == ("sidecar-not-mapping", None)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ("[" * 100_000, "yaml"),
        ("x-a: " + "[" * 50_000 + "]" * 50_000 + "\n", "yaml"),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), "yaml"),
        ("{a: " * 20_000 + "}" * 20_000, "yaml"),
        ("[" * 100_000, "json"),
        ("[" * 100_000 + "]" * 100_000, "json"),
        ('{"a": ' * 20_000 + "1" + "}" * 20_000, "json"),
    ],
)
def test_deep_nesting_is_a_clean_error(data: str, fmt: contract.Format) -> None:
    started = time.process_time()  # CPU, not wall: other tests share the cores (xdist)
    assert outcome(data, fmt, max_bytes=10**6) == ("sidecar-syntax", None)
    assert time.process_time() - started < 2.0


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_nesting_limit_is_32_levels(fmt: contract.Format) -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: Any = "leaf"
        for _ in range(levels):
            value = [value]
        return {**EXAMPLE, "x-deep": value}

    dump = as_yaml if fmt == "yaml" else as_json
    assert outcome(dump(nested(contract.MAX_DEPTH - 1)), fmt)[0] == "ok"
    assert outcome(dump(nested(contract.MAX_DEPTH)), fmt) == ("sidecar-syntax", None)


# -- extensions -----------------------------------------------------------------------

EXTENDED = contract.example_sidecar().replace(
    "  insurer: CNS\n", "  insurer: CNS\n  x-chart: C-17\n"
).replace('  provider_code: "90812100"\n', '  provider_code: "90812100"\n  x-room: 3\n') + (
    'x-pms: {visit: "V-88213", lines: [{code: C1, amount: "52.40"}, null, true, 1.5]}\n'
    "x-empty: {}\n"
)


def test_extensions_are_kept_in_order_and_top_level_ones_forwarded() -> None:
    meta = parse(EXTENDED)
    assert meta.extensions == (
        (
            "x-pms",
            {"visit": "V-88213", "lines": [{"code": "C1", "amount": "52.40"}, None, True, 1.5]},
        ),
        ("x-empty", {}),
        ("patient.x-chart", "C-17"),
        ("author.x-room", 3),
    )
    canonical = meta.canonical()
    assert canonical["x-pms"]["visit"] == "V-88213"
    assert canonical["x-empty"] == {}
    assert "x-chart" not in canonical["patient"] and "x-room" not in canonical["author"]
    canonical["x-pms"]["visit"] = "changed"  # canonical() hands out copies
    assert meta.canonical()["x-pms"]["visit"] == "V-88213"


def test_extensions_are_equivalent_in_json() -> None:
    tree = yaml.safe_load(EXTENDED)
    assert parse(as_json(tree), "json") == parse(EXTENDED)


@pytest.mark.parametrize(
    ("addition", "fmt", "code", "field"),
    [
        ("x-a: .inf\n", "yaml", "field-invalid", "x-a"),
        ("x-a: [1, -.inf]\n", "yaml", "field-invalid", "x-a[1]"),
        ("x-a: {b: .nan}\n", "yaml", "field-invalid", "x-a.b"),
        ('"x-a": 1e999', "json", "field-invalid", "x-a"),
        ('"x-a": {"b": [-1e999]}', "json", "field-invalid", "x-a.b[0]"),
        ("x-a: no\n", "yaml", "field-type", "x-a"),
        ("x-a: {when: 2026-11-25}\n", "yaml", "field-type", "x-a.when"),
        ("x-a: [1, 0777]\n", "yaml", "field-type", "x-a[1]"),
    ],
)
def test_extension_values_are_checked(
    addition: str, fmt: contract.Format, code: str, field: str
) -> None:
    if fmt == "yaml":
        data = contract.example_sidecar() + addition
    else:
        data = as_json(EXAMPLE).decode()[:-1] + ", " + addition + "}"
    assert outcome(data, fmt) == (code, field)


# -- properties -----------------------------------------------------------------------

SCHEMA_WORDS = st.sampled_from(
    [
        contract.SCHEMA_ID,
        "invoice",
        "prescription",
        "lab-result",
        "CNS",
        "fr",
        "EUR",
        "84.60",
        MATRICULE,
        "90812100",
        "2026-11-25T10:15:00+01:00",
        "no",
        "2026-11-25",
        "0123",
        "x-a",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | SCHEMA_WORDS
)
keys = st.text(max_size=10) | st.sampled_from([*TOP_FIELDS, "x-a", "matricule", "total"])
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)
PATHS = [
    "schema",
    "document_id",
    "type",
    "issued_at",
    "language",
    "patient",
    "patient.matricule",
    "patient.last_name",
    "patient.insurer",
    "patient.x-b",
    "author",
    "author.provider_code",
    "submitted_by",
    "invoice",
    "invoice.total",
    "invoice.currency",
    "invoice.paid",
    "x-a",
    "zzz",
]


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        target: Any = doc
        *parents, last = path.split(".")
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if draw(st.booleans()) and last in target:
            del target[last]
        else:
            target[last] = draw(trees)
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from(["yaml", "json"]))
def test_any_bytes_give_a_sidecar_error_or_a_document(data: bytes, fmt: contract.Format) -> None:
    try:
        meta = parse(data, fmt)
    except SidecarError as e:
        assert e.code in CATALOG
    else:
        assert isinstance(meta, contract.DocumentMeta)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([contract.example_sidecar().encode(), as_json(EXAMPLE)]),
    st.lists(st.tuples(st.integers(0, 800), st.integers(0, 3), st.binary(max_size=4)), max_size=4),
)
def test_damaged_examples_give_a_sidecar_error_or_a_document(
    data: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data = data[:pos] + insert + data[pos + cut :]
    for fmt in ("yaml", "json"):
        try:
            parse(data, fmt)
        except SidecarError as e:
            assert e.code in CATALOG


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(trees, mutated_examples()))
def test_yaml_and_json_of_the_same_data_get_the_same_answer(tree: Any) -> None:
    assert outcome(as_yaml(tree, False), "yaml", max_bytes=10**7) == outcome(
        as_json(tree), "json", max_bytes=10**7
    )


@st.composite
def valid_sidecars(draw: st.DrawFn) -> dict[str, Any]:
    birth = draw(st.dates(date(1850, 1, 1), TODAY)).strftime("%Y%m%d")
    doc_type = draw(st.sampled_from(contract.DOC_TYPES))
    offset = draw(st.integers(-14 * 4, 14 * 4)) * 15
    issued = draw(st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31))).replace(
        tzinfo=timezone(timedelta(minutes=offset))
    )
    doc: dict[str, Any] = {
        "schema": contract.SCHEMA_ID,
        "document_id": draw(st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)),
        "type": doc_type,
        "issued_at": issued.isoformat(),
        "patient": {
            "matricule": matricule.make(birth, f"{draw(st.integers(0, 999)):03d}"),
            "insurer": draw(st.sampled_from(contract.INSURERS)),
        },
        "author": {"provider_code": "90812100"},
    }
    if draw(st.booleans()):
        doc["language"] = draw(st.sampled_from(contract.LANGUAGES))
    if draw(st.booleans()):
        name = st.text(st.characters(categories=["L", "Zs", "Pd"]), min_size=1, max_size=100)
        doc["patient"]["last_name"] = draw(name)
    if doc_type == "invoice":
        cents = draw(st.integers(1, 99_999_999_999))
        doc["invoice"] = {
            "total": f"{cents // 100}.{cents % 100:02d}",
            "currency": "EUR",
            "paid": draw(st.booleans()),
        }
    if draw(st.booleans()):
        doc["x-data"] = draw(trees)
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_sidecars())
def test_valid_sidecars_parse_identically_and_round_trip(doc: dict[str, Any]) -> None:
    from_yaml = parse(as_yaml(doc, False), "yaml", max_bytes=10**7)
    from_json = parse(as_json(doc), "json", max_bytes=10**7)
    assert from_yaml.canonical_json() == from_json.canonical_json()
    again = {"schema": contract.SCHEMA_ID, **from_json.canonical()}
    assert parse(as_json(again), "json", max_bytes=10**7).canonical_json() == (
        from_json.canonical_json()
    )


def _raised_codes() -> dict[str, set[type]]:
    """Every ``SomeError("code", ...)`` in the package: which classes raise each code."""
    import ast

    from econnector import errors

    package = Path(errors.__file__).parent
    found: dict[str, set[type]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            cls = getattr(errors, node.func.id, None)
            if not (isinstance(cls, type) and issubclass(cls, errors.EconnectorError)):
                continue
            if node.args and isinstance(node.args[0], ast.Constant):
                found.setdefault(str(node.args[0].value), set()).add(cls)
    return found


def test_the_codes_table_names_the_state_each_code_really_has() -> None:
    """A code documented as `held` is only ever raised as Held, one documented as
    `waiting-retry` as Transient (vault-unauthorized was documented as waiting-retry
    while it was held)."""
    from econnector.errors import Held, Rejected, Transient

    raised = _raised_codes()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \|", DOC.read_text("utf-8"), re.M)
    checked = []
    for code, where in rows:
        if code not in CATALOG or code not in raised:
            continue
        classes = raised[code]
        if "`held`" in where:
            assert all(issubclass(c, Held) for c in classes), (code, where, classes)
            checked.append(code)
        elif "`waiting-retry`" in where:
            allowed: tuple[type, ...] = (Transient, Rejected) if "error" in where else (Transient,)
            assert all(issubclass(c, allowed) for c in classes), (code, where, classes)
            checked.append(code)
        elif where.strip() == "error":
            assert all(issubclass(c, Rejected) for c in classes), (code, where, classes)
    for code in ("vault-unauthorized", "vault-tls", "identity-locked", "certificate-expired",
                 "vault-unavailable", "file-busy"):
        assert code in checked, code
