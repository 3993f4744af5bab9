"""The folder contract v1: which outbox files count, and what a sidecar must say.

This is the vendors' API (docs/folder-contract.md). Everything here is a pure
function of its inputs so the rules can be tested exhaustively; the pipeline
does the I/O. Rules are strict and exact on purpose: a drop is either accepted
as written or refused with an error naming the field, the defect and the fix,
never silently reinterpreted.

One module per concern: :mod:`.filenames` (which files count), :mod:`.document`
(the schema v1 and the validated document), :mod:`.reader` (text to plain data,
safely), :mod:`.validation` (the fields), :mod:`.sidecar` (the entry point).
This package exports their public names.
"""

from __future__ import annotations

from .document import (
    DOC_TYPES,
    INSURERS,
    LANGUAGES,
    MAX_DEPTH,
    MAX_SIDECAR_BYTES,
    MEDICAL_TYPES,
    SCHEMA_ID,
    DocumentMeta,
    Invoice,
    Patient,
)
from .filenames import STEM_RE, Format, Kind, Name, classify
from .sidecar import all_errors, example_sidecar, parse_sidecar, sidecar_language

__all__ = [
    "DOC_TYPES", "INSURERS", "LANGUAGES", "MAX_DEPTH", "MAX_SIDECAR_BYTES", "MEDICAL_TYPES",
    "SCHEMA_ID", "STEM_RE", "DocumentMeta", "Format", "Invoice", "Kind", "Name", "Patient",
    "all_errors", "classify", "example_sidecar", "parse_sidecar", "sidecar_language",
]
