"""Which outbox files count: the file-name rules of the folder contract.

Pure: a bare name in, a classification out. The pipeline lists the outbox and
asks; :mod:`econnector.names` decides how a name that breaks the rules is
stored and shown.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final, Literal

Format = Literal["yaml", "json"]


class Kind(enum.Enum):
    PDF = "pdf"
    SIDECAR = "sidecar"
    QUERY = "query"  # <stem>.query.yaml|.yml|.json: a question, answered in the inbox
    IGNORED = "ignored"


@dataclass(frozen=True)
class Name:
    """A classified outbox file name.

    ``ext`` is the final extension without the dot, lower-cased (``"pdf"``,
    ``"yaml"``, ``"yml"``, ``"json"``); ``stem`` is everything before it, as written.
    ``stem_ok`` is always False for IGNORED names.
    """

    kind: Kind
    stem: str
    ext: str
    stem_ok: bool
    fmt: Format | None


STEM_RE: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}"
_STEM = re.compile(STEM_RE)
_BY_EXT: dict[str, tuple[Kind, Format | None]] = {
    "pdf": (Kind.PDF, None),
    "yaml": (Kind.SIDECAR, "yaml"),
    "yml": (Kind.SIDECAR, "yaml"),
    "json": (Kind.SIDECAR, "json"),
}
QUERY_SUFFIX: Final = ".query"
_TEMP_PREFIXES = (".", "~$")
_TEMP_SUFFIXES = (".tmp", ".part")


def classify(name: str) -> Name:
    """Classify a bare outbox file name (no directory part).

    Hidden names, Office lock files (``~$*``), ``*.tmp``/``*.part`` and every
    extension other than .pdf/.yaml/.yml/.json (case-insensitive) are IGNORED,
    so writers can use them as temporary names. ``.yml`` is YAML like ``.yaml``
    (vendors write both); two sidecars for one stem are refused by the pipeline
    as ``sidecar-ambiguous``, never guessed between. A PDF or sidecar whose stem
    breaks :data:`STEM_RE` keeps its kind with ``stem_ok=False`` so the
    pipeline can answer it with ``bad-file-name`` instead of ignoring it.
    """
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    # Only ASCII is case-folded: some non-ASCII letters lower-case to ASCII ones.
    if ext.isascii():
        ext = ext.lower()
    lowered = name.lower() if name.isascii() else name
    if (
        not stem
        or name.startswith(_TEMP_PREFIXES)
        or lowered.endswith(_TEMP_SUFFIXES)
        or ext not in _BY_EXT
    ):
        return Name(Kind.IGNORED, stem, ext, False, None)
    kind, fmt = _BY_EXT[ext]
    if kind is Kind.SIDECAR and stem[-6:].lower() == QUERY_SUFFIX and len(stem) > 6:
        # A query, not a sidecar (a document's stem may not end in ".query").
        kind, stem = Kind.QUERY, stem[:-6]
    return Name(kind, stem, ext, _STEM.fullmatch(stem) is not None, fmt)
