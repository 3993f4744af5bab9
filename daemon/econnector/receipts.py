"""What the practice reads: status, receipt and error documents, and their text forms.

Pure builders (data in, dict or text out); the pipeline writes them atomically.
Receipts for people are localized (fr, de, en); the JSON forms are the API.
Patient identity is never printed in full: the matricule is masked and names
are left out of receipts on purpose (the practice already has them).
"""

from __future__ import annotations

from typing import Any

from . import matricule

STATUS_SCHEMA = "econnector.status/v1"
RECEIPT_SCHEMA = "econnector.receipt/v1"
ERROR_SCHEMA = "econnector.error/v1"

TYPE_NAMES = {
    "fr": {
        "invoice": "Facture", "prescription": "Ordonnance", "certificate": "Certificat",
        "sick-leave-certificate": "Certificat d'incapacité de travail",
    },
    "de": {
        "invoice": "Rechnung", "prescription": "Verschreibung", "certificate": "Bescheinigung",
        "sick-leave-certificate": "Arbeitsunfähigkeitsbescheinigung",
    },
    "en": {
        "invoice": "Invoice", "prescription": "Prescription", "certificate": "Certificate",
        "sick-leave-certificate": "Sick-leave certificate",
    },
}

LABELS = {
    "fr": {
        "title": "Accusé de dépôt - document signé et remis au coffre-fort du patient",
        "document_id": "Numéro du document", "type": "Type", "provider_code": "Code prestataire",
        "submitted_by": "Envoyé par", "patient": "Patient (matricule masqué)",
        "insurer": "Caisse", "vault_document_id": "Référence coffre-fort",
        "signed_at": "Signé le", "delivered_at": "Remis le", "signature": "Signature",
        "signer": "Signataire", "serial": "N° de série du certificat",
        "original_sha256": "Empreinte SHA-256 de l'original",
        "signed_sha256": "Empreinte SHA-256 du document signé", "fee": "Frais enregistrés",
        "error_title": "Document refusé - il n'a pas été envoyé",
        "error_code": "Code", "error_field": "Champ", "error_fix": "Comment corriger",
        "error_files": "Fichiers", "error_kept": "L'original est conservé dans le dossier failed/.",
    },
    "de": {
        "title": "Zustellbestätigung - Dokument signiert und im Patientensafe hinterlegt",
        "document_id": "Dokumentnummer", "type": "Art", "provider_code": "Leistungserbringer-Code",
        "submitted_by": "Gesendet von", "patient": "Patient (Matrikel maskiert)",
        "insurer": "Kasse", "vault_document_id": "Safe-Referenz",
        "signed_at": "Signiert am", "delivered_at": "Zugestellt am", "signature": "Signatur",
        "signer": "Unterzeichner", "serial": "Seriennummer des Zertifikats",
        "original_sha256": "SHA-256 des Originals",
        "signed_sha256": "SHA-256 des signierten Dokuments", "fee": "Erfasste Gebühr",
        "error_title": "Dokument abgelehnt - es wurde nicht gesendet",
        "error_code": "Code", "error_field": "Feld", "error_fix": "So beheben Sie es",
        "error_files": "Dateien", "error_kept": "Das Original bleibt im Ordner failed/ erhalten.",
    },
    "en": {
        "title": "Delivery receipt - document signed and placed in the patient's vault",
        "document_id": "Document number", "type": "Type", "provider_code": "Provider code",
        "submitted_by": "Sent by", "patient": "Patient (masked matricule)",
        "insurer": "Insurer", "vault_document_id": "Vault reference",
        "signed_at": "Signed at", "delivered_at": "Delivered at", "signature": "Signature",
        "signer": "Signer", "serial": "Certificate serial number",
        "original_sha256": "SHA-256 of the original",
        "signed_sha256": "SHA-256 of the signed document", "fee": "Fee recorded",
        "error_title": "Document refused - it was not sent",
        "error_code": "Code", "error_field": "Field", "error_fix": "How to fix it",
        "error_files": "Files", "error_kept": "The original is kept in the failed/ folder.",
    },
}


def status_doc(
    *,
    document_id: str | None,
    stem: str,
    state: str,
    updated_at: str,
    attempts: int = 0,
    reason: str | None = None,
    next_attempt_at: str | None = None,
    message: str = "",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": STATUS_SCHEMA,
        "document_id": document_id,
        "file": stem,
        "state": state,
        "updated_at": updated_at,
        "attempts": attempts,
        "message": message,
    }
    if reason:
        doc["reason"] = reason
    if next_attempt_at:
        doc["next_attempt_at"] = next_attempt_at
    return doc


def receipt_doc(
    *,
    meta: dict[str, Any],
    delivery: dict[str, Any],
    signature: dict[str, Any],
    signed_at: str,
    delivered_at: str,
    original_sha256: str,
    signed_sha256: str,
) -> dict[str, Any]:
    patient = meta["patient"]
    return {
        "schema": RECEIPT_SCHEMA,
        "document_id": meta["document_id"],
        "type": meta["type"],
        "provider_code": meta["author"]["provider_code"],
        "submitted_by": meta.get("submitted_by"),
        "patient": {
            "matricule_masked": matricule.mask(patient["matricule"]),
            "insurer": patient["insurer"],
        },
        "vault_document_id": delivery["vault_document_id"],
        "signed_at": signed_at,
        "delivered_at": delivered_at,
        "signature": signature,
        "original_sha256": original_sha256,
        "signed_sha256": signed_sha256,
        "fee": {"amount": delivery["fee_amount"], "currency": delivery["fee_currency"]},
    }


def receipt_text(receipt: dict[str, Any], language: str) -> str:
    lang = language if language in LABELS else "en"
    L, T = LABELS[lang], TYPE_NAMES[lang]
    sig = receipt["signature"]
    rows = [
        (L["document_id"], receipt["document_id"]),
        (L["type"], T.get(receipt["type"], receipt["type"])),
        (L["provider_code"], receipt["provider_code"]),
        (L["submitted_by"], receipt.get("submitted_by") or "-"),
        (L["patient"], receipt["patient"]["matricule_masked"]),
        (L["insurer"], receipt["patient"]["insurer"]),
        (L["vault_document_id"], receipt["vault_document_id"]),
        (L["signed_at"], receipt["signed_at"]),
        (L["delivered_at"], receipt["delivered_at"]),
        (L["signature"], f"{sig['level']} ({sig['subfilter']}, {sig['digest_algorithm']})"),
        (L["signer"], sig["signer_subject"]),
        (L["serial"], sig["certificate_serial"]),
        (L["original_sha256"], receipt["original_sha256"]),
        (L["signed_sha256"], receipt["signed_sha256"]),
        (L["fee"], f"{receipt['fee']['amount']} {receipt['fee']['currency']}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [L["title"], "=" * len(L["title"]), ""]
    lines += [f"{k.ljust(width)} : {v}" for k, v in rows]
    return "\n".join(lines) + "\n"


def error_doc(
    *,
    code: str,
    message: str,
    hint: str,
    field: str | None,
    document_id: str | None,
    files: list[str],
    rejected_at: str,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": ERROR_SCHEMA,
        "document_id": document_id,
        "code": code,
        "field": field,
        "message": message,
        "hint": hint,
        "files": files,
        "rejected_at": rejected_at,
    }
    return doc


def error_text(err: dict[str, Any], language: str) -> str:
    """Error files name the defect in the staff's language; message and hint stay in English
    (they are the API's stable text), with the localized headings around them."""
    lang = language if language in LABELS else "en"
    L = LABELS[lang]
    lines = [L["error_title"], "=" * len(L["error_title"]), ""]
    lines.append(f"{L['error_code']}: {err['code']}")
    if err.get("field"):
        lines.append(f"{L['error_field']}: {err['field']}")
    if err.get("document_id"):
        lines.append(f"{L['document_id']}: {err['document_id']}")
    lines.append(f"{L['error_files']}: {', '.join(err['files'])}")
    lines += ["", err["message"], "", f"{L['error_fix']}: {err['hint']}", "", L["error_kept"]]
    return "\n".join(lines) + "\n"
