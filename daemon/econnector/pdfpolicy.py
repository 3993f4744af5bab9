"""PDF policy: what we refuse to sign, decided over a parsed pyHanko reader.

Refused: encryption (a signed original must be readable by anyone entitled to
it), active content (JavaScript, Launch actions, XFA forms, actions that open
an embedded PDF, actions that reach another machine, attachments of dangerous
types), too many pages. Accepted: data attachments (Factur-X/ZUGFeRD XML),
AcroForm forms, web and mail links, existing signatures. Parsing is lenient
(``strict=False``): a PDF a reader opens is not refused because the strictest
parser mode dislikes it. docs/pdf-policy.md gives the reasons for each rule.

The object walk uses an explicit stack and a visited set: hostile files with
reference loops or deep nesting cannot recurse us to death, and the walk never
decodes stream data (decompression bombs stay compressed, and XFA streams are
refused without being read).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from .errors import PdfError

MAX_OBJECTS = 500_000
MAX_PAGE_TREE_DEPTH = 256

# Attachments refused by file type: what Windows (or another desktop) runs,
# follows, mounts or loads macros from when the patient opens the attachment from
# the reader. docs/pdf-policy.md ("Dangerous attachment types") lists them with
# the reasons; keep both in step. Based on the attachments Outlook blocks, plus
# macro-enabled Office types and other platforms' programs and scripts.
DANGEROUS_EXTENSIONS = frozenset(
    {
        # Windows programs, libraries, installers, control panel items, add-ins
        ".exe", ".com", ".scr", ".pif", ".dll", ".ocx", ".sys", ".drv", ".cpl", ".msi",
        ".msp", ".mst", ".msu", ".msc", ".msix", ".msixbundle", ".appx", ".appxbundle",
        ".appinstaller", ".application", ".appref-ms", ".gadget", ".xbap", ".diagcab",
        ".xll", ".wll",
        # Windows scripts and what script hosts and help viewers run
        ".bat", ".cmd", ".js", ".jse", ".vb", ".vbs", ".vbe", ".wsf", ".wsh", ".wsc", ".ws",
        ".sct", ".hta", ".htc", ".ps1", ".ps1xml", ".ps2", ".ps2xml", ".psc1", ".psc2",
        ".psd1", ".psm1", ".psdm1", ".cdxml", ".msh", ".msh1", ".msh2", ".mshxml",
        ".msh1xml", ".msh2xml", ".reg", ".inf", ".ins", ".isp", ".its", ".chm", ".hlp",
        ".bas", ".shb", ".shs", ".mcf", ".wsb", ".vsmacros",
        # shortcuts and shell files: they run or open something else, or make
        # Windows connect to a server (and send the user's credentials)
        ".lnk", ".scf", ".url", ".website", ".webloc", ".desktop", ".settingcontent-ms",
        ".library-ms", ".searchconnector-ms", ".search-ms", ".xnk", ".theme", ".themepack",
        ".rdp", ".jnlp", ".iqy", ".slk",
        # macro-enabled Office documents, templates and add-ins; Access databases
        ".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".xlsb", ".pptm", ".potm", ".ppam",
        ".ppsm", ".sldm", ".mda", ".mdb", ".mde", ".mdt", ".mdw", ".mdz", ".accde",
        ".accdr", ".ade", ".adp",
        # disk images that mount with a double click (and drop the mark of the web)
        ".iso", ".img", ".vhd", ".vhdx",
        # other platforms' programs, packages and interpreted scripts
        ".jar", ".class", ".sh", ".bash", ".zsh", ".csh", ".ksh", ".command", ".app",
        ".pkg", ".dmg", ".apk", ".elf", ".bin", ".run", ".py", ".pyc", ".pyo", ".pyw",
        ".pyz", ".pyzw", ".pl", ".rb",
    }
)
EXECUTABLE_EXTENSIONS = DANGEROUS_EXTENSIONS  # the name it had before it grew
EXECUTABLE_MIME = frozenset(
    {
        "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
        "application/x-executable", "application/x-sharedlib", "application/x-sh",
        "application/x-msi", "application/java-archive", "application/javascript",
        "application/x-javascript", "text/javascript", "text/vbscript",
        "application/vnd.microsoft.portable-executable", "application/hta",
        "application/x-ms-shortcut", "application/x-mswinurl", "application/x-bat",
        "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-word.template.macroenabled.12",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-excel.template.macroenabled.12",
        "application/vnd.ms-excel.addin.macroenabled.12",
        "application/vnd.ms-excel.sheet.binary.macroenabled.12",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
        "application/vnd.ms-powerpoint.template.macroenabled.12",
        "application/vnd.ms-powerpoint.addin.macroenabled.12",
        "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
    }
)
# Every name a file specification gives its file (PDF 32000-1 7.11.3) is checked:
# readers differ in which one they show and which one they save under.
FILESPEC_NAME_KEYS = ("/UF", "/F", "/DOS", "/Mac", "/Unix")

# Actions that make the reader fetch, open or send to another file. Their target
# must be a plain relative path: anything with a scheme, a drive or a leading
# slash can name a server (opening a UNC path makes Windows send the user's NTLM
# credentials to it). /Launch and /GoToE have their own codes.
REMOTE_ACTIONS = frozenset({"/SubmitForm", "/ImportData", "/GoToR", "/Thread"})
# URI actions may use these schemes; a relative URI is fine unless it names a host.
URI_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# Characters that change how a name is shown or where C code cuts it without
# being what a file system stores: C0/C1 controls (NUL included), bidirectional
# marks, overrides and isolates, zero-width characters, the byte-order mark.
_INVISIBLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def _name(obj: Any) -> str | None:
    return str(obj) if isinstance(obj, generic.NameObject) else None


def _text(obj: Any) -> str:
    """A PDF string as text; a byte string that is not UTF-8 is read as Latin-1
    (pyHanko gives undecodable strings as bytes)."""
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, bytes):
        raw = bytes(obj)
        if raw[:2] == b"\xfe\xff":
            return raw[2:].decode("utf-16-be", "replace")
        if raw[:2] == b"\xff\xfe":
            return raw[2:].decode("utf-16-le", "replace")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return ""


def _shown(text: str, limit: int = 80) -> str:
    """``text`` safe to echo in a message: invisible characters escaped, tail kept."""
    out = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return out if len(out) <= limit else "..." + out[-limit:]


def file_names(name: str) -> set[str]:
    """The names a file called ``name`` may get on disk, normalised for matching.

    Both the part before a NUL (where C code cuts) and the whole name without
    NULs; compatibility forms folded (NFKC); invisible characters removed; the last
    path component whatever the separator (``/``, ``\\``, and ``:`` for classic Mac
    paths and NTFS streams); trailing dots and spaces stripped (Windows does);
    case-folded.
    """
    out = set()
    for raw in {name.split("\x00", 1)[0], name}:
        s = _INVISIBLE.sub("", unicodedata.normalize("NFKC", raw))
        for part in reversed(re.split(r"[/\\:]", s)):
            part = part.strip().rstrip(". ").casefold()
            if part:
                out.add(part)
                break
    return out


def dangerous_name(name: str) -> bool:
    """Whether a file named ``name`` has one of :data:`DANGEROUS_EXTENSIONS`."""
    return any(
        "." in n and "." + n.rsplit(".", 1)[1] in DANGEROUS_EXTENSIONS for n in file_names(name)
    )


def remote_target(target: str, url: bool = False) -> bool:
    """Whether a file-specification target may name another machine: a URL, a UNC
    path, or any absolute path or drive (only plain relative paths stay local)."""
    s = _INVISIBLE.sub("", unicodedata.normalize("NFKC", target)).strip().replace("\\", "/")
    return url or s.startswith("/") or ":" in s


def uri_refused(uri: str) -> bool:
    """Whether a URI action's target is refused: a scheme other than
    :data:`URI_SCHEMES` (``file:``, ``smb:``, ``ms-...:``, ``search-ms:``, ...), or a
    relative reference to a host (``//host/share``, ``\\\\host\\share``)."""
    s = _INVISIBLE.sub("", unicodedata.normalize("NFKC", uri)).strip()
    s = s.replace("\\", "/").casefold()
    m = _SCHEME.match(s)
    if m:
        return m.group(1) not in URI_SCHEMES
    return s.startswith("//")


def _resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def _filespec_targets(spec: Any) -> tuple[list[str], bool]:
    """The file names of a file specification (a string or a dictionary), and
    whether it is a URL specification (``/FS /URL``)."""
    spec = _resolve(spec)
    if isinstance(spec, generic.DictionaryObject):
        names = [_text(_resolve(spec.get(k))) for k in FILESPEC_NAME_KEYS if k in spec]
        return [n for n in names if n], _name(spec.get("/FS")) == "/URL"
    text = _text(spec)
    return ([text] if text else []), False


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
    for obj, ref in _each_once(stack, limit):
        if isinstance(obj, generic.DictionaryObject):
            yield obj
            stack.extend(obj.raw_get(k) for k in obj)
            if cache is not None and ref is not None and isinstance(obj, generic.StreamObject):
                cache.pop((ref[1], ref[0]), None)
        elif isinstance(obj, generic.ArrayObject):
            stack.extend(obj.raw_get(i) for i in range(len(obj)))


def _each_once(
    stack: list[Any], limit: int
) -> Iterator[tuple[Any, tuple[int, int] | None]]:
    """Pop ``stack`` (which the caller may extend) until empty: each object with its
    reference, every indirect object resolved once, at most ``limit`` in all (a
    hostile file can loop or fan out without end)."""
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
        yield obj, ref


def _embedded_file_keys(root: generic.DictionaryObject, limit: int = MAX_OBJECTS) -> Iterator[str]:
    """The keys of the ``/EmbeddedFiles`` name tree (some readers show them as the
    attachments' names), with the walk's visited set and bound."""
    names = _resolve(root.raw_get("/Names")) if "/Names" in root else None
    if not isinstance(names, generic.DictionaryObject) or "/EmbeddedFiles" not in names:
        return
    stack: list[Any] = [names.raw_get("/EmbeddedFiles")]
    for node, _ref in _each_once(stack, limit):
        if not isinstance(node, generic.DictionaryObject):
            continue
        entries = _resolve(node.raw_get("/Names")) if "/Names" in node else None
        if isinstance(entries, generic.ArrayObject):
            for i in range(0, len(entries), 2):
                key = _text(_resolve(entries.raw_get(i)))
                if key:
                    yield key
        kids = _resolve(node.raw_get("/Kids")) if "/Kids" in node else None
        if isinstance(kids, generic.ArrayObject):
            stack.extend(kids.raw_get(i) for i in range(len(kids)))


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


# What a dictionary the walk refuses must spell out in the file's bytes as a key
# or a name value (see ``_refuse``), unless it hides in a compressed object
# stream or behind a #-escaped name. /JS covers /JavaScript, /EF covers
# /EmbeddedFile(s); the longer tokens are kept to make the list readable.
_ACTIVE_TOKENS = (
    b"/JS", b"/JavaScript", b"/Launch", b"/EF", b"/EmbeddedFile", b"/EmbeddedFiles",
    b"/FileAttachment", b"/ObjStm", b"/XFA", b"/GoToE", b"/GoToR", b"/SubmitForm",
    b"/ImportData", b"/Thread", b"/URI",
)
# One pass over the bytes for all tokens, much faster than one substring search
# per token (PDFs are full of "/"), and the same answer (docs/performance.md).
_ACTIVE_TOKEN = re.compile(b"|".join(re.escape(t) for t in _ACTIVE_TOKENS))
_ESCAPED_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*#[0-9A-Fa-f]{2}")


def may_hold_active_content(data: bytes) -> bool:
    """False only when the whole walk of :func:`check` provably finds nothing.

    Why by hand: the walk resolves every object, a real share of what a small
    invoice costs to check and sign (docs/performance.md). Every rule of
    ``_refuse`` needs one of ``_ACTIVE_TOKENS`` as a key or name value of the
    refused dictionary (or, for the ``/EmbeddedFiles`` name-tree keys, in the
    catalog), and outside a compressed object stream (itself named ``/ObjStm``)
    a name is either spelled out or #-escaped. Stream data is searched too, so
    binary content can only cause a needless walk, never a missed one.
    """
    return _ACTIVE_TOKEN.search(data) is not None or _ESCAPED_NAME.search(data) is not None


def check_pages(reader: PdfFileReader, max_pages: int) -> int:
    """Refuse encryption and too many pages; return the page count."""
    if reader.encrypted or "/Encrypt" in reader.trailer_view:
        raise PdfError("pdf-encrypted")
    return count_pages(reader, max_pages)


def _refuse_names(names: list[str]) -> None:
    for n in names:
        if dangerous_name(n):
            raise PdfError("pdf-embedded-executable", name=_shown(n))


def _refuse_uri(uri: str) -> None:
    if _INVISIBLE.sub("", uri).strip().casefold().startswith("javascript:"):
        raise PdfError("pdf-javascript")
    if uri and uri_refused(uri):
        raise PdfError("pdf-remote-action", action="URI", target=_shown(uri))


def _refuse(d: generic.DictionaryObject) -> None:
    """Raise PdfError if the dictionary ``d`` (wherever it sits) is refused.

    Actions are recognised by their ``/S`` wherever they are (``/OpenAction``,
    ``/AA`` of the catalog, pages, annotations and fields, ``/A`` of annotations
    and outline items, ``/Next`` chains, name trees): the walk reaches them all.
    """
    subtype = _name(d.get("/S")) if "/S" in d else None
    if subtype == "/JavaScript" or "/JS" in d:
        raise PdfError("pdf-javascript")
    if subtype == "/Launch":
        raise PdfError("pdf-launch-action")
    if "/XFA" in d:
        raise PdfError("pdf-xfa")
    if subtype == "/GoToE":
        raise PdfError("pdf-embedded-pdf-action")
    if subtype in REMOTE_ACTIONS and "/F" in d:
        targets, url = _filespec_targets(d.raw_get("/F"))
        for t in targets or ([""] if url else []):
            if remote_target(t, url):
                raise PdfError(
                    "pdf-remote-action", action=subtype.lstrip("/"), target=_shown(t)
                )
    if subtype == "/URI":
        _refuse_uri(_text(_resolve(d.get("/URI"))))
    if "/EF" in d:
        _refuse_names(_filespec_targets(d)[0])
    if _name(d.get("/Type")) == "/EmbeddedFile" and "/Subtype" in d:
        mime = (_name(d.get("/Subtype")) or "").lstrip("/").replace("#2F", "/").lower()
        if mime in EXECUTABLE_MIME:
            raise PdfError("pdf-embedded-executable", name=mime)


def check(reader: PdfFileReader, max_pages: int) -> int:
    """Raise PdfError for anything the policy refuses; return the page count."""
    pages = check_pages(reader, max_pages)
    # pyHanko's reader keeps what it resolved in ``resolved_objects`` (not public
    # API: without it the walk still works, it only keeps the streams in memory).
    cache = getattr(reader, "resolved_objects", None)
    for d in walk(reader.root, cache=cache if isinstance(cache, dict) else None):
        _refuse(d)
    _refuse_names(list(_embedded_file_keys(reader.root)))
    # The base a relative URI action resolves against (catalog /URI /Base).
    uri = _resolve(reader.root.raw_get("/URI")) if "/URI" in reader.root else None
    if isinstance(uri, generic.DictionaryObject) and "/Base" in uri:
        _refuse_uri(_text(_resolve(uri.raw_get("/Base"))))
    return pages
