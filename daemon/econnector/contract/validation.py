"""Validating a parsed sidecar, field by field, in the folder contract's order.

Collects every error it can (the caller raises the first and keeps the rest),
so a vendor fixing a sidecar sees all its defects at once. Pure: ``providers``
(the configured doctors) and ``today`` (for the matricule's birth date) come in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

from .. import matricule
from ..codes import Code
from ..errors import SidecarError
from .document import (
    AUTHOR_FIELDS,
    CENT,
    DOC_TYPES,
    INSURERS,
    INVOICE_FIELDS,
    LANGUAGES,
    MEDICAL_TYPES,
    PATIENT_FIELDS,
    SCHEMA_ID,
    TOP_FIELDS,
    DocumentMeta,
    Invoice,
    Patient,
    is_extension,
)
from .reader import Ambiguous, clip, show

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PROVIDER = re.compile(r"[0-9]{8}")
_TOTAL = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?")
_ISSUED = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_ABSENT: Final = object()


class Validator:
    """Checks a parsed sidecar in a fixed order, collecting errors."""

    def __init__(self, providers: Collection[str], today: date) -> None:
        self.providers = providers
        self.today = today
        self.errors: list[SidecarError] = []
        self.extensions: list[tuple[str, Any]] = []

    def fail(self, code: Code, field: str | None = None, **params: Any) -> None:
        self.errors.append(SidecarError(code, field=field, **params))

    def wrong_type(self, path: str, value: Any, expected: str) -> None:
        # ``expected`` and ``reading`` are fixed phrases, translated when rendered.
        if isinstance(value, Ambiguous):
            self.fail("field-type", path, expected=expected, reading=value.reading)
        else:
            self.fail("field-type", path, expected=expected)

    def keys(self, mapping: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for key, value in mapping.items():
            if is_extension(key):
                self.extensions.append((prefix + key, value))
            elif key not in allowed:
                self.fail("field-unknown", prefix + clip(key, 64))

    def get(self, mapping: dict[str, Any], key: str, path: str, required: bool) -> Any:
        """The value, or _ABSENT; null counts as absent."""
        value = mapping.get(key)
        if value is None:
            if required:
                self.fail("field-missing", path)
            return _ABSENT
        return value

    def string(
        self, mapping: dict[str, Any], key: str, path: str, expected: str, required: bool = True
    ) -> str | None:
        value = self.get(mapping, key, path, required)
        if value is _ABSENT:
            return None
        if type(value) is not str:
            self.wrong_type(path, value, expected)
            return None
        return value

    def block(
        self, mapping: dict[str, Any], key: str, allowed: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """A nested mapping, or None (after recording why) when absent or not a mapping."""
        value = self.get(mapping, key, key, required=True)
        if value is _ABSENT:
            return None
        if not isinstance(value, dict):
            self.wrong_type(key, value, "a mapping of keys to values")
            return None
        self.keys(value, key + ".", allowed)
        return value

    # -- the fields, in documented order --

    def run(self, root: dict[str, Any]) -> DocumentMeta | None:
        schema = root.get("schema")
        if schema is None:
            self.fail("field-missing", "schema")
            return None
        if schema != SCHEMA_ID:
            self.fail("sidecar-schema", "schema", value=show(schema))
            return None
        self.keys(root, "", TOP_FIELDS)
        document_id = self.document_id(root)
        doc_type = self.doc_type(root)
        issued_at = self.issued_at(root)
        language = self.language(root)
        patient = self.patient(root)
        provider_code = self.author(root)
        submitted_by = self.submitted_by(root)
        invoice = self.invoice(root, doc_type)
        self.check_extensions()
        if self.errors:
            return None
        assert document_id and doc_type and issued_at and patient and provider_code
        return DocumentMeta(
            document_id=document_id,
            type=doc_type,
            issued_at=issued_at,
            language=language,
            patient=patient,
            provider_code=provider_code,
            submitted_by=submitted_by,
            invoice=invoice,
            extensions=tuple(self.extensions),
        )

    def document_id(self, root: dict[str, Any]) -> str | None:
        expected = 'a quoted string like "2026-000123"'
        value = self.string(root, "document_id", "document_id", expected)
        if value is not None and not _ID.fullmatch(value):
            self.fail("document-id-invalid", "document_id")
            return None
        return value

    def doc_type(self, root: dict[str, Any]) -> str | None:
        value = self.string(root, "type", "type", "a string such as invoice")
        if value is None or value in DOC_TYPES:
            return value
        normalised = re.sub(r"[\s_]+", "-", value.strip().lower())
        code: Code = ("document-type-medical" if normalised in MEDICAL_TYPES
                      else "document-type-unknown")
        self.fail(code, "type", value=clip(value))
        return None

    def issued_at(self, root: dict[str, Any]) -> datetime | None:
        value = self.get(root, "issued_at", "issued_at", required=True)
        if value is _ABSENT:
            return None
        # An unquoted YAML timestamp is read as its text, so it obeys the same rule.
        text = value.text if isinstance(value, Ambiguous) else value
        if type(text) is not str:
            self.wrong_type(
                "issued_at", value, 'a date-time string like "2026-11-25T10:15:00+01:00"'
            )
            return None
        parsed = _parse_issued_at(text)
        if parsed is None:
            self.fail("issued-at-invalid", "issued_at", value=show(text))
        return parsed

    def language(self, root: dict[str, Any]) -> str | None:
        value = self.string(root, "language", "language", "a string: fr, de or en", False)
        if value is not None and value not in LANGUAGES:
            self.fail("language-unsupported", "language", value=clip(value))
            return None
        return value

    def patient(self, root: dict[str, Any]) -> Patient | None:
        block = self.block(root, "patient", PATIENT_FIELDS)
        if block is None:
            return None
        expected = "a quoted string of 13 digits"
        number = self.string(block, "matricule", "patient.matricule", expected)
        if number is not None:
            try:
                matricule.validate(number, self.today)
            except SidecarError as e:
                self.errors.append(e)
                number = None
        last_name = self.name(block, "last_name")
        first_name = self.name(block, "first_name")
        insurer = self.string(
            block, "insurer", "patient.insurer", "a string: CNS, CMFEP, CMFEC, EMCFL or RCAM"
        )
        if insurer is not None and insurer not in INSURERS:
            self.fail("insurer-unknown", "patient.insurer", value=clip(insurer))
            insurer = None
        if number is None or insurer is None:
            return None
        return Patient(number, insurer, last_name, first_name)

    def name(self, block: dict[str, Any], key: str) -> str | None:
        path = "patient." + key
        value = self.string(block, key, path, "a quoted string", required=False)
        # Never quote a name in the error: messages end up in logs.
        if value is not None and not 1 <= len(value) <= 100:
            self.fail(
                "field-invalid",
                path,
                detail="it must be 1 to 100 characters long.",
                hint_detail="Shorten it to at most 100 characters, or leave it out.",
            )
        elif value is not None and _CONTROL.search(value):
            self.fail(
                "field-invalid",
                path,
                detail="it contains line breaks, tabs or similar characters.",
                hint_detail="Write it on one line, without line breaks or tabs.",
            )
        else:
            return value
        return None

    def author(self, root: dict[str, Any]) -> str | None:
        block = self.block(root, "author", AUTHOR_FIELDS)
        if block is None:
            return None
        path = "author.provider_code"
        code = self.string(block, "provider_code", path, "a quoted string of 8 digits")
        if code is None:
            return None
        if not _PROVIDER.fullmatch(code):
            self.fail(
                "field-invalid",
                path,
                detail="a provider code has exactly 8 digits.",
                hint_detail="Choose the doctor again in the practice software (8-digit "
                "provider code, e.g. 90812100) and send the document again.",
            )
            return None
        if code not in self.providers:
            self.fail("provider-unknown", path, value=code)
            return None
        return code

    def submitted_by(self, root: dict[str, Any]) -> str | None:
        path = "submitted_by"
        value = self.string(root, path, path, "a quoted string", required=False)
        if value is not None and not _ID.fullmatch(value):
            self.fail(
                "field-invalid",
                path,
                detail="it must be 1 to 64 letters without accents, digits, dots, dashes "
                "or underscores.",
                hint_detail="Use the assistant's login or initials, e.g. anna, or leave it out.",
            )
            return None
        return value

    def invoice(self, root: dict[str, Any], doc_type: str | None) -> Invoice | None:
        present = root.get("invoice") is not None
        if doc_type is not None and doc_type != "invoice":
            if present:
                self.fail("invoice-not-allowed", "invoice", value=doc_type)
            return None
        if not present:
            if doc_type == "invoice":
                self.fail("invoice-missing", "invoice")
            return None
        block = self.block(root, "invoice", INVOICE_FIELDS)
        if block is None:
            return None
        total = self.total(block)
        currency = self.string(block, "currency", "invoice.currency", "the string EUR")
        if currency is not None and currency != "EUR":
            self.fail("invoice-currency", "invoice.currency", value=show(currency))
            currency = None
        paid = self.get(block, "paid", "invoice.paid", required=True)
        if paid is not _ABSENT and type(paid) is not bool:
            self.wrong_type("invoice.paid", paid, "true or false")
        if total is None or currency is None or type(paid) is not bool:
            return None
        return Invoice(total, currency, paid)

    def total(self, block: dict[str, Any]) -> Decimal | None:
        path = "invoice.total"
        value = self.string(block, "total", path, 'a quoted decimal string like "84.60"')
        if value is None:
            return None
        if not _TOTAL.fullmatch(value) or Decimal(value) <= 0:
            self.fail("invoice-total-invalid", path, value=show(value))
            return None
        return Decimal(value).quantize(CENT)

    def check_extensions(self) -> None:
        """Extension values are free-form JSON data, but without YAML traps or NaN/infinity."""
        for path, value in self.extensions:
            for where, leaf in _leaves(value, path):
                if isinstance(leaf, Ambiguous):
                    self.wrong_type(where, leaf, "a quoted string")
                elif isinstance(leaf, float) and not math.isfinite(leaf):
                    self.fail(
                        "field-invalid",
                        where,
                        detail="infinite and not-a-number values are not allowed.",
                        hint_detail="Tell the software vendor: write a finite number or a "
                        "quoted string.",
                    )


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Scalar leaves of a (depth-bounded) tree with their paths, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{clip(key, 64)}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _parse_issued_at(text: str) -> datetime | None:
    """RFC 3339 / ISO 8601 extended date-time with a mandatory offset, else None.

    Seconds may be omitted (Java writes ``10:15+01:00``); fractions beyond
    microseconds are truncated; ``T`` or one space separates date and time.
    """
    m = _ISSUED.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    if zulu:
        tz = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        )
    except ValueError:
        return None
