"""What a submission must look like: the metadata schema and the identifier syntaxes.

Pure functions of their input, shared by the app (path and query checks) and the
storage engine (which validates again, so no caller can store a record the API
would refuse). Every violation is reported, in a fixed order (the API answer
lists them), and no message echoes a submitted value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from econnector_vault.billing import CURRENCY
from econnector_vault.errors import FieldError, StoreError

__all__ = [
    "DOCUMENT_TYPES",
    "INSURERS",
    "METADATA_MAX_DEPTH",
    "is_matricule",
    "is_provider_code",
    "is_vault_document_id",
    "json_too_deep",
    "metadata_invalid",
    "parse_metadata",
    "require_idempotency_key",
    "validate_metadata",
]

# The schema nests 2 levels; vendors' x- keys get some room. Deeper JSON would
# otherwise reach Python's recursion limit (a 500, which clients retry).
METADATA_MAX_DEPTH = 32
DOCUMENT_TYPES = ("invoice", "prescription", "certificate", "sick-leave-certificate")
INSURERS = ("CNS", "CMFEP", "CMFEC", "EMCFL", "RCAM")

_IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DOCUMENT_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MATRICULE_RE = re.compile(r"[0-9]{13}")
_PROVIDER_CODE_RE = re.compile(r"[0-9]{8}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
_TOTAL_RE = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
_VAULT_ID_RE = re.compile(r"vd_[0-9a-f]{32}")
_MAX_TEXT = 200
_REQUIRED = ("document_id", "type", "issued_at", "patient", "author", "original_sha256")
_OPTIONAL = ("submitted_by", "submitted_by_name", "invoice_qr_reference", "language",
             "invoice")


# -- identifiers ----------------------------------------------------------------------------------


def require_idempotency_key(key: str | None) -> str:
    """``key`` when it is a well-formed Idempotency-Key, else raise ``idempotency-key-invalid``."""
    if key is not None and _IDEMPOTENCY_KEY_RE.fullmatch(key):
        return key
    raise StoreError(
        400,
        "idempotency-key-invalid",
        "Invalid Idempotency-Key",
        "The Idempotency-Key header is required: 1 to 128 characters of A-Z a-z 0-9 . _ : -.",
        [FieldError("Idempotency-Key", "required; 1-128 characters of [A-Za-z0-9._:-]")],
    )


def is_vault_document_id(value: str) -> bool:
    return _VAULT_ID_RE.fullmatch(value) is not None


def is_matricule(value: str) -> bool:
    return _MATRICULE_RE.fullmatch(value) is not None


def is_provider_code(value: str) -> bool:
    return _PROVIDER_CODE_RE.fullmatch(value) is not None


# -- the metadata schema --------------------------------------------------------------------------


def metadata_invalid(errors: Sequence[FieldError]) -> StoreError:
    """The ``metadata-invalid`` refusal naming every bad field."""
    names = ", ".join(e.field for e in errors)
    return StoreError(
        422, "metadata-invalid", "Invalid metadata", f"The metadata is invalid: {names}.", errors
    )


def parse_metadata(raw: object) -> dict[str, Any]:
    """The upload's ``metadata`` form field as a valid metadata object, else a StoreError.

    The nesting depth is checked before parsing: a linear scan cannot hit the
    recursion limit that ``json.loads`` would.
    """
    if not isinstance(raw, str):
        raise _unreadable("The metadata is missing.", "is required as a JSON form field")
    if json_too_deep(raw, METADATA_MAX_DEPTH):
        raise StoreError(
            422,
            "metadata-too-deep",
            "Metadata nested too deeply",
            f"The metadata nests deeper than {METADATA_MAX_DEPTH} levels.",
            [FieldError("metadata", f"nests deeper than {METADATA_MAX_DEPTH} levels")],
        )
    try:
        metadata = json.loads(raw)
    except (ValueError, RecursionError):
        raise _unreadable("The metadata is not JSON.", "is not valid JSON") from None
    errors = validate_metadata(metadata)
    if errors:
        raise metadata_invalid(errors)
    assert isinstance(metadata, dict)  # validate_metadata refuses anything else
    return metadata


def _unreadable(detail: str, message: str) -> StoreError:
    return StoreError(
        422, "metadata-invalid", "Invalid metadata", detail, [FieldError("metadata", message)]
    )


def json_too_deep(text: str, limit: int) -> bool:
    """True when JSON ``text`` nests arrays/objects deeper than ``limit`` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def validate_metadata(meta: Any) -> list[FieldError]:
    """Every schema violation in a document's metadata (empty when valid).

    Unknown keys are errors so typos cannot silently drop data; vendors put
    their own data under top-level keys starting with ``x-``.
    """
    if not isinstance(meta, dict):
        return [FieldError("metadata", "must be a JSON object")]
    errors: list[FieldError] = []
    _check_keys(meta, errors)
    _check_document(meta, errors)
    if "patient" in meta:
        _check_patient(meta["patient"], errors)
    if "author" in meta:
        _check_author(meta["author"], errors)
    _check_optional(meta, errors)
    _check_invoice(meta, errors)
    if "original_sha256" in meta and not _matches(_SHA256_RE, meta["original_sha256"]):
        errors.append(FieldError("original_sha256", "must be 64 hexadecimal characters"))
    return errors


def _check_keys(meta: dict[Any, Any], errors: list[FieldError]) -> None:
    for key in _REQUIRED:
        if key not in meta:
            errors.append(FieldError(key, "is required"))
    for key in meta:
        if key not in _REQUIRED and key not in _OPTIONAL and not str(key).startswith("x-"):
            errors.append(
                FieldError(_key_name(key), "is not part of the schema (prefix custom keys x-)")
            )


def _check_document(meta: dict[Any, Any], errors: list[FieldError]) -> None:
    if "document_id" in meta and not _matches(_DOCUMENT_ID_RE, meta["document_id"]):
        errors.append(FieldError("document_id", "must be 1-64 characters of [A-Za-z0-9._-]"))
    if "type" in meta and meta["type"] not in DOCUMENT_TYPES:
        errors.append(FieldError("type", "must be one of " + ", ".join(DOCUMENT_TYPES)))
    if "issued_at" in meta and not _is_offset_datetime(meta["issued_at"]):
        errors.append(FieldError("issued_at", "must be an ISO 8601 date-time with a UTC offset"))


def _check_patient(value: Any, errors: list[FieldError]) -> None:
    patient = _check_object(
        value, "patient", ("matricule", "insurer"), ("last_name", "first_name"), errors
    )
    if patient is None:
        return
    if "matricule" in patient and not (
        isinstance(patient["matricule"], str) and is_matricule(patient["matricule"])
    ):
        errors.append(FieldError("patient.matricule", "must be a string of 13 digits"))
    if "insurer" in patient and patient["insurer"] not in INSURERS:
        errors.append(FieldError("patient.insurer", "must be one of " + ", ".join(INSURERS)))
    for name in ("last_name", "first_name"):
        if name in patient and not _text(patient[name]):
            errors.append(
                FieldError(f"patient.{name}", f"must be a string of 1-{_MAX_TEXT} characters")
            )


def _check_author(value: Any, errors: list[FieldError]) -> None:
    author = _check_object(value, "author", ("provider_code",), (), errors)
    if (
        author is not None
        and "provider_code" in author
        and not (
            isinstance(author["provider_code"], str) and is_provider_code(author["provider_code"])
        )
    ):
        errors.append(FieldError("author.provider_code", "must be a string of 8 digits"))


def _check_optional(meta: dict[Any, Any], errors: list[FieldError]) -> None:
    for key in ("submitted_by", "submitted_by_name", "invoice_qr_reference"):
        if key in meta and not _text(meta[key]):
            errors.append(FieldError(key, f"must be a string of 1-{_MAX_TEXT} characters"))
    if "language" in meta and not _matches(_LANGUAGE_RE, meta["language"]):
        errors.append(FieldError("language", "must be a two-letter lowercase ISO 639-1 code"))


def _check_invoice(meta: dict[Any, Any], errors: list[FieldError]) -> None:
    doc_type = meta.get("type")
    if doc_type == "invoice" and "invoice" not in meta:
        errors.append(FieldError("invoice", "is required when type is invoice"))
    if "invoice" not in meta:
        return
    if doc_type in DOCUMENT_TYPES and doc_type != "invoice":
        errors.append(FieldError("invoice", "is only allowed when type is invoice"))
    invoice = _check_object(meta["invoice"], "invoice", ("total", "currency", "paid"), (), errors)
    if invoice is None:
        return
    if "total" in invoice and not _matches(_TOTAL_RE, invoice["total"]):
        errors.append(
            FieldError("invoice.total", "must be a decimal string with at most 2 decimals")
        )
    if "currency" in invoice and invoice["currency"] != CURRENCY:
        errors.append(FieldError("invoice.currency", "must be EUR"))
    if "paid" in invoice and not isinstance(invoice["paid"], bool):
        errors.append(FieldError("invoice.paid", "must be true or false"))


def _check_object(
    value: Any,
    path: str,
    required: Sequence[str],
    optional: Sequence[str],
    errors: list[FieldError],
) -> dict[str, Any] | None:
    """The mapping at ``path`` after recording missing and unknown keys, or None if not one."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, "must be an object"))
        return None
    for key in required:
        if key not in value:
            errors.append(FieldError(f"{path}.{key}", "is required"))
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            errors.append(FieldError(f"{path}.{_key_name(key)}", "is not part of the schema"))
    return value


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT


def _key_name(key: Any) -> str:
    """A printable field name for an unknown key (an empty key would name nothing)."""
    return str(key) if key != "" else '""'


def _is_offset_datetime(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None
