"""Errors: one root, stable codes, message templates.

Every error a person may read (an error file, a status file, the CLI) has a
stable ``code`` from :data:`CATALOG` with a message and a hint template. Codes
are part of the folder contract: vendors match on them, so they never change
meaning; new ones may be added.

Exception tree::

    EconnectorError                 code + params -> message, hint
    ├── ConfigError                 bad config or unusable folder: exit non-zero
    ├── Rejected                    permanent for this document: quarantine it
    │   ├── SidecarError            the sidecar (field path in ``field``)
    │   ├── PdfError                the PDF (policy, damage, limits)
    │   └── VaultRejected           the vault refused it for good (409/413/422)
    ├── Transient                   retry later with backoff
    │   ├── VaultUnavailable        network, 5xx, 429, timeouts
    │   └── FileBusy                locked or unreadable for now
    ├── Held                        waits for a person (reason in ``code``)
    │   ├── IdentityHeld            one doctor's key cannot sign now
    │   └── VaultHeld               the vault refuses us all (credentials, TLS)
    ├── PatientOptedOut             final, not an error: the vault will never take it
    └── InternalError               a bug of ours (``internal-error``): keep the document
        └── states.InvalidTransition   an event the state table does not allow

Library exceptions (pyHanko, httpx, OSError) are translated into these only in
the edge modules that call the libraries (signer, vault client, fsio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import messages


@dataclass(frozen=True)
class Spec:
    """Message and hint templates for one code; ``str.format`` fields come from params."""

    message: str
    hint: str


# Codes are grouped by what a vendor must fix. Templates may use {field} and
# any parameter the raiser passes; missing parameters render as "?". The texts
# are for the person at the front desk (no patterns, no jargon: which file, what
# to do); the French and German ones are in :mod:`econnector.messages`, and
# tests/test_i18n.py checks that every code has all three.
CATALOG: dict[str, Spec] = {
    # -- file names and pairing --------------------------------------------
    "bad-file-name": Spec(
        "The file name '{name}' cannot be used by econnector.",
        "Rename the PDF and its data file (same name, ending in .yaml, .yml or .json): "
        "use only letters without accents, digits, dots, dashes and underscores, start with "
        "a letter or digit, at most 120 characters (e.g. 2026-000123.pdf). Then drop both "
        "files again.",
    ),
    "sidecar-ambiguous": Spec(
        "More than one data file was dropped for {stem}.pdf ({stem}.yaml, {stem}.yml or "
        "{stem}.json); econnector cannot tell which one is right.",
        "Drop the PDF again with exactly one data file.",
    ),
    "sidecar-orphaned": Spec(
        "The data file for {stem}.pdf waited {seconds} seconds for its PDF, which never "
        "arrived; nothing was sent.",
        "Send the document again from the practice software (the PDF and its data file "
        "with the same name).",
    ),
    # -- sidecar syntax ---------------------------------------------------------
    "sidecar-too-large": Spec(
        "The document's data file is too large ({size} bytes; at most {limit} bytes).",
        "The data file may only describe the document; tell the software vendor.",
    ),
    "sidecar-encoding": Spec(
        "The document's data file is not readable text (it must be saved as UTF-8).",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-syntax": Spec(
        "The document's data file is damaged and cannot be read as {format}: {detail}",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-yaml-feature": Spec(
        "The document's data file uses a form of writing that is not accepted: {detail}",
        "Tell the software vendor: the data file must be plain YAML, as in the examples "
        "of the folder contract.",
    ),
    "sidecar-not-mapping": Spec(
        "The document's data file is empty or does not list the document's details.",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-schema": Spec(
        "The document's data file has an unknown format version (found {value}).",
        "Tell the software vendor: the data file must say schema: econnector.document/v1.",
    ),
    # -- sidecar fields ---------------------------------------------------------
    "field-missing": Spec(
        "The document's data is incomplete: '{field}' is missing.",
        "Fill in '{field}' in the practice software and send the document again.",
    ),
    "field-unknown": Spec(
        "The document's data contains '{field}', which econnector does not know.",
        "Tell the software vendor: remove '{field}', or write vendor-specific data under "
        "a name starting with x-.",
    ),
    "field-type": Spec(
        "The value of '{field}' is written in the wrong form: it must be {expected}"
        "{yaml_reading}.",
        "Correct '{field}' (it must be {expected}) and send the document again; if the "
        "practice software wrote it, tell the software vendor.",
    ),
    "field-invalid": Spec(
        "The value of '{field}' is not valid: {detail}",
        "{hint_detail}",
    ),
    "document-id-invalid": Spec(
        "The document number must have 1 to 64 characters: letters without accents, "
        "digits, dots, dashes and underscores.",
        "Use the practice's own document number, e.g. 2026-000123, and send the document "
        "again.",
    ),
    "document-type-unknown": Spec(
        "The document type '{value}' is not known.",
        "Choose one of the types invoice, prescription, certificate or sick-leave "
        "certificate, and send the document again.",
    ),
    "document-type-medical": Spec(
        "The document type '{value}' is medical content: it belongs in the shared care "
        "record (DSP), not in the patient's administrative vault.",
        "Send medical documents to the DSP; only invoices, prescriptions, certificates and "
        "sick-leave certificates go through econnector.",
    ),
    "issued-at-invalid": Spec(
        "The document's date and time are not valid (found {value}); they must include "
        "the time zone.",
        "Tell the software vendor: write the date like 2026-11-25T10:15:00+01:00.",
    ),
    "language-unsupported": Spec(
        "The language '{value}' is not available for receipts.",
        "Choose French (fr), German (de) or English (en), or leave the language empty to "
        "use the practice's default.",
    ),
    "matricule-format": Spec(
        "The patient's matricule (national identification number) must be exactly 13 "
        "digits.",
        "Correct the matricule in the patient's record (13 digits, no spaces) and send "
        "the document again.",
    ),
    "matricule-date": Spec(
        "The patient's matricule does not start with a possible date of birth (the first "
        "8 digits: year, month, day).",
        "Check the first 8 digits against the patient's identity document, correct the "
        "patient's record and send the document again.",
    ),
    "matricule-luhn": Spec(
        "The patient's matricule is mistyped: its 12th digit (a check digit) does not "
        "match the others.",
        "Check the number against the patient's social security card, correct the "
        "patient's record and send the document again.",
    ),
    "matricule-verhoeff": Spec(
        "The patient's matricule is mistyped: its 13th digit (a check digit) does not "
        "match the others.",
        "Check the number against the patient's social security card, correct the "
        "patient's record and send the document again.",
    ),
    "insurer-unknown": Spec(
        "The health insurance fund '{value}' is not known.",
        "Choose one of CNS, CMFEP, CMFEC, EMCFL or RCAM in the patient's record and send "
        "the document again.",
    ),
    "provider-unknown": Spec(
        "No doctor with provider code {value} is set up in econnector.",
        "Check the doctor chosen in the practice software, or ask IT to add this doctor's "
        "signing key to econnector.",
    ),
    "invoice-missing": Spec(
        "The document is an invoice, but its amount, currency and payment status are "
        "missing.",
        "Complete the invoice in the practice software and send it again.",
    ),
    "invoice-not-allowed": Spec(
        "The document has invoice details, but its type is {value}, not invoice.",
        "Correct the document type, or remove the invoice details, and send the document "
        "again.",
    ),
    "invoice-total-invalid": Spec(
        "The invoice amount is not valid (found {value}): it must be more than 0, with at "
        "most 2 decimals.",
        "Correct the amount (e.g. 84.60) and send the invoice again.",
    ),
    "invoice-currency": Spec(
        "The invoice currency must be EUR (found {value}).",
        "Set the currency to EUR and send the invoice again.",
    ),
    "sidecar-missing": Spec(
        "The PDF {stem}.pdf waited {seconds} seconds for its data file ({stem}.yaml, "
        "{stem}.yml or {stem}.json), which never arrived; nothing was signed or sent.",
        "Send the document again from the practice software; the PDF and its data file "
        "must have the same name.",
    ),
    "drop-withdrawn": Spec(
        "The file {name} was removed from the outbox folder before econnector had "
        "finished with it; nothing was sent.",
        "If the document should still go out, send it again from the practice software.",
    ),
    "file-not-regular": Spec(
        "The file {name} is {kind}, not an ordinary file; econnector does not open it, "
        "and nothing was signed or sent.",
        "Put the PDF and its data file into the outbox folder as ordinary files (no "
        "shortcuts or links), then send them again.",
    ),
    "file-replaced": Spec(
        "The file {name} was replaced or changed while econnector was working on it; the "
        "earlier version was not sent. The new version is handled as a new document.",
        "Nothing to do for the new version. If this happens often, tell the software "
        "vendor: files must not be changed after they are dropped.",
    ),
    "duplicate-document-id": Spec(
        "Document number {value} of provider {provider} was already sent with other "
        "content.",
        "A sent document cannot be changed: give the corrected document a new document "
        "number and send it.",
    ),
    # -- the PDF ----------------------------------------------------------------
    "pdf-empty": Spec(
        "The PDF file is empty.",
        "Create the PDF again in the practice software and send it once it is complete.",
    ),
    "pdf-not-pdf": Spec(
        "The file is not a PDF document (perhaps another kind of file renamed to .pdf).",
        "Send the PDF export of the document, not a Word file, an image or another format.",
    ),
    "pdf-incomplete": Spec(
        "The PDF is cut off: its end was still missing after {seconds} seconds.",
        "Create the PDF again and make sure the copy finishes, then send it again.",
    ),
    "pdf-too-large": Spec(
        "The PDF is too large ({size} bytes; at most {limit} bytes).",
        "Scan with a lower resolution or split the document, then send it again.",
    ),
    "pdf-damaged": Spec(
        "The PDF is damaged and cannot be read: {detail}",
        "Create the PDF again in the practice software and send it again.",
    ),
    "pdf-encrypted": Spec(
        "The PDF is protected by a password or restrictions, which are not accepted.",
        "Create the PDF again without a password or restrictions and send it again.",
    ),
    "pdf-javascript": Spec(
        "The PDF contains a script (JavaScript), which is not accepted.",
        "Create the PDF again with plain 'print to PDF' and send it again.",
    ),
    "pdf-launch-action": Spec(
        "The PDF contains an action that can start programs, which is not accepted.",
        "Create the PDF again without links that open files or programs and send it again.",
    ),
    "pdf-embedded-executable": Spec(
        "The PDF contains an attached program ({name}), which is not accepted.",
        "Create the PDF again without that attachment; data attachments such as "
        "Factur-X XML are fine.",
    ),
    "pdf-xfa": Spec(
        "The PDF contains a dynamic form (XFA), which cannot be signed reliably and is "
        "not accepted.",
        "Create the PDF again as a flattened or ordinary form and send it again.",
    ),
    "pdf-embedded-pdf-action": Spec(
        "The PDF contains a link that opens another PDF attached to it, which is not "
        "accepted.",
        "Create the PDF again without links that open attachments; attachments "
        "themselves are fine.",
    ),
    "pdf-remote-action": Spec(
        "The PDF contains an action ({action}) that points outside the document "
        "({target}), which is not accepted.",
        "Create the PDF again without links to network files or forms that send data; "
        "ordinary web and e-mail links are fine.",
    ),
    "pdf-too-many-pages": Spec(
        "The PDF has {pages} pages; at most {limit} are accepted.",
        "Split the document and send the parts separately.",
    ),
    "pdf-too-complex": Spec(
        "The PDF is too complex to process (it would need more than {limit} MiB of "
        "memory).",
        "Create the PDF again; an ordinary administrative document is far smaller.",
    ),
    "pdf-processing-timeout": Spec(
        "Processing the PDF took longer than {seconds} seconds and was stopped.",
        "Create the PDF again; the file may be damaged.",
    ),
    "pdf-certified-no-changes": Spec(
        "The PDF is already certified in a way that forbids any change, so it cannot be "
        "signed.",
        "Send the document before it is certified, or without its certification.",
    ),
    "pdf-signing-failed": Spec(
        "The PDF could not be signed: {detail}",
        "Create the PDF again and send it again; if it happens again, give the file to IT.",
    ),
    # -- the vault, permanent -----------------------------------------------------
    "vault-rejected": Spec(
        "The patient's vault refused the document ({status} {vault_code}): {detail}",
        "Correct what the vault names and send the document again.",
    ),
    "vault-conflict": Spec(
        "The vault already holds a different document under this document number.",
        "Give the corrected document a new document number and send it.",
    ),
    "vault-too-large": Spec(
        "The vault refused the document because it is too large.",
        "Scan with a lower resolution or split the document, then send it again.",
    ),
    # -- final, not an error ---------------------------------------------------------
    "patient-opted-out": Spec(
        "The patient has chosen not to use the digital vault: the document was signed "
        "but not sent.",
        "Print the signed PDF {signed} from the inbox folder and hand it to the patient.",
    ),
    # -- transient and held (status files, not error files) ------------------------
    "vault-unavailable": Spec(
        "The vault cannot be reached at the moment ({detail}); econnector keeps trying.",
        "Nothing to do: the document is sent as soon as the vault answers.",
    ),
    "vault-unauthorized": Spec(
        "The vault refused econnector's access ({status}); all sending is paused.",
        "Tell IT: the vault token in the econnector configuration must be renewed or "
        "corrected. The documents wait and go out once it is fixed.",
    ),
    "file-busy": Spec(
        "The file cannot be read yet ({detail}); econnector tries again.",
        "Nothing to do unless this lasts: another program is still using the file.",
    ),
    "certificate-expired": Spec(
        "The signing certificate of provider {provider} expired on {not_after}; "
        "econnector does not sign with it.",
        "The doctor needs a renewed certificate; IT installs it and runs "
        "'econnector check-config'. The documents wait and are signed once it is in place.",
    ),
    "certificate-not-yet-valid": Spec(
        "The signing certificate of provider {provider} is only valid from {not_before}; "
        "econnector does not sign with it before then.",
        "Nothing to do if that date is near; otherwise IT checks the computer's clock and "
        "the certificate.",
    ),
    "vault-tls": Spec(
        "The vault's identity could not be verified ({detail}); all sending is paused.",
        "Tell IT: check vault.url and vault.ca_bundle in the econnector configuration, "
        "then run 'econnector check-config'.",
    ),
    "outbox-missing": Spec(
        "The outbox folder {path} is missing or cannot be read; econnector waits for it.",
        "Tell IT: connect the network drive or create the folder; econnector continues "
        "by itself.",
    ),
    "inbox-missing": Spec(
        "The inbox folder {path} is missing or cannot be written; econnector waits for it.",
        "Tell IT: connect the network drive or create the folder; econnector continues "
        "by itself.",
    ),
    "identity-locked": Spec(
        "The signing key of provider {provider} is locked or unavailable ({detail}).",
        "The doctor or IT unlocks the signing key; the documents wait and are signed then.",
    ),
    "awaiting-sidecar": Spec(
        "The PDF waits for its data file {stem}.yaml, {stem}.yml or {stem}.json.",
        "Nothing to do if the practice software is still sending; otherwise send the "
        "document again.",
    ),
    "awaiting-pdf": Spec(
        "The data file waits for its PDF {stem}.pdf.",
        "Nothing to do if the practice software is still sending; otherwise send the "
        "document again.",
    ),
    "awaiting-eof": Spec(
        "The PDF is not complete yet; econnector waits until it has been fully written.",
        "Nothing to do while the PDF is still being created.",
    ),
    "internal-error": Spec(
        "econnector failed unexpectedly ({detail}).",
        "Tell IT and give them the econnector log; the original is kept.",
    ),
    # -- the installation (check-config and start; exit 2, never in an error file) --
    "secret-file-exposed": Spec(
        "{what}: the secret file {path} has mode {mode} ({how}); econnector refuses to "
        "start with a secret other users can read or change.",
        "Fix: chmod 600 {path} (owned by the service user; or 640 with a group that "
        "only the service is in), then run 'econnector check-config' again.",
    ),
}


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(code: str, params: dict[str, Any], language: str = "en") -> tuple[str, str]:
    """Message and hint for ``code`` in ``language`` (fr, de, en; anything else is
    English); unknown codes render as internal errors.

    Text parameters are escaped here, once for every output (error files, status
    files, the CLI): a file name or a value may hold terminal escapes, newlines,
    bidi overrides or bytes that are not UTF-8. Parameters that are one of the
    known English phrases (``expected``, a file kind, a fixed detail) are
    translated too, so raisers keep passing plain English.
    """
    from .names import shown  # names imports the contract, which imports this module

    if code not in CATALOG:
        code = "internal-error"
    spec = CATALOG[code]
    p = _Params({k: shown(v, 400) if isinstance(v, str) else v for k, v in params.items()})
    p = _Params(messages.localize_params(p, language))
    message, hint = messages.template(code, language) or (spec.message, spec.hint)
    return message.format_map(p), hint.format_map(p)


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The params as plain JSON values, so a stored error can be rendered again later
    (in the drop's language) without the exception object."""
    return {
        k: v if v is None or isinstance(v, str | int | float | bool) else str(v)
        for k, v in params.items()
    }


class EconnectorError(Exception):
    """Root of all econnector errors; carries a stable code and template params.

    ``message`` and ``hint`` are English (logs, the CLI); people's files are
    rendered with :func:`render` in the staff's language from ``code`` and
    ``params``.
    """

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        if code not in CATALOG:
            raise ValueError(f"unregistered error code {code!r}")
        self.code = code
        self.field = field
        self.params: dict[str, Any] = {"field": field, **params}
        self.message, self.hint = render(code, self.params)
        super().__init__(f"{code}: {self.message}")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code, "message": self.message, "hint": self.hint,
            "params": json_params(self.params),
        }
        if self.field:
            out["field"] = self.field
        return out


class ConfigError(EconnectorError):
    """The configuration or a folder is unusable; the daemon does not start.

    Not part of the document catalog: carries its own one-line text.
    """

    def __init__(self, text: str, path: str | None = None) -> None:
        self.code = "config-invalid"
        self.field = path
        self.params = {"field": path}
        self.message = f"{path}: {text}" if path else text
        self.hint = "Fix the configuration file and run 'econnector check-config'."
        Exception.__init__(self, self.message)


class Rejected(EconnectorError):
    """Permanent: the document goes to failed/ with an error file."""


class SidecarError(Rejected):
    """``language`` is the sidecar's own ``language`` when it could be read, even
    though the sidecar was refused: the error file is then written in it."""

    language: str | None = None


class PdfError(Rejected):
    pass


class VaultRejected(Rejected):
    pass


class Transient(EconnectorError):
    """Retry later; ``retry_after`` (seconds) overrides the backoff when the peer sent one."""

    def __init__(
        self, code: str, field: str | None = None, retry_after: float | None = None, **params: Any
    ) -> None:
        super().__init__(code, field, **params)
        self.retry_after = retry_after


class VaultUnavailable(Transient):
    pass


class FileBusy(Transient):
    pass


class Held(EconnectorError):
    """Waits for a person; the code is the hold reason. Never raised itself: the
    two kinds below are released by different events."""


class IdentityHeld(Held):
    """One doctor's key cannot sign now (locked, certificate expired or not yet
    valid): only that doctor's documents wait; released when the identity can sign."""


class VaultHeld(Held):
    """The vault refuses every request of ours (credentials, TLS trust): all
    deliveries wait; released when the vault gate opens again."""


class PatientOptedOut(EconnectorError):
    """The patient opted out of the vault (digital status red): the document ends
    signed but unsent, and staff hand over the printed copy. Neither a defect to
    fix (Rejected) nor a wait (Held)."""


class InternalError(EconnectorError):
    """A bug of ours, never the document's fault: code ``internal-error``, so the
    pipeline keeps the original and retries a few times before giving up.

    ``str()`` is the bare ``detail`` (for the traceback in the log), as for any
    other unexpected exception.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("internal-error", detail=detail)
        Exception.__init__(self, detail)
