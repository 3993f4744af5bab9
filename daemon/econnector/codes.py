"""Error codes as a type: the catalog's codes as a ``Literal`` that mypy checks.

A code is part of the folder contract (vendors match on it), so a misspelt code
must fail before it ships: every raiser and every table keyed by code is typed
with :data:`Code`, and tests/unit/test_codes.py checks that this list and
:data:`econnector.errors.CATALOG` name the same codes (adding one in one place
only fails). Imports nothing of econnector, so every module can use it.
"""

from __future__ import annotations

from typing import Final, Literal, TypeGuard, get_args

# In the catalog's order (messages/en.py).
Code = Literal[
    "bad-file-name",
    "sidecar-ambiguous",
    "sidecar-orphaned",
    "sidecar-too-large",
    "sidecar-encoding",
    "sidecar-syntax",
    "sidecar-yaml-feature",
    "sidecar-not-mapping",
    "sidecar-schema",
    "field-missing",
    "field-unknown",
    "field-type",
    "field-invalid",
    "document-id-invalid",
    "document-type-unknown",
    "document-type-medical",
    "issued-at-invalid",
    "language-unsupported",
    "matricule-format",
    "matricule-date",
    "matricule-luhn",
    "matricule-verhoeff",
    "insurer-unknown",
    "provider-unknown",
    "assistant-not-authorized",
    "query-syntax",
    "query-unsupported",
    "invoice-missing",
    "invoice-not-allowed",
    "invoice-total-invalid",
    "invoice-currency",
    "sidecar-missing",
    "drop-withdrawn",
    "file-not-regular",
    "file-replaced",
    "duplicate-document-id",
    "pdf-empty",
    "pdf-not-pdf",
    "pdf-incomplete",
    "pdf-too-large",
    "pdf-damaged",
    "pdf-encrypted",
    "pdf-javascript",
    "pdf-launch-action",
    "pdf-embedded-executable",
    "pdf-xfa",
    "pdf-embedded-pdf-action",
    "pdf-remote-action",
    "pdf-too-many-pages",
    "pdf-too-complex",
    "pdf-processing-timeout",
    "pdf-certified-no-changes",
    "pdf-signing-failed",
    "vault-rejected",
    "vault-conflict",
    "vault-too-large",
    "patient-opted-out",
    "vault-unavailable",
    "vault-unauthorized",
    "file-busy",
    "certificate-expired",
    "certificate-not-yet-valid",
    "certificate-revoked",
    "certificate-key-usage",
    "token-absent",
    "tsa-unavailable",
    "revocation-unavailable",
    "signature-check-failed",
    "signature-invalid",
    "vault-tls",
    "outbox-missing",
    "inbox-missing",
    "identity-locked",
    "awaiting-sidecar",
    "awaiting-pdf",
    "awaiting-eof",
    "internal-error",
    "secret-file-exposed",
    "store-too-new",
]

# Not a catalog code: a ConfigError carries its own one-line text, never rendered
# from a template (exit 2 from the CLI, never in a file for the practice).
ConfigCode = Literal["config-invalid"]

# What an econnector exception carries in ``code``.
ErrorCode = Literal[Code, ConfigCode]

CODES: Final[frozenset[str]] = frozenset(get_args(Code))


def is_code(value: object) -> TypeGuard[Code]:
    """True for a catalog code: narrows a string read back from a file or the store."""
    return isinstance(value, str) and value in CODES


def as_code(value: object) -> Code:
    """``value`` as a catalog code; anything else (a newer daemon's code, a damaged
    record) is ``internal-error``, as :func:`econnector.errors.render` shows it."""
    return value if is_code(value) else "internal-error"
