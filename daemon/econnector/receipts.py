"""What the practice reads: status, receipt and error documents, and their text forms.

Pure builders (data in, dict or text out); the pipeline writes them atomically.
Receipts for people are localized (fr, de, en); the JSON forms are the API.
Patient identity is never printed in full: the matricule is masked and names
are left out of receipts on purpose (the practice already has them). Times in
the JSON forms are UTC (ISO 8601); the text forms show them in Luxembourg
local time with the offset, in each language's usual date order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from . import matricule
from .errors import render
from .messages import STATE_TEXTS
from .messages.patient_status import meaning
from .states import State

if TYPE_CHECKING:
    from .statestore import Delivery, Drop, InvoiceQr, Meta, PatientStatus, Receipt, Signature


def iso(ts: float) -> str:
    """An epoch time as the files write it: ISO 8601, UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

LOCAL_ZONE: Final = ZoneInfo("Europe/Luxembourg")  # tzdata is a dependency: no system zones
_DATE_FORMATS: Final = {"fr": "%d/%m/%Y %H:%M:%S", "de": "%d.%m.%Y %H:%M:%S",
                        "en": "%Y-%m-%d %H:%M:%S"}

STATUS_SCHEMA = "econnector.status/v1"
RECEIPT_SCHEMA = "econnector.receipt/v1"
ERROR_SCHEMA = "econnector.error/v1"
OPTED_OUT_SCHEMA = "econnector.opted-out/v1"

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
        "check": "Contrôle avant envoi", "check_ok": "signature intacte",
        "check_trusted": "certificat reconnu (chaîne vers les autorités configurées)",
        "check_untrusted": "chaîne du certificat non contrôlée (aucune autorité configurée)",
        "check_timestamp": "horodatage du {when}",
        "check_revocation": "preuves de non-révocation intégrées",
        "check_doc_timestamp": "horodatage d'archivage du {when}",
        "original_sha256": "Empreinte SHA-256 de l'original",
        "signed_sha256": "Empreinte SHA-256 du document signé", "fee": "Frais enregistrés",
        "error_title": "Document refusé - il n'a pas été envoyé",
        "error_code": "Code", "error_field": "Champ", "error_fix": "Comment corriger",
        "error_files": "Fichiers", "error_kept": "L'original est conservé dans le dossier failed/.",
        "rejected_at": "Refusé le",
        "patient_status": "Statut numérique du patient", "invoice_qr": "Référence du code QR",
    },
    "de": {
        "title": "Zustellbestätigung - Dokument signiert und im Patientensafe hinterlegt",
        "document_id": "Dokumentnummer", "type": "Art", "provider_code": "Leistungserbringer-Code",
        "submitted_by": "Gesendet von", "patient": "Patient (Matrikel maskiert)",
        "insurer": "Kasse", "vault_document_id": "Safe-Referenz",
        "signed_at": "Signiert am", "delivered_at": "Zugestellt am", "signature": "Signatur",
        "signer": "Unterzeichner", "serial": "Seriennummer des Zertifikats",
        "check": "Prüfung vor dem Versand", "check_ok": "Signatur unversehrt",
        "check_trusted": "Zertifikat anerkannt (Kette zu den konfigurierten Stellen)",
        "check_untrusted": "Zertifikatskette nicht geprüft (keine Stelle konfiguriert)",
        "check_timestamp": "Zeitstempel vom {when}",
        "check_revocation": "Nachweise der Nichtsperrung eingebettet",
        "check_doc_timestamp": "Archivzeitstempel vom {when}",
        "original_sha256": "SHA-256 des Originals",
        "signed_sha256": "SHA-256 des signierten Dokuments", "fee": "Erfasste Gebühr",
        "error_title": "Dokument abgelehnt - es wurde nicht gesendet",
        "error_code": "Code", "error_field": "Feld", "error_fix": "So beheben Sie es",
        "error_files": "Dateien", "error_kept": "Das Original bleibt im Ordner failed/ erhalten.",
        "rejected_at": "Abgelehnt am",
        "patient_status": "Digitaler Status des Patienten", "invoice_qr": "Referenz des QR-Codes",
    },
    "en": {
        "title": "Delivery receipt - document signed and placed in the patient's vault",
        "document_id": "Document number", "type": "Type", "provider_code": "Provider code",
        "submitted_by": "Sent by", "patient": "Patient (masked matricule)",
        "insurer": "Insurer", "vault_document_id": "Vault reference",
        "signed_at": "Signed at", "delivered_at": "Delivered at", "signature": "Signature",
        "signer": "Signer", "serial": "Certificate serial number",
        "check": "Check before sending", "check_ok": "signature intact",
        "check_trusted": "certificate trusted (chains to the configured authorities)",
        "check_untrusted": "certificate chain not checked (no authority configured)",
        "check_timestamp": "timestamp of {when}",
        "check_revocation": "proof of non-revocation embedded",
        "check_doc_timestamp": "archive timestamp of {when}",
        "original_sha256": "SHA-256 of the original",
        "signed_sha256": "SHA-256 of the signed document", "fee": "Fee recorded",
        "error_title": "Document refused - it was not sent",
        "error_code": "Code", "error_field": "Field", "error_fix": "How to fix it",
        "error_files": "Files", "error_kept": "The original is kept in the failed/ folder.",
        "rejected_at": "Refused at",
        "patient_status": "Patient's digital status", "invoice_qr": "QR code reference",
    },
}

# Certificate subject attributes, by their RFC 4514 short name and by the long
# name asn1crypto's ``human_friendly`` writes; anything else is shown as it is.
_SUBJECT_KEYS: Final = {
    "cn": "name", "common name": "name",
    "serialnumber": "serial", "serial number": "serial",
    "o": "organization", "organization": "organization", "organization name": "organization",
    "ou": "unit", "organizational unit": "unit", "organizational unit name": "unit",
    "c": "country", "country": "country", "country name": "country",
    "l": "locality", "locality": "locality", "locality name": "locality",
    "givenname": "given_name", "given name": "given_name",
    "sn": "surname", "surname": "surname",
    "title": "title",
    "emailaddress": "email", "email address": "email",
}
SUBJECT_LABELS: Final = {
    "fr": {"name": "Nom", "serial": "N° de série", "organization": "Organisation",
           "unit": "Service", "country": "Pays", "locality": "Localité",
           "given_name": "Prénom", "surname": "Nom de famille", "title": "Titre",
           "email": "E-mail"},
    "de": {"name": "Name", "serial": "Seriennummer", "organization": "Organisation",
           "unit": "Abteilung", "country": "Land", "locality": "Ort",
           "given_name": "Vorname", "surname": "Nachname", "title": "Titel",
           "email": "E-Mail"},
    "en": {"name": "Name", "serial": "Serial number", "organization": "Organisation",
           "unit": "Unit", "country": "Country", "locality": "Locality",
           "given_name": "Given name", "surname": "Surname", "title": "Title",
           "email": "E-mail"},
}
_RFC4514_SPLIT = re.compile(r"(?<!\\),(?=\s*[A-Za-z][A-Za-z0-9.-]*=)")
_FRIENDLY_SPLIT = re.compile(r", (?=[A-Z][A-Za-z ]*: )")


def local_time(stamp: str, language: str) -> str:
    """An ISO 8601 time as Luxembourg local time with its offset, for people:
    ``25/11/2026 10:16:02 (UTC+01:00)`` (fr), ``25.11.2026 …`` (de),
    ``2026-11-25 …`` (en). Anything unparsable is shown as it is."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return str(stamp)
    if when.tzinfo is None:
        return stamp
    local = when.astimezone(LOCAL_ZONE)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    fmt = _DATE_FORMATS.get(language, _DATE_FORMATS["en"])
    return f"{local.strftime(fmt)} (UTC{sign}{hh:02d}:{mm:02d})"


def subject_text(subject: str, language: str) -> str:
    """A certificate subject with its attribute names in ``language``.

    Accepts an RFC 4514 name (``CN=Dr Marie Schmit,O=Cabinet Schmit,C=LU``) and
    asn1crypto's ``Common Name: …, Country: …`` form; unknown parts stay as written.
    """
    labels = SUBJECT_LABELS.get(language, SUBJECT_LABELS["en"])
    if re.match(r"\s*[A-Za-z][A-Za-z0-9.-]*=", subject):
        parts = [p.split("=", 1) for p in _RFC4514_SPLIT.split(subject)]
        pairs = [(k.strip(), v.strip().replace("\\,", ",")) for k, v in parts]
    elif ": " in subject:
        parts = [p.split(": ", 1) for p in _FRIENDLY_SPLIT.split(subject)]
        pairs = [(p[0].strip(), p[1].strip()) if len(p) == 2 else ("", p[0]) for p in parts]
    else:
        return subject
    shown = []
    for key, value in pairs:
        label = labels.get(_SUBJECT_KEYS.get(key.lower(), ""), key)
        shown.append(f"{label}: {value}" if label else value)
    return "; ".join(shown)


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


# States whose status file names the reason (a code the practice can look up).
_WITH_REASON = frozenset({State.HELD, State.WAITING_RETRY, State.REJECTED,
                          State.PATIENT_OPTED_OUT})


def drop_status_doc(d: Drop, *, final: bool, default_language: str) -> dict[str, Any]:
    """``<stem>.status.json`` for a drop. ``final``: written as the last step of
    finishing; before that a delivered drop still says 'delivering' (its receipt is
    not on disk yet)."""
    state = d.state.value
    if d.state is State.DELIVERED and d.finalized_at is None and not final:
        state = "delivering"
    message = d.message or state_message(state, d.language or default_language)
    doc = status_doc(
        document_id=d.document_id, stem=d.stem, state=state, updated_at=iso(d.updated_at),
        attempts=d.attempts,
        reason=d.reason if d.state in _WITH_REASON else None,
        next_attempt_at=iso(d.next_attempt_at)
        if d.state is State.WAITING_RETRY and d.next_attempt_at else None,
        message=message,
    )
    if d.patient_status is not None and state in ("delivered", "patient-opted-out"):
        doc["patient_status"] = d.patient_status["status"]
    if d.followup is not None and d.followup.get("opened_at"):
        # What happened after delivery (followup.py): the patient opened it.
        doc["opened_at"] = d.followup["opened_at"]
    return doc


def opted_out_doc(d: Drop, *, decided_at: str, language: str) -> dict[str, Any]:
    """``<stem>.opted-out.json``: the document is finished, signed but not sent; the
    text (in the drop's language) tells staff to print the signed PDF."""
    signed = f"{d.stem}.signed.pdf"
    message, hint = render("patient-opted-out", {"signed": signed}, language)
    return {
        "schema": OPTED_OUT_SCHEMA, "document_id": d.document_id, "state": "patient-opted-out",
        "code": "patient-opted-out", "message": message, "hint": hint, "signed_file": signed,
        "signature": d.signature, "signed_sha256": d.signed_sha256, "decided_at": decided_at,
        # The outcome, for software that does not know the state names: not sent, not
        # billed (docs/folder-contract.md).
        "outcome": "not-sent",
        "patient_status": d.patient_status,
    }


def opted_out_text(doc: dict[str, Any]) -> str:
    return f"{doc['message']}\n\n{doc['hint']}\n"


def receipt_doc(
    *,
    meta: Meta,
    delivery: Delivery,
    signature: Signature,
    signed_at: str,
    delivered_at: str,
    original_sha256: str,
    signed_sha256: str,
    patient_status: PatientStatus | None = None,
    invoice_qr: InvoiceQr | None = None,
    submitted_by_name: str | None = None,
    node: str | None = None,
) -> Receipt:
    patient = meta["patient"]
    receipt: Receipt = {
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
    if patient_status is not None:
        receipt["patient_status"] = patient_status
    if invoice_qr is not None:
        receipt["invoice_qr"] = invoice_qr
    if submitted_by_name:
        receipt["submitted_by_name"] = submitted_by_name
    if node:
        receipt["node"] = node
    return receipt


def check_text(validation: dict[str, Any], lang: str) -> str:
    """What the self-check before upload found, in the staff's words."""
    L = LABELS[lang]
    parts = [L["check_ok"],
             L["check_trusted"] if validation.get("trusted") else L["check_untrusted"]]
    if validation.get("timestamp"):
        parts.append(L["check_timestamp"].format(when=local_time(validation["timestamp"], lang)))
    if validation.get("revocation_data"):
        parts.append(L["check_revocation"])
    if validation.get("document_timestamp"):
        parts.append(L["check_doc_timestamp"].format(
            when=local_time(validation["document_timestamp"], lang)))
    return "; ".join(parts)


def _sender(receipt: Receipt) -> str:
    """Who sent it: the login, with the assistant's name when a grant gave one."""
    login, name = receipt.get("submitted_by"), receipt.get("submitted_by_name")
    if not login:
        return "-"
    return f"{name} ({login})" if name else login


def receipt_text(receipt: Receipt, language: str) -> str:
    lang = language if language in LABELS else "en"
    L, T = LABELS[lang], TYPE_NAMES[lang]
    sig = receipt["signature"]
    rows = [
        (L["document_id"], receipt["document_id"]),
        (L["type"], T.get(receipt["type"], receipt["type"])),
        (L["provider_code"], receipt["provider_code"]),
        (L["submitted_by"], _sender(receipt)),
        (L["patient"], receipt["patient"]["matricule_masked"]),
        (L["insurer"], receipt["patient"]["insurer"]),
        *([(L["patient_status"], meaning(receipt["patient_status"]["status"], lang))]
          if receipt.get("patient_status") else []),
        *([(L["invoice_qr"], receipt["invoice_qr"]["reference"])]
          if receipt.get("invoice_qr") else []),
        (L["vault_document_id"], receipt["vault_document_id"]),
        (L["signed_at"], local_time(receipt["signed_at"], lang)),
        (L["delivered_at"], local_time(receipt["delivered_at"], lang)),
        (L["signature"], f"{sig['level']} ({sig['subfilter']}, {sig['digest_algorithm']})"),
        (L["signer"], subject_text(sig["signer_subject"], lang)),
        *([(L["check"], check_text(sig["validation"], lang))] if sig.get("validation") else []),
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
    language: str = "en",
) -> dict[str, Any]:
    """The error file; ``message`` and ``hint`` are already in ``language`` (the
    staff's), which the file names; vendors match on ``code`` and ``field``."""
    doc: dict[str, Any] = {
        "schema": ERROR_SCHEMA,
        "document_id": document_id,
        "code": code,
        "field": field,
        "language": language,
        "message": message,
        "hint": hint,
        "files": files,
        "rejected_at": rejected_at,
    }
    return doc


def error_text(err: dict[str, Any], language: str) -> str:
    """The error file for people: headings, message and hint in the staff's language
    (message and hint come rendered in it), the time in Luxembourg local time."""
    lang = language if language in LABELS else "en"
    L = LABELS[lang]
    lines = [L["error_title"], "=" * len(L["error_title"]), ""]
    lines.append(f"{L['error_code']}: {err['code']}")
    if err.get("field"):
        lines.append(f"{L['error_field']}: {err['field']}")
    if err.get("document_id"):
        lines.append(f"{L['document_id']}: {err['document_id']}")
    lines.append(f"{L['error_files']}: {', '.join(err['files'])}")
    if err.get("rejected_at"):
        lines.append(f"{L['rejected_at']}: {local_time(err['rejected_at'], lang)}")
    lines += ["", err["message"], "", f"{L['error_fix']}: {err['hint']}", "", L["error_kept"]]
    return "\n".join(lines) + "\n"


def state_message(state: str, language: str) -> str:
    """The status file's message for a state without a reason code, in ``language``."""
    return STATE_TEXTS.get(language, STATE_TEXTS["en"]).get(state, "")
