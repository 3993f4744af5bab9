"""File names from the outbox: what we store, show, log and write back.

On Linux a file name is bytes; ``os.scandir`` hands a name that is not UTF-8
to Python as a ``str`` with lone surrogates, which SQLite, ``str.encode()`` and
JSON refuse, and a name may hold ESC, newlines or a right-to-left override
that a terminal or an editor acts on. The folder contract only accepts ASCII
stems (:data:`econnector.contract.STEM_RE`); every other stem is answered
under a name of our own, ``bad-name-<hash>``, and wherever a raw name must be
echoed to a person it is escaped first. Logs never carry a stem at all, only
its :func:`ref` (a stem can hold a patient's name or matricule).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

from .contract import STEM_RE

_GOOD_STEM = re.compile(STEM_RE)
# Names stored as they are; anything else is stored as "hex:" + its bytes. The
# ':' cannot occur in a stored-as-is name, so the two forms never collide.
_PLAIN = re.compile(r"[A-Za-z0-9._~$-]+")
_HEX = "hex:"
# Characters a terminal, an editor or a bidi-aware viewer would act on.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
NAME_MAX = 255  # bytes per path component (Linux, most file systems)


def fs_bytes(name: str) -> bytes:
    """The name as the file system has it."""
    return os.fsencode(name)


def digest(stem: str, length: int = 12) -> str:
    return hashlib.sha256(fs_bytes(stem)).hexdigest()[:length]


def stem_ok(stem: str) -> bool:
    return _GOOD_STEM.fullmatch(stem) is not None


def out_stem(stem: str) -> str:
    """The stem our files for this drop are named by: the stem itself when the
    contract allows it, else ``bad-name-<hash of its bytes>``."""
    return stem if stem_ok(stem) else f"bad-name-{digest(stem)}"


def ref(stem: str) -> str:
    """What logs carry instead of a stem: stable, short, says nothing about the patient."""
    return f"s-{digest(stem, 10)}"


def to_db(name: str) -> str:
    """A reversible, always-encodable form of an outbox name for the state store."""
    if not name or _PLAIN.fullmatch(name):
        return name
    return _HEX + fs_bytes(name).hex()


def from_db(stored: str) -> str:
    if stored.startswith(_HEX):
        return os.fsdecode(bytes.fromhex(stored[len(_HEX):]))
    return stored


def shown(text: str, limit: int = 200) -> str:
    """``text`` safe to echo to a person: undecodable bytes as ``\\xNN``, control,
    format (bidi overrides) and separator characters as ``\\uXXXX``; clipped."""
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def quarantine_name(name: str, stem: str) -> str:
    """The name a refused original gets in ``failed/``: itself for a good stem,
    ``bad-name-<hash>.<ext>`` otherwise (the extension as classified)."""
    if stem_ok(stem):
        return name
    ext = name[len(stem):].lower() if name.startswith(stem) else ""
    if not _PLAIN.fullmatch(ext or "x"):
        ext = ""
    return out_stem(stem) + ext


def fit(name: str) -> str:
    """``name`` shortened (keeping its extension, adding a hash) to fit NAME_MAX bytes."""
    raw = fs_bytes(name)
    if len(raw) <= NAME_MAX:
        return name
    base, dot, ext = name.rpartition(".")
    if not dot or len(fs_bytes(ext)) > 16:
        base, ext = name, ""
    tail = f"-{hashlib.sha256(raw).hexdigest()[:12]}" + (f".{ext}" if ext else "")
    room = NAME_MAX - len(fs_bytes(tail))
    cut = fs_bytes(base)[:room]
    return os.fsdecode(cut.decode("utf-8", "ignore").encode("utf-8")) + tail
