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
    └── PatientOptedOut             final, not an error: the vault will never take it

Library exceptions (pyHanko, httpx, OSError) are translated into these only in
the edge modules that call the libraries (signer, vault client, fsio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """Message and hint templates for one code; ``str.format`` fields come from params."""

    message: str
    hint: str


# Codes are grouped by what a vendor must fix. Templates may use {field} and
# any parameter the raiser passes; missing parameters render as "?".
CATALOG: dict[str, Spec] = {
    # -- file names and pairing --------------------------------------------
    "bad-file-name": Spec(
        "The file name '{name}' is not allowed: a stem must match "
        "[A-Za-z0-9][A-Za-z0-9._-]{{0,119}}.",
        "Rename both files to an ASCII stem of letters, digits, '.', '_' or '-' "
        "(at most 120 characters, starting with a letter or digit), then drop them again.",
    ),
    "sidecar-ambiguous": Spec(
        "Both {stem}.yaml and {stem}.json were dropped; only one sidecar is allowed.",
        "Drop exactly one sidecar per PDF, either YAML or JSON.",
    ),
    "sidecar-orphaned": Spec(
        "The sidecar waited {seconds} s for its PDF '{stem}.pdf', which never arrived.",
        "Drop the PDF with the same stem as the sidecar, then drop the sidecar again.",
    ),
    # -- sidecar syntax ---------------------------------------------------------
    "sidecar-too-large": Spec(
        "The sidecar is {size} bytes; at most {limit} bytes are accepted.",
        "A sidecar holds metadata only; remove embedded content.",
    ),
    "sidecar-encoding": Spec(
        "The sidecar is not valid UTF-8 text.",
        "Write the sidecar as UTF-8 (without binary content).",
    ),
    "sidecar-syntax": Spec(
        "The sidecar is not valid {format}: {detail}",
        "Fix the syntax; the examples in the folder contract parse as they are.",
    ),
    "sidecar-yaml-feature": Spec(
        "The sidecar uses a YAML feature that is not accepted: {detail}",
        "Write plain YAML: no anchors, aliases, tags or merge keys.",
    ),
    "sidecar-not-mapping": Spec(
        "The sidecar's top level must be a mapping of keys to values.",
        "Start from the example in the folder contract.",
    ),
    "sidecar-schema": Spec(
        "The field 'schema' must be 'econnector.document/v1' (found {value}).",
        "Set schema: econnector.document/v1.",
    ),
    # -- sidecar fields ---------------------------------------------------------
    "field-missing": Spec(
        "The required field '{field}' is missing.",
        "Add '{field}' to the sidecar.",
    ),
    "field-unknown": Spec(
        "The field '{field}' is not part of the schema.",
        "Remove it, or prefix vendor-specific keys with 'x-'.",
    ),
    "field-type": Spec(
        "The field '{field}' must be {expected}.",
        "Write '{field}' as {expected}; quote numbers that are identifiers.",
    ),
    "field-invalid": Spec(
        "The field '{field}' is invalid: {detail}",
        "{hint_detail}",
    ),
    "document-id-invalid": Spec(
        "The document_id must be 1 to 64 characters of letters, digits, '.', '_' or '-'.",
        "Use your own document number, e.g. 2026-000123.",
    ),
    "document-type-unknown": Spec(
        "The document type '{value}' is not known.",
        "Use one of: invoice, prescription, certificate, sick-leave-certificate.",
    ),
    "document-type-medical": Spec(
        "The document type '{value}' is medical content: it belongs in the shared care "
        "record (DSP), not in the patient's administrative vault.",
        "Send medical documents to the DSP; only invoices, prescriptions, certificates and "
        "sick-leave certificates go through econnector.",
    ),
    "issued-at-invalid": Spec(
        "The field 'issued_at' must be an ISO 8601 date-time with a UTC offset (found {value}).",
        "Write e.g. 2026-11-25T10:15:00+01:00.",
    ),
    "language-unsupported": Spec(
        "The language '{value}' is not supported.",
        "Use fr, de or en, or leave 'language' out to use the configured default.",
    ),
    "matricule-format": Spec(
        "The matricule must be exactly 13 digits.",
        "Write the national identification number as a quoted string of 13 digits.",
    ),
    "matricule-date": Spec(
        "The matricule does not start with a valid birth date (YYYYMMDD; month or day 00 "
        "when unknown; not in the future).",
        "Check the first 8 digits against the patient's identity document.",
    ),
    "matricule-luhn": Spec(
        "The matricule's 12th digit (Luhn check digit) does not match.",
        "The number is mistyped; check it against the patient's social security card.",
    ),
    "matricule-verhoeff": Spec(
        "The matricule's 13th digit (Verhoeff check digit) does not match.",
        "The number is mistyped; check it against the patient's social security card.",
    ),
    "insurer-unknown": Spec(
        "The insurer '{value}' is not known.",
        "Use one of: CNS, CMFEP, CMFEC, EMCFL, RCAM.",
    ),
    "provider-unknown": Spec(
        "No doctor identity with provider code {value} is configured in econnector.",
        "Check author.provider_code, or ask IT to add the doctor's identity to the config.",
    ),
    "invoice-missing": Spec(
        "A document of type invoice needs an 'invoice' block.",
        "Add invoice.total, invoice.currency and invoice.paid.",
    ),
    "invoice-not-allowed": Spec(
        "Only documents of type invoice may have an 'invoice' block (type is {value}).",
        "Remove the 'invoice' block or correct the type.",
    ),
    "invoice-total-invalid": Spec(
        "invoice.total must be a decimal string greater than 0 with at most 2 decimals "
        "(found {value}).",
        "Write the total as a quoted string, e.g. \"84.60\".",
    ),
    "invoice-currency": Spec(
        "invoice.currency must be EUR (found {value}).",
        "Set currency: EUR.",
    ),
    "sidecar-missing": Spec(
        "The PDF '{stem}.pdf' waited {seconds} s for its sidecar ({stem}.yaml or "
        "{stem}.json), which never arrived; nothing was signed or sent.",
        "Drop the PDF again together with its sidecar, both with the same name.",
    ),
    "drop-withdrawn": Spec(
        "The file {name} was removed from outbox/ before econnector had finished with it; "
        "nothing was sent.",
        "Drop the PDF and its sidecar again if the document should still be sent.",
    ),
    "file-not-regular": Spec(
        "The file {name} is {kind}, not a regular file; econnector never follows links "
        "or reads from pipes or devices, and nothing was signed or sent.",
        "Write the PDF and its sidecar as plain files in outbox/ (no shortcuts or links), "
        "then drop them again.",
    ),
    "file-replaced": Spec(
        "The file {name} was replaced or changed while econnector was processing it; "
        "the version that was checked was not sent. A new version is processed as a new drop.",
        "Write each file once, under a temporary name, and rename it into outbox/ when "
        "complete; do not change a pair after dropping it.",
    ),
    "duplicate-document-id": Spec(
        "The document_id {value} of provider {provider} was already sent with other content.",
        "Give a corrected document a new document_id; a document cannot be changed once sent.",
    ),
    # -- the PDF ----------------------------------------------------------------
    "pdf-empty": Spec(
        "The PDF file is empty (0 bytes).",
        "Export the document again and drop it once it is fully written.",
    ),
    "pdf-not-pdf": Spec(
        "The file is not a PDF (no %PDF- header in its first 1,024 bytes).",
        "Drop the PDF export of the document, not another format renamed to .pdf.",
    ),
    "pdf-incomplete": Spec(
        "The PDF has no %%EOF marker at its end after waiting {seconds} s: it looks truncated.",
        "Export the document again and make sure the copy finished.",
    ),
    "pdf-too-large": Spec(
        "The PDF is {size} bytes; at most {limit} bytes are accepted.",
        "Reduce the scan resolution or split the document.",
    ),
    "pdf-damaged": Spec(
        "The PDF cannot be read: {detail}",
        "Export the document again from the practice software.",
    ),
    "pdf-encrypted": Spec(
        "The PDF is encrypted or password-protected; encrypted PDFs are refused by policy.",
        "Export the document without a password or permissions restrictions.",
    ),
    "pdf-javascript": Spec(
        "The PDF contains JavaScript; active content is refused by policy.",
        "Export the document without scripts (plain print-to-PDF).",
    ),
    "pdf-launch-action": Spec(
        "The PDF contains a Launch action (it can start programs); refused by policy.",
        "Export the document without actions or links that open files.",
    ),
    "pdf-embedded-executable": Spec(
        "The PDF embeds an executable file ({name}); refused by policy.",
        "Remove the attachment; data attachments such as Factur-X XML are fine.",
    ),
    "pdf-xfa": Spec(
        "The PDF contains an XFA form (scripted, deprecated since PDF 2.0, and not what a "
        "PAdES signature can fix); refused by policy.",
        "Export the document flattened, or as a plain AcroForm PDF without XFA.",
    ),
    "pdf-embedded-pdf-action": Spec(
        "The PDF contains a GoToE action, which opens a PDF embedded in it; refused by policy.",
        "Export the document without links that open attached PDFs; attachments themselves "
        "are fine.",
    ),
    "pdf-remote-action": Spec(
        "The PDF contains a {action} action pointing outside the document ({target}); "
        "refused by policy.",
        "Export the document without actions that submit, import or open remote or network "
        "files; links to http, https and mailto addresses are fine.",
    ),
    "pdf-too-many-pages": Spec(
        "The PDF has {pages} pages; at most {limit} are accepted.",
        "Split the document.",
    ),
    "pdf-too-complex": Spec(
        "The PDF needs more than the allowed {limit} MiB of memory to process.",
        "Export the document again; a normal administrative document is far smaller.",
    ),
    "pdf-processing-timeout": Spec(
        "Processing the PDF took longer than {seconds} s and was stopped.",
        "Export the document again; it may be malformed.",
    ),
    "pdf-certified-no-changes": Spec(
        "The PDF carries a certification signature that forbids any change, so it cannot be "
        "signed again.",
        "Drop the document before it is certified, or without its certification signature.",
    ),
    "pdf-signing-failed": Spec(
        "The PDF could not be signed: {detail}",
        "Export the document again; if it persists, report the file to IT.",
    ),
    # -- the vault, permanent -----------------------------------------------------
    "vault-rejected": Spec(
        "The vault refused the document ({status} {vault_code}): {detail}",
        "Correct what the vault names and drop the document again.",
    ),
    "vault-conflict": Spec(
        "The vault already holds other content under this document's idempotency key.",
        "Give a corrected document a new document_id.",
    ),
    "vault-too-large": Spec(
        "The vault refused the document as too large.",
        "Reduce the scan resolution or split the document.",
    ),
    # -- final, not an error ---------------------------------------------------------
    "patient-opted-out": Spec(
        "The patient has chosen not to use the digital vault: the document was signed "
        "but not sent.",
        "Print the signed PDF {signed} from the inbox folder and hand it to the patient.",
    ),
    # -- transient and held (status files, not error files) ------------------------
    "vault-unavailable": Spec(
        "The vault could not be reached or failed ({detail}); retrying.",
        "Nothing to do: delivery resumes when the vault answers.",
    ),
    "vault-unauthorized": Spec(
        "The vault refused econnector's credentials ({status}); all deliveries are paused.",
        "IT: check the vault token file in the econnector config.",
    ),
    "file-busy": Spec(
        "The file cannot be read yet ({detail}); retrying.",
        "Nothing to do unless this persists: another program holds the file.",
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
        "The vault's identity could not be verified ({detail}); all deliveries are paused.",
        "IT: check vault.url and vault.ca_bundle in the econnector config, then run "
        "'econnector check-config'.",
    ),
    "outbox-missing": Spec(
        "The outbox folder {path} is missing or cannot be read; econnector waits for it.",
        "IT: connect the network share or create the folder; econnector resumes by itself.",
    ),
    "inbox-missing": Spec(
        "The inbox folder {path} is missing or cannot be written; econnector waits for it.",
        "IT: connect the network share or create the folder; econnector resumes by itself.",
    ),
    "identity-locked": Spec(
        "The signing key of provider {provider} is locked or unavailable ({detail}).",
        "The doctor unlocks the signing key (passphrase file or environment variable).",
    ),
    "awaiting-sidecar": Spec(
        "The PDF waits for its sidecar {stem}.yaml or {stem}.json.",
        "Drop the sidecar with the same stem.",
    ),
    "awaiting-pdf": Spec(
        "The sidecar waits for its PDF {stem}.pdf.",
        "Drop the PDF with the same stem.",
    ),
    "awaiting-eof": Spec(
        "The PDF has no %%EOF marker yet; waiting for the writer to finish.",
        "Nothing to do if the export is still running.",
    ),
    "internal-error": Spec(
        "econnector failed unexpectedly ({detail}).",
        "Report this to IT with the econnector log; the original is kept.",
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


def render(code: str, params: dict[str, Any]) -> tuple[str, str]:
    """Message and hint for ``code``; unknown codes render as internal errors.

    Text parameters are escaped here, once for every output (error files, status
    files, the CLI): a file name or a value may hold terminal escapes, newlines,
    bidi overrides or bytes that are not UTF-8.
    """
    from .names import shown  # names imports the contract, which imports this module

    spec = CATALOG.get(code) or CATALOG["internal-error"]
    p = _Params({k: shown(v, 400) if isinstance(v, str) else v for k, v in params.items()})
    return spec.message.format_map(p), spec.hint.format_map(p)


class EconnectorError(Exception):
    """Root of all econnector errors; carries a stable code and template params."""

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        if code not in CATALOG:
            raise ValueError(f"unregistered error code {code!r}")
        self.code = code
        self.field = field
        self.params: dict[str, Any] = {"field": field, **params}
        self.message, self.hint = render(code, self.params)
        super().__init__(f"{code}: {self.message}")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
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
    pass


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
    """Waits for a person; the code is the hold reason."""


class PatientOptedOut(EconnectorError):
    """The patient opted out of the vault (digital status red): the document ends
    signed but unsent, and staff hand over the printed copy. Neither a defect to
    fix (Rejected) nor a wait (Held)."""
