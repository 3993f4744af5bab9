"""PDF policy: what we refuse to sign, decided over a parsed pyHanko reader.

Refused: encryption (a signed original must be readable by anyone entitled to
it), active content (JavaScript, Launch actions, embedded executables), too
many pages. Accepted: data attachments (Factur-X/ZUGFeRD XML), forms, existing
signatures. Parsing is lenient (``strict=False``): a PDF a reader opens is not
refused because the strictest parser mode dislikes it.

The object walk uses an explicit stack and a visited set: hostile files with
reference loops or deep nesting cannot recurse us to death, and the walk never
decodes stream data (decompression bombs stay compressed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from .errors import PdfError

MAX_OBJECTS = 500_000
MAX_PAGE_TREE_DEPTH = 256

EXECUTABLE_EXTENSIONS = frozenset(
    {
        ".exe", ".com", ".bat", ".cmd", ".scr", ".pif", ".msi", ".msp", ".dll", ".cpl", ".jar",
        ".js", ".jse", ".vbs", ".vbe", ".wsf", ".wsh", ".ps1", ".psm1", ".sh", ".bash", ".app",
        ".apk", ".elf", ".bin", ".run", ".lnk", ".hta", ".reg", ".py", ".pl",
    }
)
EXECUTABLE_MIME = frozenset(
    {
        "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
        "application/x-executable", "application/x-sharedlib", "application/x-sh",
        "application/x-msi", "application/java-archive", "application/javascript",
        "application/x-javascript", "text/javascript",
        "application/vnd.microsoft.portable-executable",
    }
)


def _name(obj: Any) -> str | None:
    return str(obj) if isinstance(obj, generic.NameObject) else None


def _text(obj: Any) -> str:
    if isinstance(obj, generic.TextStringObject | generic.ByteStringObject | str):
        return str(obj)
    return ""


def walk(
    start: Any, limit: int = MAX_OBJECTS, cache: dict[tuple[int, int], Any] | None = None
) -> Iterator[generic.DictionaryObject]:
    """Yield every dictionary (and stream dictionary) reachable from ``start`` once.

    ``cache`` is the reader's cache of resolved objects, keyed (generation, idnum).
    A stream read by the walk is dropped from it once its dictionary has been
    looked at: the walk never needs the data, and a 200 MB scan would otherwise
    stay in memory (every image) through signing. Signing re-reads the few
    streams it needs.
    """
    stack: list[Any] = [start]
    seen: set[tuple[int, int]] = set()
    count = 0
    while stack:
        obj = stack.pop()
        ref = None
        if isinstance(obj, generic.IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        count += 1
        if count > limit:
            raise PdfError("pdf-damaged", detail=f"more than {limit} objects")
        if isinstance(obj, generic.DictionaryObject):
            yield obj
            stack.extend(obj.raw_get(k) for k in obj)
            if cache is not None and ref is not None and isinstance(obj, generic.StreamObject):
                cache.pop((ref[1], ref[0]), None)
        elif isinstance(obj, generic.ArrayObject):
            stack.extend(obj.raw_get(i) for i in range(len(obj)))


def count_pages(reader: PdfFileReader, limit: int) -> int:
    """Count page leaves; a loop or absurd depth in the page tree is damage."""
    root_pages = reader.root.raw_get("/Pages")
    stack: list[tuple[Any, int]] = [(root_pages, 0)]
    seen: set[tuple[int, int]] = set()
    pages = 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_PAGE_TREE_DEPTH:
            raise PdfError("pdf-damaged", detail="the page tree is nested too deeply")
        if isinstance(node, generic.IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                raise PdfError("pdf-damaged", detail="the page tree contains a loop")
            seen.add(ref)
            node = node.get_object()
        if not isinstance(node, generic.DictionaryObject):
            continue
        kids = node.raw_get("/Kids") if "/Kids" in node else None
        if kids is not None:
            kids = kids.get_object() if isinstance(kids, generic.IndirectObject) else kids
        if _name(node.get("/Type")) == "/Page" or not isinstance(kids, generic.ArrayObject):
            pages += 1
            if pages > limit:
                raise PdfError("pdf-too-many-pages", pages=f"more than {limit}", limit=limit)
            continue
        stack.extend((kids.raw_get(i), depth + 1) for i in range(len(kids)))
    if pages == 0:
        raise PdfError("pdf-damaged", detail="the document has no pages")
    return pages


# What a dictionary the walk refuses must spell out in the file's bytes, unless
# it hides in a compressed object stream or behind a #-escaped name.
_ACTIVE_TOKENS = (b"/JS", b"/JavaScript", b"/Launch", b"/EF", b"/EmbeddedFile", b"/ObjStm")
_ESCAPED_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*#[0-9A-Fa-f]{2}")


def may_hold_active_content(data: bytes) -> bool:
    """False only when the whole walk of :func:`check` provably finds nothing.

    Why by hand: the walk resolves every object (about 1.2 ms of the ~13 ms a
    90 KB invoice costs to check and sign). A refused dictionary needs one of
    ``_ACTIVE_TOKENS`` as a key or value, and outside a compressed object stream
    (itself named ``/ObjStm``) a name is either spelled out or #-escaped. Stream
    data is searched too, so binary content can only cause a needless walk,
    never a missed one.
    """
    return any(t in data for t in _ACTIVE_TOKENS) or _ESCAPED_NAME.search(data) is not None


def check_pages(reader: PdfFileReader, max_pages: int) -> int:
    """Refuse encryption and too many pages; return the page count."""
    if reader.encrypted or "/Encrypt" in reader.trailer_view:
        raise PdfError("pdf-encrypted")
    return count_pages(reader, max_pages)


def check(reader: PdfFileReader, max_pages: int) -> int:
    """Raise PdfError for anything the policy refuses; return the page count."""
    pages = check_pages(reader, max_pages)
    # pyHanko's reader keeps what it resolved in ``resolved_objects`` (not public
    # API: without it the walk still works, it only keeps the streams in memory).
    cache = getattr(reader, "resolved_objects", None)
    for d in walk(reader.root, cache=cache if isinstance(cache, dict) else None):
        subtype = _name(d.get("/S")) if "/S" in d else None
        if subtype == "/JavaScript" or "/JS" in d:
            raise PdfError("pdf-javascript")
        if subtype == "/Launch":
            raise PdfError("pdf-launch-action")
        if "/EF" in d:
            fname = _text(d.get("/UF")) or _text(d.get("/F")) if ("/UF" in d or "/F" in d) else ""
            ext = ("." + fname.rsplit(".", 1)[-1].lower()) if "." in fname else ""
            if ext in EXECUTABLE_EXTENSIONS:
                raise PdfError("pdf-embedded-executable", name=fname[-80:])
        if _name(d.get("/Type")) == "/EmbeddedFile" and "/Subtype" in d:
            mime = (_name(d.get("/Subtype")) or "").lstrip("/").replace("#2F", "/").lower()
            if mime in EXECUTABLE_MIME:
                raise PdfError("pdf-embedded-executable", name=mime)
    return pages
