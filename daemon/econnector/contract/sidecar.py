"""Parsing a sidecar: the entry point, its error list, and the documented example.

Order: size, UTF-8 (a BOM is accepted), syntax (:mod:`.reader`), structure,
then the fields (:mod:`.validation`). Errors are
:class:`~econnector.errors.SidecarError` with a catalog code; the raised one is
the first in a fixed order, and :func:`all_errors` gives the full list.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from ..errors import SidecarError
from .document import LANGUAGES, MAX_SIDECAR_BYTES, DocumentMeta
from .filenames import Format
from .reader import check_tree, read
from .validation import Validator

_BOM = b"\xef\xbb\xbf"


def parse_sidecar(
    data: bytes,
    fmt: Format,
    *,
    providers: Collection[str],
    today: date,
    max_bytes: int = MAX_SIDECAR_BYTES,
) -> DocumentMeta:
    """Parse and validate a sidecar; raise SidecarError (and nothing else) if it is not valid v1.

    Order: size, UTF-8 (a BOM is accepted), syntax, structure, then the fields
    in the order of the folder contract's table. ``providers`` are the
    configured doctors' provider codes; ``today`` bounds the matricule's
    birth date.
    """
    data = bytes(data)
    if len(data) > max_bytes:
        raise _first([SidecarError("sidecar-too-large", size=len(data), limit=max_bytes)])
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _first([SidecarError("sidecar-encoding")]) from None
    if "\x00" in text:  # never valid in YAML or JSON; typically UTF-16 without a BOM
        raise _first([SidecarError("sidecar-encoding")])
    try:
        root = read(text, fmt)
        check_tree(root, fmt)
    except SidecarError as e:
        raise _first([e]) from None
    if not isinstance(root, dict):
        raise _first([SidecarError("sidecar-not-mapping")])
    validator = Validator(providers, today)
    meta = validator.run(root)
    if meta is None:
        raise _first(validator.errors, sidecar_language(root))
    return meta


def sidecar_language(root: Any) -> str | None:
    """The ``language`` of a parsed sidecar if it is one econnector speaks, else None.

    Read even when the sidecar is refused for another field (a bad matricule),
    so the error file is written in the staff's language, not the default.
    """
    if isinstance(root, dict):
        value = root.get("language")
        if type(value) is str and value in LANGUAGES:
            return value
    return None


def _first(errors: list[SidecarError], language: str | None = None) -> SidecarError:
    """The first error, carrying all of them as ``errors`` (see :func:`all_errors`) and
    the sidecar's readable ``language`` (each of them)."""
    first = errors[0]
    setattr(first, "errors", tuple(errors))  # noqa: B010 - SidecarError declares no such slot
    for e in errors:
        e.language = language
    return first


def all_errors(exc: SidecarError) -> tuple[SidecarError, ...]:
    """Every error found in the sidecar that raised ``exc`` (``exc`` itself first)."""
    found = getattr(exc, "errors", None)
    return found if isinstance(found, tuple) and found else (exc,)


_EXAMPLE = """\
# econnector sidecar, schema v1: 2026-000123.yaml next to 2026-000123.pdf
schema: econnector.document/v1
document_id: "2026-000123"
type: invoice
issued_at: "2026-11-25T10:15:00+01:00"
language: fr
patient:
  matricule: "1893120105732"
  last_name: "Weber"
  first_name: "Anne"
  insurer: CNS
author:
  provider_code: "90812100"
submitted_by: "anna"
invoice:
  total: "84.60"
  currency: EUR
  paid: false
"""


def example_sidecar() -> str:
    """The folder contract's example sidecar (YAML); valid with provider 90812100."""
    return _EXAMPLE
