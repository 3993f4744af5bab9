"""The sidecar schema v1: its constants and the validated document.

:class:`DocumentMeta` is what a valid sidecar says; its :meth:`~DocumentMeta.canonical`
form is the vault's metadata and what duplicate detection hashes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

SCHEMA_ID: Final = "econnector.document/v1"
DOC_TYPES: Final = ("invoice", "prescription", "certificate", "sick-leave-certificate")
# Medical content belongs in the shared care record (DSP), not the vault: these
# names get a specific refusal instead of "unknown type". Matched after
# lower-casing and turning spaces/underscores into hyphens.
MEDICAL_TYPES: Final = frozenset(
    [
        "anamnesis",
        "arztbrief",
        "befund",
        "biology",
        "biology-report",
        "clinical-note",
        "compte-rendu",
        "consultation-note",
        "consultation-report",
        "diagnosis",
        "discharge-letter",
        "discharge-summary",
        "ecg",
        "entlassungsbrief",
        "histology",
        "imaging",
        "imaging-report",
        "lab",
        "lab-report",
        "lab-result",
        "laboratory-report",
        "laboratory-result",
        "laborbefund",
        "lettre-de-sortie",
        "medical-history",
        "medical-letter",
        "medical-record",
        "medical-report",
        "mri",
        "operative-report",
        "pathology",
        "pathology-report",
        "patient-summary",
        "radiologie",
        "radiology",
        "radiology-report",
        "rapport-medical",
        "referral-letter",
        "report",
        "test-result",
        "ultrasound",
        "vaccination-record",
        "x-ray",
    ]
)
INSURERS: Final = ("CNS", "CMFEP", "CMFEC", "EMCFL", "RCAM")
LANGUAGES: Final = ("fr", "de", "en")
MAX_SIDECAR_BYTES: Final = 65536
MAX_DEPTH: Final = 32  # nested mappings/lists; the schema itself needs 2

# The fields of each level, in the folder contract's order (``x-`` keys aside).
TOP_FIELDS: Final = (
    "schema",
    "document_id",
    "type",
    "issued_at",
    "language",
    "patient",
    "author",
    "submitted_by",
    "invoice",
)
PATIENT_FIELDS: Final = ("matricule", "last_name", "first_name", "insurer")
AUTHOR_FIELDS: Final = ("provider_code",)
INVOICE_FIELDS: Final = ("total", "currency", "paid")
CENT: Final = Decimal("0.01")


def is_extension(key: str) -> bool:
    """An ``x-`` key: vendor data, accepted as it is."""
    return key.startswith("x-") and len(key) > 2


# -- the parsed document --------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    matricule: str
    insurer: str
    last_name: str | None
    first_name: str | None


@dataclass(frozen=True)
class Invoice:
    total: Decimal  # quantized to cents: Decimal("84.60")
    currency: str
    paid: bool


@dataclass(frozen=True)
class DocumentMeta:
    """A validated v1 sidecar.

    ``extensions`` holds the ``x-`` keys in document order as ``(path, value)``:
    top-level ones as ``"x-name"``, nested ones as ``"patient.x-name"``,
    ``"author.x-name"`` or ``"invoice.x-name"``; values are plain JSON data.
    Compare documents with :meth:`canonical_json`, not ``==``: ``==`` treats
    two ``issued_at`` with different offsets but the same instant as equal.
    """

    document_id: str
    type: str
    issued_at: datetime
    language: str | None
    patient: Patient
    provider_code: str
    submitted_by: str | None
    invoice: Invoice | None
    extensions: tuple[tuple[str, Any], ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The vault metadata: also the content that duplicate detection hashes.

        The sidecar's own shape minus ``schema`` (the vault's metadata schema
        has no such key; add it back and the result parses to this document
        again). Absent optional fields are left out, never null; ``issued_at``
        is normalised (seconds always written, ``Z`` as ``+00:00``, the
        original offset kept); ``invoice.total`` has two decimals, as a string.
        Only top-level ``x-`` keys are included: the vault allows extensions
        at the top level only, so nested ones are accepted but not forwarded.
        """
        patient: dict[str, Any] = {"matricule": self.patient.matricule}
        if self.patient.last_name is not None:
            patient["last_name"] = self.patient.last_name
        if self.patient.first_name is not None:
            patient["first_name"] = self.patient.first_name
        patient["insurer"] = self.patient.insurer

        out: dict[str, Any] = {
            "document_id": self.document_id,
            "type": self.type,
            "issued_at": self.issued_at.isoformat(),
        }
        if self.language is not None:
            out["language"] = self.language
        out["patient"] = patient
        out["author"] = {"provider_code": self.provider_code}
        if self.submitted_by is not None:
            out["submitted_by"] = self.submitted_by
        if self.invoice is not None:
            out["invoice"] = {
                "total": str(self.invoice.total.quantize(CENT)),
                "currency": self.invoice.currency,
                "paid": self.invoice.paid,
            }
        for path, value in self.extensions:
            if is_extension(path):
                out[path] = copy.deepcopy(value)
        return out

    def canonical_json(self) -> bytes:
        """:meth:`canonical` as compact UTF-8 JSON with sorted keys: hash or compare this."""
        return json.dumps(
            self.canonical(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
