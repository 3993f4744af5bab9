"""The error catalog in English: message and hint for each code.

English is the catalog's own language (logs, the CLI, the fallback for a gap);
:data:`econnector.errors.CATALOG` is built from it.
"""

from __future__ import annotations

from typing import Final

from ..codes import Code

# Codes are grouped by what a vendor must fix. Templates may use {field} and
# any parameter the raiser passes; missing parameters render as "?". The texts
# are for the person at the front desk (no patterns, no jargon: which file, what
# to do); the French and German ones are in fr.py and de.py, and
# tests/contract/test_i18n.py checks that every code has all three.
TEXTS: Final[dict[Code, tuple[str, str]]] = {
    # -- file names and pairing --------------------------------------------
    "bad-file-name": (
        "The file name '{name}' cannot be used by econnector.",
        "Rename the PDF and its data file (same name, ending in .yaml, .yml or .json): "
        "use only letters without accents, digits, dots, dashes and underscores, start with "
        "a letter or digit, at most 120 characters (e.g. 2026-000123.pdf). Then drop both "
        "files again.",
    ),
    "sidecar-ambiguous": (
        "More than one data file was dropped for {stem}.pdf ({stem}.yaml, {stem}.yml or "
        "{stem}.json); econnector cannot tell which one is right.",
        "Drop the PDF again with exactly one data file.",
    ),
    "sidecar-orphaned": (
        "The data file for {stem}.pdf waited {seconds} seconds for its PDF, which never "
        "arrived; nothing was sent.",
        "Send the document again from the practice software (the PDF and its data file "
        "with the same name).",
    ),
    # -- sidecar syntax ---------------------------------------------------------
    "sidecar-too-large": (
        "The document's data file is too large ({size} bytes; at most {limit} bytes).",
        "The data file may only describe the document; tell the software vendor.",
    ),
    "sidecar-encoding": (
        "The document's data file is not readable text (it must be saved as UTF-8).",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-syntax": (
        "The document's data file is damaged and cannot be read as {format}: {detail}",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-yaml-feature": (
        "The document's data file uses a form of writing that is not accepted: {detail}",
        "Tell the software vendor: the data file must be plain YAML, as in the examples "
        "of the folder contract.",
    ),
    "sidecar-not-mapping": (
        "The document's data file is empty or does not list the document's details.",
        "Send the document again; if this happens again, tell the software vendor.",
    ),
    "sidecar-schema": (
        "The document's data file has an unknown format version (found {value}).",
        "Tell the software vendor: the data file must say schema: econnector.document/v1.",
    ),
    # -- sidecar fields ---------------------------------------------------------
    "field-missing": (
        "The document's data is incomplete: '{field}' is missing.",
        "Fill in '{field}' in the practice software and send the document again.",
    ),
    "field-unknown": (
        "The document's data contains '{field}', which econnector does not know.",
        "Tell the software vendor: remove '{field}', or write vendor-specific data under "
        "a name starting with x-.",
    ),
    "field-type": (
        "The value of '{field}' is written in the wrong form: it must be {expected}"
        "{yaml_reading}.",
        "Correct '{field}' (it must be {expected}) and send the document again; if the "
        "practice software wrote it, tell the software vendor.",
    ),
    "field-invalid": (
        "The value of '{field}' is not valid: {detail}",
        "{hint_detail}",
    ),
    "document-id-invalid": (
        "The document number must have 1 to 64 characters: letters without accents, "
        "digits, dots, dashes and underscores.",
        "Use the practice's own document number, e.g. 2026-000123, and send the document "
        "again.",
    ),
    "document-type-unknown": (
        "The document type '{value}' is not known.",
        "Choose one of the types invoice, prescription, certificate or sick-leave "
        "certificate, and send the document again.",
    ),
    "document-type-medical": (
        "The document type '{value}' is medical content: it belongs in the shared care "
        "record (DSP), not in the patient's administrative vault.",
        "Send medical documents to the DSP; only invoices, prescriptions, certificates and "
        "sick-leave certificates go through econnector.",
    ),
    "issued-at-invalid": (
        "The document's date and time are not valid (found {value}); they must include "
        "the time zone.",
        "Tell the software vendor: write the date like 2026-11-25T10:15:00+01:00.",
    ),
    "language-unsupported": (
        "The language '{value}' is not available for receipts.",
        "Choose French (fr), German (de) or English (en), or leave the language empty to "
        "use the practice's default.",
    ),
    "matricule-format": (
        "The patient's matricule (national identification number) must be exactly 13 "
        "digits.",
        "Correct the matricule in the patient's record (13 digits, no spaces) and send "
        "the document again.",
    ),
    "matricule-date": (
        "The patient's matricule does not start with a possible date of birth (the first "
        "8 digits: year, month, day).",
        "Check the first 8 digits against the patient's identity document, correct the "
        "patient's record and send the document again.",
    ),
    "matricule-luhn": (
        "The patient's matricule is mistyped: its 12th digit (a check digit) does not "
        "match the others.",
        "Check the number against the patient's social security card, correct the "
        "patient's record and send the document again.",
    ),
    "matricule-verhoeff": (
        "The patient's matricule is mistyped: its 13th digit (a check digit) does not "
        "match the others.",
        "Check the number against the patient's social security card, correct the "
        "patient's record and send the document again.",
    ),
    "insurer-unknown": (
        "The health insurance fund '{value}' is not known.",
        "Choose one of CNS, CMFEP, CMFEC, EMCFL or RCAM in the patient's record and send "
        "the document again.",
    ),
    "provider-unknown": (
        "No doctor with provider code {value} is set up in econnector.",
        "Check the doctor chosen in the practice software, or ask IT to add this doctor's "
        "signing key to econnector.",
    ),
    "assistant-not-authorized": (
        "'{value}' may not send documents for doctor {provider}: {detail}.",
        "Send the document under the doctor's own login, or ask the doctor to register this "
        'assistant (econnector assistant add) and send it again.',
    ),
    "query-syntax": (
        'The query file cannot be read as {format}: {detail}',
        'Ask the question again; if this happens again, tell the software vendor.',
    ),
    "query-unsupported": (
        "The query file asks '{value}', which econnector does not answer.",
        'Tell the software vendor: the folder contract lists the questions econnector answers'
        ' (query: patient-status).',
    ),
    "invoice-missing": (
        "The document is an invoice, but its amount, currency and payment status are "
        "missing.",
        "Complete the invoice in the practice software and send it again.",
    ),
    "invoice-not-allowed": (
        "The document has invoice details, but its type is {value}, not invoice.",
        "Correct the document type, or remove the invoice details, and send the document "
        "again.",
    ),
    "invoice-total-invalid": (
        "The invoice amount is not valid (found {value}): it must be more than 0, with at "
        "most 2 decimals.",
        "Correct the amount (e.g. 84.60) and send the invoice again.",
    ),
    "invoice-currency": (
        "The invoice currency must be EUR (found {value}).",
        "Set the currency to EUR and send the invoice again.",
    ),
    "sidecar-missing": (
        "The PDF {stem}.pdf waited {seconds} seconds for its data file ({stem}.yaml, "
        "{stem}.yml or {stem}.json), which never arrived; nothing was signed or sent.",
        "Send the document again from the practice software; the PDF and its data file "
        "must have the same name.",
    ),
    "drop-withdrawn": (
        "The file {name} was removed from the outbox folder before econnector had "
        "finished with it; nothing was sent.",
        "If the document should still go out, send it again from the practice software.",
    ),
    "file-not-regular": (
        "The file {name} is {kind}, not an ordinary file; econnector does not open it, "
        "and nothing was signed or sent.",
        "Put the PDF and its data file into the outbox folder as ordinary files (no "
        "shortcuts or links), then send them again.",
    ),
    "file-replaced": (
        "The file {name} was replaced or changed while econnector was working on it; the "
        "earlier version was not sent. The new version is handled as a new document.",
        "Nothing to do for the new version. If this happens often, tell the software "
        "vendor: files must not be changed after they are dropped.",
    ),
    "duplicate-document-id": (
        "Document number {value} of provider {provider} was already sent with other "
        "content.",
        "A sent document cannot be changed: give the corrected document a new document "
        "number and send it.",
    ),
    # -- the PDF ----------------------------------------------------------------
    "pdf-empty": (
        "The PDF file is empty.",
        "Create the PDF again in the practice software and send it once it is complete.",
    ),
    "pdf-not-pdf": (
        "The file is not a PDF document (perhaps another kind of file renamed to .pdf).",
        "Send the PDF export of the document, not a Word file, an image or another format.",
    ),
    "pdf-incomplete": (
        "The PDF is cut off: its end was still missing after {seconds} seconds.",
        "Create the PDF again and make sure the copy finishes, then send it again.",
    ),
    "pdf-too-large": (
        "The PDF is too large ({size} bytes; at most {limit} bytes).",
        "Scan with a lower resolution or split the document, then send it again.",
    ),
    "pdf-damaged": (
        "The PDF is damaged and cannot be read: {detail}",
        "Create the PDF again in the practice software and send it again.",
    ),
    "pdf-encrypted": (
        "The PDF is protected by a password or restrictions, which are not accepted.",
        "Create the PDF again without a password or restrictions and send it again.",
    ),
    "pdf-javascript": (
        "The PDF contains a script (JavaScript), which is not accepted.",
        "Create the PDF again with plain 'print to PDF' and send it again.",
    ),
    "pdf-launch-action": (
        "The PDF contains an action that can start programs, which is not accepted.",
        "Create the PDF again without links that open files or programs and send it again.",
    ),
    "pdf-embedded-executable": (
        "The PDF contains an attached program ({name}), which is not accepted.",
        "Create the PDF again without that attachment; data attachments such as "
        "Factur-X XML are fine.",
    ),
    "pdf-xfa": (
        "The PDF contains a dynamic form (XFA), which cannot be signed reliably and is "
        "not accepted.",
        "Create the PDF again as a flattened or ordinary form and send it again.",
    ),
    "pdf-embedded-pdf-action": (
        "The PDF contains a link that opens another PDF attached to it, which is not "
        "accepted.",
        "Create the PDF again without links that open attachments; attachments "
        "themselves are fine.",
    ),
    "pdf-remote-action": (
        "The PDF contains an action ({action}) that points outside the document "
        "({target}), which is not accepted.",
        "Create the PDF again without links to network files or forms that send data; "
        "ordinary web and e-mail links are fine.",
    ),
    "pdf-too-many-pages": (
        "The PDF has {pages} pages; at most {limit} are accepted.",
        "Split the document and send the parts separately.",
    ),
    "pdf-too-complex": (
        "The PDF is too complex to process (it would need more than {limit} MiB of "
        "memory).",
        "Create the PDF again; an ordinary administrative document is far smaller.",
    ),
    "pdf-processing-timeout": (
        "Processing the PDF took longer than {seconds} seconds and was stopped.",
        "Create the PDF again; the file may be damaged.",
    ),
    "pdf-certified-no-changes": (
        "The PDF is already certified in a way that forbids any change, so it cannot be "
        "signed.",
        "Send the document before it is certified, or without its certification.",
    ),
    "pdf-signing-failed": (
        "The PDF could not be signed: {detail}",
        "Create the PDF again and send it again; if it happens again, give the file to IT.",
    ),
    # -- the vault, permanent -----------------------------------------------------
    "vault-rejected": (
        "The patient's vault refused the document ({status} {vault_code}): {detail}",
        "Correct what the vault names and send the document again.",
    ),
    "vault-conflict": (
        "The vault already holds a different document under this document number.",
        "Give the corrected document a new document number and send it.",
    ),
    "vault-too-large": (
        "The vault refused the document because it is too large.",
        "Scan with a lower resolution or split the document, then send it again.",
    ),
    # -- final, not an error ---------------------------------------------------------
    "patient-opted-out": (
        "The patient has chosen not to use the digital vault: the document was signed "
        "but not sent.",
        "Print the signed PDF {signed} from the inbox folder and hand it to the patient.",
    ),
    # -- transient and held (status files, not error files) ------------------------
    "vault-unavailable": (
        "The vault cannot be reached at the moment ({detail}); econnector keeps trying.",
        "Nothing to do: the document is sent as soon as the vault answers.",
    ),
    "vault-unauthorized": (
        "The vault refused econnector's access ({status}); all sending is paused.",
        "Tell IT: the vault token in the econnector configuration must be renewed or "
        "corrected. The documents wait and go out once it is fixed.",
    ),
    "file-busy": (
        "The file cannot be read yet ({detail}); econnector tries again.",
        "Nothing to do unless this lasts: another program is still using the file.",
    ),
    "certificate-expired": (
        "The signing certificate of provider {provider} expired on {not_after}; "
        "econnector does not sign with it.",
        "The doctor needs a renewed certificate; IT installs it and runs "
        "'econnector check-config'. The documents wait and are signed once it is in place.",
    ),
    "certificate-not-yet-valid": (
        "The signing certificate of provider {provider} is only valid from {not_before}; "
        "econnector does not sign with it before then.",
        "Nothing to do if that date is near; otherwise IT checks the computer's clock and "
        "the certificate.",
    ),
    "certificate-revoked": (
        "The signing certificate of provider {provider} has been revoked by its "
        "certification authority ({detail}); econnector does not sign with it.",
        "The doctor needs a new certificate; IT installs it and runs 'econnector "
        "check-config'. The documents wait and are signed once it is in place.",
    ),
    "certificate-key-usage": (
        "The certificate of provider {provider} is not made for signatures (it allows: "
        "{usages}); econnector does not sign with it.",
        "Tell IT: the configuration must name the doctor's signing certificate, not the "
        "login or encryption one. The documents wait until then.",
    ),
    "token-absent": (
        "The smart card or signing stick of provider {provider} is not connected "
        "({detail}).",
        "Connect the doctor's card or stick; the documents wait and are signed then.",
    ),
    "tsa-unavailable": (
        "The timestamp service {service} did not answer ({detail}); econnector tries again.",
        "Nothing to do unless this lasts; then tell IT (signing.tsa.url in the "
        "configuration).",
    ),
    "revocation-unavailable": (
        "The certificate status service {service} did not answer ({detail}); econnector "
        "tries again.",
        "Nothing to do unless this lasts; then tell IT: the certification authority's "
        "status service must be reachable from this computer.",
    ),
    "signature-check-failed": (
        "The signature made for this document did not pass econnector's check ({defect}); "
        "it was not sent.",
        "Tell IT: check signing.trust_roots and the doctor's certificate with "
        "'econnector check-config', then restart econnector; the document is signed again.",
    ),
    "signature-invalid": (
        "The vault refused the signature of this document ({defect}); it was not stored.",
        "Tell IT: check the doctor's certificate and signing.trust_roots with 'econnector "
        "check-config', then restart econnector; the document is signed and sent again.",
    ),
    "vault-tls": (
        "The vault's identity could not be verified ({detail}); all sending is paused.",
        "Tell IT: check vault.url and vault.ca_bundle in the econnector configuration, "
        "then run 'econnector check-config'.",
    ),
    "outbox-missing": (
        "The outbox folder {path} is missing or cannot be read; econnector waits for it.",
        "Tell IT: connect the network drive or create the folder; econnector continues "
        "by itself.",
    ),
    "inbox-missing": (
        "The inbox folder {path} is missing or cannot be written; econnector waits for it.",
        "Tell IT: connect the network drive or create the folder; econnector continues "
        "by itself.",
    ),
    "identity-locked": (
        "The signing key of provider {provider} is locked or unavailable ({detail}).",
        "The doctor or IT unlocks the signing key; the documents wait and are signed then.",
    ),
    "awaiting-sidecar": (
        "The PDF waits for its data file {stem}.yaml, {stem}.yml or {stem}.json.",
        "Nothing to do if the practice software is still sending; otherwise send the "
        "document again.",
    ),
    "awaiting-pdf": (
        "The data file waits for its PDF {stem}.pdf.",
        "Nothing to do if the practice software is still sending; otherwise send the "
        "document again.",
    ),
    "awaiting-eof": (
        "The PDF is not complete yet; econnector waits until it has been fully written.",
        "Nothing to do while the PDF is still being created.",
    ),
    "internal-error": (
        "econnector failed unexpectedly ({detail}).",
        "Tell IT and give them the econnector log; the original is kept.",
    ),
    # -- the installation (check-config and start; exit 2, never in an error file) --
    "secret-file-exposed": (
        "{what}: the secret file {path} has mode {mode} ({how}); econnector refuses to "
        "start with a secret other users can read or change.",
        "Fix: chmod 600 {path} (owned by the service user; or 640 with a group that "
        "only the service is in), then run 'econnector check-config' again.",
    ),
    "store-too-new": (
        "The database {path} has schema version {value}: a newer econnector release "
        "wrote it, and this one knows versions up to {limit}. econnector does not open "
        "it and has not changed it.",
        "Install the econnector release that wrote it (or a newer one), or stop the "
        "service and restore the backup taken before the upgrade (docs/install-linux.md, "
        "Upgrade).",
    ),
}
