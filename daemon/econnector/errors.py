"""Errors: one root, stable codes, message templates.

Every error a person may read (an error file, a status file, the CLI) has a
stable ``code`` from :data:`CATALOG` with a message and a hint template. Codes
are part of the folder contract: vendors match on them, so they never change
meaning; new ones may be added (to :data:`econnector.codes.Code`, the type
mypy checks every raiser against, and to the texts in :mod:`econnector.messages`).

Exception tree::

    EconnectorError                 code + params -> message, hint
    ├── ConfigError                 bad config or unusable folder: exit non-zero
    ├── Rejected                    permanent for this document: quarantine it
    │   ├── SidecarError            the sidecar (field path in ``field``)
    │   ├── PdfError                the PDF (policy, damage, limits)
    │   └── VaultRejected           the vault refused it for good (409/413/422)
    ├── Transient                   retry later with backoff
    │   ├── VaultUnavailable        network, 5xx, 429, timeouts
    │   ├── FileBusy                locked or unreadable for now
    │   └── ServiceUnavailable      the TSA, an OCSP responder or a CRL is not answering
    ├── Held                        waits for a person (reason in ``code``)
    │   ├── IdentityHeld            one doctor's key cannot sign now
    │   ├── VaultHeld               the vault refuses us all (credentials, TLS)
    │   └── SignatureHeld           our own signature failed its check: never uploaded
    ├── PatientOptedOut             final, not an error: the vault will never take it
    └── InternalError               a bug of ours (``internal-error``): keep the document
        └── states.InvalidTransition   an event the state table does not allow

Library exceptions (pyHanko, httpx, OSError) are translated into these only in
the edge modules that call the libraries (signer, vault client, fsio).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from . import messages
from .codes import Code, ErrorCode, is_code
from .messages import en


@dataclass(frozen=True)
class Spec:
    """Message and hint templates for one code; ``str.format`` fields come from params."""

    message: str
    hint: str


# The English catalog, in the order of :data:`econnector.codes.Code`; the texts
# are in messages/en.py (French and German beside them).
CATALOG: Final[dict[Code, Spec]] = {code: Spec(*texts) for code, texts in en.TEXTS.items()}


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(code: ErrorCode, params: dict[str, Any], language: str = "en") -> tuple[str, str]:
    """Message and hint for ``code`` in ``language`` (fr, de, en; anything else is
    English); a code outside the catalog (``config-invalid``, or a string read back
    from a file that mypy could not check) renders as an internal error.

    Text parameters are escaped here, once for every output (error files, status
    files, the CLI): a file name or a value may hold terminal escapes, newlines,
    bidi overrides or bytes that are not UTF-8. Parameters that are one of the
    known English phrases (``expected``, a file kind, a fixed detail) are
    translated too, so raisers keep passing plain English.
    """
    from .names import shown  # names imports the contract, which imports this module

    key: Code = code if is_code(code) else "internal-error"
    spec = CATALOG[key]
    p = _Params({k: shown(v, 400) if isinstance(v, str) else v for k, v in params.items()})
    p = _Params(messages.localize_params(p, language))
    message, hint = messages.template(key, language) or (spec.message, spec.hint)
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

    code: ErrorCode

    def __init__(self, code: Code, field: str | None = None, **params: Any) -> None:
        if not is_code(code):  # a code mypy could not check (from Any)
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
        self, code: Code, field: str | None = None, retry_after: float | None = None, **params: Any
    ) -> None:
        super().__init__(code, field, **params)
        self.retry_after = retry_after


class VaultUnavailable(Transient):
    pass


class FileBusy(Transient):
    pass


class ServiceUnavailable(Transient):
    """A service a signature needs (timestamps, certificate status) did not answer:
    the document waits and is signed again, never refused for it."""


class Held(EconnectorError):
    """Waits for a person; the code is the hold reason. Never raised itself: the
    two kinds below are released by different events."""


class IdentityHeld(Held):
    """One doctor's key cannot sign now (locked, certificate expired or not yet
    valid): only that doctor's documents wait; released when the identity can sign."""


class SignatureHeld(Held):
    """The signature we made does not validate (untrusted chain, a level not reached):
    it is never uploaded; the document waits for IT, and is signed again at the next
    start (after the fix)."""


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


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, outermost first (``__cause__``, else ``__context__``):
    the edge modules look through a library's wrapping (httpx over httpcore over ssl,
    pyHanko's SigningError over certvalidator's errors) for the error that decides."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
