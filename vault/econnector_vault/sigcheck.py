"""The vault's direct check of a PDF's last signature, without a full PDF document model.

Why by hand: pyHanko's validator builds the whole document model and the
signer's status objects, a large share of the reference vault's CPU per
upload (figures in docs/performance.md). What makes a delivered PDF an
untouched original is narrower and cheap to check directly:

0. the signature is found through the document structure, as pdfsig and
   pyHanko find it: the last ``startxref`` leads to cross-reference tables and
   the trailer's ``/Root``, whose ``/AcroForm`` ``/Fields`` tree holds a field
   of type ``/Sig`` whose value ``/V`` is the signature dictionary. Text that
   merely looks like a signature (a ``/ByteRange`` in a comment after an
   unsigned file) is never looked at: such a file has no signature field;
1. that dictionary's ``/ByteRange`` covers the whole file except one hole
   (``[0 b c d]`` with ``c + d`` = the file size), and the hole is exactly the
   dictionary's own hex-encoded ``/Contents`` string;
2. the hole holds a CMS SignedData with detached content, one signer, whose
   signed ``messageDigest`` equals the digest of the covered bytes;
3. the signer's signature over its signed attributes verifies with the public
   key of the certificate the SignedData names.

The covered bytes include the ``/ByteRange`` text itself, so it cannot be moved
without breaking the signature. :func:`verified` answers True only when all of
this holds for a shape it knows (detached CMS, RSA PKCS#1 v1.5, RSA-PSS or
ECDSA, SHA-2). Anything else, including every failure, answers False and the
caller asks pyHanko, whose verdict and wording then decide: the direct check
never refuses on its own. What it accepts is proven: every byte of the file
but the signature itself was signed by the certificate the CMS names, and the
signature sits in a signature field of the document. Files it cannot walk
(cross-reference streams, objects in object streams, damaged tables) go to
pyHanko: correct, only slower. The walk reads a handful of small objects, so
it costs little next to pyHanko's validation (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import mmap
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import cms
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import load_der_x509_certificate

_BYTE_RANGE = re.compile(  # used by the tests to find the hole of a known-good file
    rb"/ByteRange\s*\[\s*(\d{1,15})\s+(\d{1,15})\s+(\d{1,15})\s+(\d{1,15})\s*\]"
)
_HOLE = re.compile(rb"<[0-9A-Fa-f]*>")
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}

# -- the structure walk ---------------------------------------------------------------------------
# A deliberately small PDF object reader: enough for xref tables, the trailer,
# the catalog, the form field tree and the signature dictionary. Anything it
# does not understand raises _Unreadable, and pyHanko decides.


class _Unreadable(Exception):
    """The structure is not one the direct check walks; pyHanko decides."""


class _Name(str):
    """A PDF name, without its slash."""


class _Ref(tuple[int, int]):
    """An indirect reference ``n g R``."""


@dataclass(frozen=True)
class _Hex:
    """A hex string's span in the file (``<`` to after ``>``); its bytes are not needed."""

    start: int
    end: int


_WS = rb"\x00\t\n\x0c\r "
_DELIMS = rb"()<>\[\]{}/%"
_SKIP = re.compile(rb"(?:[" + _WS + rb"]+|%[^\r\n]*)*")
_NAME = re.compile(rb"/([^" + _WS + _DELIMS + rb"]*)")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_INT = re.compile(rb"\d{1,10}")
_HEX_STRING = re.compile(rb"<[0-9A-Fa-f" + _WS + rb"]*>")
_KEYWORD = re.compile(rb"[A-Za-z]+")
_REF_TAIL = re.compile(rb"[" + _WS + rb"]+(\d{1,5})[" + _WS + rb"]+R(?![^" + _WS + _DELIMS + rb"])")
_OBJ_HEAD = re.compile(rb"(\d{1,10})[" + _WS + rb"]+(\d{1,5})[" + _WS + rb"]+obj")
_STARTXREF = re.compile(
    rb"startxref[" + _WS + rb"]+(\d{1,15})[" + _WS + rb"]*%%EOF[" + _WS + rb"]*$"
)
_XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])(?: \r| \n|\r\n)")
_XREF_SUBSECTION = re.compile(rb"(\d{1,10})[ ]+(\d{1,10})[" + _WS + rb"]*")
_MAX_DEPTH = 32
_MAX_SECTIONS = 64
_MAX_FIELDS = 4096
_MAX_XREF_ENTRIES = 1_000_000


def _skip(mm: mmap.mmap, pos: int) -> int:
    m = _SKIP.match(mm, pos)
    return m.end() if m else pos


def _literal_end(mm: mmap.mmap, pos: int) -> int:
    """The offset after the literal string opening at ``pos`` (balanced parentheses)."""
    depth = 0
    size = len(mm)
    while pos < size:
        ch = mm[pos]
        if ch == 0x5C:  # backslash: the next byte is escaped
            pos += 2
            continue
        if ch == 0x28:
            depth += 1
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise _Unreadable


def _parse(mm: mmap.mmap, pos: int, depth: int = 0) -> tuple[object, int]:
    """The PDF object at ``pos`` (after whitespace) and the offset after it."""
    if depth > _MAX_DEPTH:
        raise _Unreadable
    pos = _skip(mm, pos)
    head = mm[pos : pos + 2]
    if head == b"<<":
        result: dict[str, object] = {}
        pos += 2
        while True:
            pos = _skip(mm, pos)
            if mm[pos : pos + 2] == b">>":
                return result, pos + 2
            m = _NAME.match(mm, pos)
            if m is None:
                raise _Unreadable
            key = m.group(1).decode("latin-1")
            value, pos = _parse(mm, m.end(), depth + 1)
            if key in result:
                raise _Unreadable  # duplicate keys: readers disagree on which wins
            result[key] = value
    if head[:1] == b"[":
        items: list[object] = []
        pos += 1
        while True:
            pos = _skip(mm, pos)
            if mm[pos : pos + 1] == b"]":
                return items, pos + 1
            value, pos = _parse(mm, pos, depth + 1)
            items.append(value)
    if head[:1] == b"/":
        m = _NAME.match(mm, pos)
        assert m is not None
        return _Name(m.group(1).decode("latin-1")), m.end()
    if head[:1] == b"<":
        m = _HEX_STRING.match(mm, pos)
        if m is None:
            raise _Unreadable
        return _Hex(pos, m.end()), m.end()
    if head[:1] == b"(":
        end = _literal_end(mm, pos)
        return bytes(mm[pos + 1 : end - 1]), end
    m = _NUMBER.match(mm, pos)
    if m is not None:
        text = m.group()
        if _INT.fullmatch(text):
            ref = _REF_TAIL.match(mm, m.end())
            if ref is not None:
                return _Ref((int(text), int(ref.group(1)))), ref.end()
            return int(text), m.end()
        return float(text), m.end()
    m = _KEYWORD.match(mm, pos)
    if m is not None and m.group() in (b"true", b"false", b"null"):
        return {b"true": True, b"false": False, b"null": None}[m.group()], m.end()
    raise _Unreadable


class _Document:
    """The objects of a PDF's classic cross-reference tables, newest revision winning."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        tail_from = max(0, len(mm) - 1024)
        found = None
        for match in _STARTXREF.finditer(mm, tail_from):
            found = match
        if found is None:
            raise _Unreadable
        # Subsections (first number, count, offset of the first entry), newest first.
        self.sections: list[tuple[int, int, int]] = []
        self.trailer: dict[str, object] | None = None
        seen: set[int] = set()
        at: object = int(found.group(1))
        while isinstance(at, int) and not isinstance(at, bool):
            if at in seen or len(seen) >= _MAX_SECTIONS:
                raise _Unreadable
            seen.add(at)
            trailer = self._read_section(at)
            if self.trailer is None:
                self.trailer = trailer
            if "XRefStm" in trailer:
                raise _Unreadable  # hybrid file: some objects live in streams
            at = trailer.get("Prev")

    def _read_section(self, at: int) -> dict[str, object]:
        mm = self.mm
        if mm[at : at + 4] != b"xref":
            raise _Unreadable  # a cross-reference stream: pyHanko reads those
        pos = _skip(mm, at + 4)
        while True:
            m = _XREF_SUBSECTION.match(mm, pos)
            if m is None:
                break
            first, count = int(m.group(1)), int(m.group(2))
            if count > _MAX_XREF_ENTRIES:
                raise _Unreadable
            # Entries are exactly 20 bytes each (PDF 32000-1, 7.5.4): read on demand.
            self.sections.append((first, count, m.end()))
            pos = m.end() + 20 * count
        if mm[pos : pos + 7] != b"trailer":
            raise _Unreadable
        trailer, _ = _parse(mm, pos + 7)
        if not isinstance(trailer, dict):
            raise _Unreadable
        return trailer

    def object_at(self, ref: _Ref) -> tuple[object, int]:
        """The object ``ref`` names and its offset in the file."""
        number = ref[0]
        for first, count, pos in self.sections:  # the newest revision wins
            if first <= number < first + count:
                entry = _XREF_ENTRY.fullmatch(self.mm, pos + 20 * (number - first),
                                              pos + 20 * (number - first + 1))
                if entry is None or entry.group(3) != b"n":
                    raise _Unreadable  # malformed or free
                offset, generation = int(entry.group(1)), int(entry.group(2))
                break
        else:
            raise _Unreadable  # absent (or in an object stream)
        if generation != ref[1]:
            raise _Unreadable
        m = _OBJ_HEAD.match(self.mm, offset)
        if m is None or (int(m.group(1)), int(m.group(2))) != tuple(ref):
            raise _Unreadable
        value, _ = _parse(self.mm, m.end())
        return value, offset

    def resolve(self, value: object) -> object:
        return self.object_at(value)[0] if isinstance(value, _Ref) else value


def _last_signature(mm: mmap.mmap) -> tuple[tuple[int, int, int, int], _Hex] | None:
    """The ``/ByteRange`` and ``/Contents`` of the signature field value that ends last.

    None when the document has no signed signature field (the attack of a
    ``/ByteRange`` in a trailing comment of an unsigned file lands here).
    """
    doc = _Document(mm)
    root = doc.resolve((doc.trailer or {}).get("Root"))
    if not isinstance(root, dict):
        raise _Unreadable
    form = doc.resolve(root.get("AcroForm"))
    if form is None:
        return None
    if not isinstance(form, dict):
        raise _Unreadable
    fields = doc.resolve(form.get("Fields"))
    if fields is None:
        return None
    if not isinstance(fields, list):
        raise _Unreadable
    best: tuple[tuple[int, int, int, int], _Hex] | None = None
    pending: list[tuple[object, object, int]] = [(f, None, 0) for f in reversed(fields)]
    visited: set[object] = set()
    while pending:
        item, inherited_type, level = pending.pop()
        if level > _MAX_DEPTH or len(visited) > _MAX_FIELDS:
            raise _Unreadable
        if isinstance(item, _Ref):
            if item in visited:
                continue  # a loop in the field tree: each field is looked at once
            visited.add(item)
        field = doc.resolve(item)
        if not isinstance(field, dict):
            raise _Unreadable
        field_type = field.get("FT", inherited_type)
        kids = doc.resolve(field.get("Kids"))
        if isinstance(kids, list):
            pending.extend((k, field_type, level + 1) for k in reversed(kids))
        value = field.get("V")
        if field_type != "Sig" or value is None:
            continue
        sig = doc.resolve(value)
        if not isinstance(sig, dict):
            raise _Unreadable
        if sig.get("Type", "Sig") != "Sig":
            continue  # a document timestamp: pyHanko checks those
        byte_range = sig.get("ByteRange")
        contents = sig.get("Contents")
        if not (
            isinstance(byte_range, list)
            and len(byte_range) == 4
            and all(type(x) is int for x in byte_range)
            and isinstance(contents, _Hex)
        ):
            raise _Unreadable
        a, b, c, d = (int(x) for x in byte_range)
        if best is None or c + d > best[0][2] + best[0][3]:
            best = ((a, b, c, d), contents)
    return best


def verified(path: Path) -> bool:
    """True when the file's last signature provably covers the whole file and verifies."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _verified(mm)
    except (OSError, ValueError):
        return False


def _verified(mm: mmap.mmap) -> bool:
    size = len(mm)
    try:
        located = _last_signature(mm)
    except _Unreadable:
        return False
    if located is None:
        return False
    (a, b, c, d), hole = located
    if a != 0 or not 0 < b < c or c + d != size:
        return False
    if (hole.start, hole.end) != (b, c):  # the hole is this dictionary's /Contents
        return False
    if _HOLE.fullmatch(mm, b, c) is None:
        return False
    try:
        der = bytes.fromhex(mm[b + 1 : c - 1].decode("ascii"))
        return _cms_verifies(der, mm, b, c)
    except (ValueError, TypeError, KeyError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _cms_verifies(der: bytes, mm: mmap.mmap, b: int, c: int) -> bool:
    """True when the CMS in the hole signs exactly the covered bytes; raises on bad input."""
    signed = _detached_signer(der)
    if signed is None:
        return False
    sd, si = signed
    digest_name = si["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES or not _digest_matches(si, digest_name, mm, b, c):
        return False
    public_key = _signer_key(sd, si)
    if public_key is None:
        return False
    return _signature_verifies(si, digest_name, public_key)


def _detached_signer(der: bytes) -> tuple[cms.SignedData, cms.SignerInfo] | None:
    """The SignedData and its one signer when ``der`` is detached CMS of that shape."""
    info = cms.ContentInfo.load(der, strict=False)
    if der[len(info.dump()) :].strip(b"\x00"):
        return None  # anything but zero padding after the DER: let pyHanko judge
    if info["content_type"].native != "signed_data":
        return None
    sd = info["content"]
    encap = sd["encap_content_info"]
    if encap["content_type"].native != "data" or encap["content"].native is not None:
        return None  # not detached
    if len(sd["signer_infos"]) != 1:
        return None
    return sd, sd["signer_infos"][0]


def _digest_matches(si: cms.SignerInfo, digest_name: str, mm: mmap.mmap, b: int, c: int) -> bool:
    """The signed ``messageDigest`` equals the digest of every byte but the hole."""
    signed_attrs = si["signed_attrs"]
    if not signed_attrs:
        return False
    message_digest = None
    for attr in signed_attrs:
        if attr["type"].native == "message_digest":
            message_digest = attr["values"][0].native
    if message_digest is None:
        return False
    h = hashlib.new(digest_name)
    with memoryview(mm) as view:  # no copy of a large file
        h.update(view[0:b])
        h.update(view[c:])
    return h.digest() == message_digest


def _signer_key(sd: cms.SignedData, si: cms.SignerInfo) -> Any:
    """The public key of the one certificate the signer names by issuer and serial, or None."""
    sid = si["sid"]
    if sid.name != "issuer_and_serial_number":
        return None
    issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
    certs = {  # the same certificate may be listed twice (signer and chain)
        choice.chosen.dump() for choice in sd["certificates"] or ()
        if choice.name == "certificate"
        and choice.chosen.serial_number == serial and choice.chosen.issuer == issuer
    }
    if len(certs) != 1:
        return None
    return load_der_x509_certificate(certs.pop()).public_key()


def _signature_verifies(si: cms.SignerInfo, digest_name: str, public_key: Any) -> bool:
    """The signer's signature over its signed attributes verifies (raises when it does not)."""
    # The signature covers the DER of the attributes as a SET OF (tag 0x31), not
    # as the [0] IMPLICIT field they are stored in.
    to_verify = b"\x31" + si["signed_attrs"].dump()[1:]
    signature = si["signature"].native
    algo = si["signature_algorithm"]
    algo_name = algo.signature_algo
    # A bare "rsassa_pkcs1v15"/"ecdsa" identifier takes the signer's digest algorithm.
    bare = algo["algorithm"].native in ("rsassa_pkcs1v15", "ecdsa")
    hash_cls = _HASHES[digest_name if bare else algo.hash_algo]
    if algo_name == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, to_verify, padding.PKCS1v15(), hash_cls())
        return True
    if algo_name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
        return _pss_verifies(algo["parameters"], public_key, signature, to_verify)
    if algo_name == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, to_verify, ec.ECDSA(hash_cls()))
        return True
    return False


def _pss_verifies(
    params: Any, public_key: rsa.RSAPublicKey, signature: bytes, to_verify: bytes
) -> bool:
    pss_hash = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    # Only MGF1 over the same hash is checked here; any other parameters go to pyHanko.
    if (
        pss_hash not in _HASHES
        or mgf["algorithm"].native != "mgf1"
        or mgf["parameters"]["algorithm"].native != pss_hash
        or params["trailer_field"].native != "trailer_field_bc"
    ):
        return False
    public_key.verify(
        signature, to_verify,
        padding.PSS(mgf=padding.MGF1(_HASHES[pss_hash]()),
                    salt_length=params["salt_length"].native),
        _HASHES[pss_hash](),
    )
    return True
