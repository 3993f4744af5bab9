"""What is already in a PDF survives our signature (issue 11, point 7; docs/pdf-policy.md,
"Not refused"): earlier signatures stay valid, a certification that forbids changes
is refused instead of broken and the milder ones are honoured, PDF/A files keep their
XMP identification. Signed through the real worker code in this process
(econnector_testsupport.signing), checked with pyHanko's validator and poppler's
pdfsig."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from econnector import signworker
from econnector.signer import SignOutcome
from econnector.testid import TestIdentity, make_identity
from econnector_testsupport.daemon import SECOND_PROVIDER, pdfsig
from econnector_testsupport.paths import CORPUS
from econnector_testsupport.signing import job
from econnector_testsupport.vault import unsigned_pdf

PDFAID = "http://www.aiim.org/pdfa/ns/id/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


@pytest.fixture(scope="module")
def someone_else(tmp_path_factory: pytest.TempPathFactory) -> TestIdentity:
    """Another doctor (own key, own TEST CA) who signed or certified the PDF first."""
    return make_identity(tmp_path_factory.mktemp("other"), SECOND_PROVIDER,
                         name="Dr Other Signer")


def key_of(ident: TestIdentity) -> signers.SimpleSigner:
    secret = ident.passphrase_file.read_bytes().rstrip(b"\r\n")
    key = signers.SimpleSigner.load_pkcs12(str(ident.pkcs12), passphrase=secret)
    assert key is not None
    return key


def sign_first(pdf: bytes, ident: TestIdentity, certify: bool = False,
               perms: fields.MDPPerm = fields.MDPPerm.FILL_FORMS) -> bytes:
    """``pdf`` signed by ``ident`` with pyHanko: an approval or a certification."""
    meta = signers.PdfSignatureMetadata(
        field_name="EarlierSignature", subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify, docmdp_permissions=perms)
    out = io.BytesIO()
    signers.PdfSigner(meta, key_of(ident)).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out)
    return out.getvalue()


def worker_signs(data: bytes, folder: Path) -> tuple[SignOutcome, Path, Path]:
    src, dst = folder / "in.pdf", folder / "out.pdf"
    src.write_bytes(data)
    return signworker.sign_file(job(src, dst, max_pages=10_000)), src, dst


def statuses(path: Path, *idents: TestIdentity) -> list[PdfSignatureStatus]:
    """pyHanko's verdict on every signature of ``path``, trusting ``idents``' CAs."""
    vc = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(i.ca_cert)) for i in idents],
        allow_fetching=False)
    with open(path, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        return [validate_pdf_signature(s, vc) for s in reader.embedded_signatures]


def assert_pdfsig_all_valid(path: Path, count: int) -> None:
    out = pdfsig(path)
    blocks = out.split("Signature #")[1:]
    assert len(blocks) == count, out
    for block in blocks:
        assert "Signature Validation: Signature is Valid." in block, out
    assert "Total document signed" in blocks[-1], out


def assert_earlier_accepts_ours(earlier: PdfSignatureStatus) -> None:
    """An earlier signature judges our update a change it allows (form filling at most)."""
    assert earlier.modification_level is not None
    assert earlier.modification_level <= ModificationLevel.FORM_FILLING
    assert earlier.bottom_line, earlier.pretty_print_details()


def assert_ours_good(status: PdfSignatureStatus) -> None:
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line, status.pretty_print_details()


# -- earlier signatures ---------------------------------------------------------------------


def test_an_earlier_approval_signature_stays_valid(
    worker_signer: None, identity: TestIdentity, someone_else: TestIdentity, tmp_path: Path
) -> None:
    original = sign_first(unsigned_pdf("co-signed"), someone_else)
    out, _, dst = worker_signs(original, tmp_path)
    assert out.ok, out
    signed = dst.read_bytes()
    assert signed[: len(original)] == original
    theirs, ours = statuses(dst, identity, someone_else)
    assert theirs.intact and theirs.valid and theirs.trusted, theirs.pretty_print_details()
    assert theirs.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert_earlier_accepts_ours(theirs)
    assert_ours_good(ours)
    assert_pdfsig_all_valid(dst, 2)


@pytest.mark.corpus
def test_the_corpus_file_signed_twice_keeps_both_signatures(
    worker_signer: None, identity: TestIdentity, tmp_path: Path
) -> None:
    src = CORPUS / "good" / "MatthiasValvekens_pyHanko__minimal-signed-twice-both-created.pdf"
    original = src.read_bytes()
    before = statuses(src, identity)
    assert len(before) == 2 and all(s.intact and s.valid for s in before)
    out, _, dst = worker_signs(original, tmp_path)
    assert out.ok, out
    assert dst.read_bytes()[: len(original)] == original
    *earlier, ours = statuses(dst, identity)
    assert len(earlier) == 2
    for was, now in zip(before, earlier, strict=True):
        # their certificates chain to pyHanko's own test CA, not trusted here: what
        # matters is that the signed bytes are untouched and the changes allowed
        assert now.intact and now.valid, now.pretty_print_details()
        # the last one covered the whole file; now its own revision, as the first did
        assert now.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
        assert was.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
        assert now.docmdp_ok is not False, now.pretty_print_details()
        assert now.modification_level is not None
        assert now.modification_level <= ModificationLevel.FORM_FILLING
    assert_ours_good(ours)
    assert_pdfsig_all_valid(dst, 3)


# -- certification signatures (DocMDP) ------------------------------------------------------


def test_a_certification_that_forbids_changes_is_refused_and_the_input_untouched(
    worker_signer: None, someone_else: TestIdentity, tmp_path: Path
) -> None:
    original = sign_first(unsigned_pdf("certified"), someone_else, certify=True,
                          perms=fields.MDPPerm.NO_CHANGES)
    out, src, dst = worker_signs(original, tmp_path)
    assert (out.ok, out.code) == (False, "pdf-certified-no-changes")
    assert hashlib.sha256(src.read_bytes()).digest() == hashlib.sha256(original).digest()
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]  # no temp file left


@pytest.mark.parametrize("perms", [fields.MDPPerm.FILL_FORMS, fields.MDPPerm.ANNOTATE],
                         ids=["P2-fill-forms", "P3-annotate"])
def test_a_certification_that_allows_signing_is_honoured(
    worker_signer: None, identity: TestIdentity, someone_else: TestIdentity, tmp_path: Path,
    perms: fields.MDPPerm,
) -> None:
    original = sign_first(unsigned_pdf("certified"), someone_else, certify=True, perms=perms)
    out, _, dst = worker_signs(original, tmp_path)
    assert out.ok, out
    assert dst.read_bytes()[: len(original)] == original
    certification, ours = statuses(dst, identity, someone_else)
    assert certification.docmdp_ok is True, certification.pretty_print_details()
    assert_earlier_accepts_ours(certification)
    assert_ours_good(ours)
    assert_pdfsig_all_valid(dst, 2)


@pytest.mark.corpus
def test_a_certified_pdfa_file_stays_within_its_certification(
    worker_signer: None, identity: TestIdentity, someone_else: TestIdentity, tmp_path: Path
) -> None:
    """A certified PDF/A invoice: our update rewrites its XMP (the modification date),
    which the certification (P=2) must still accept."""
    pdfa = (CORPUS / "good" / "ZUGFeRD_mustangproject__EmptyPDFA1.pdf").read_bytes()
    original = sign_first(pdfa, someone_else, certify=True, perms=fields.MDPPerm.FILL_FORMS)
    out, _, dst = worker_signs(original, tmp_path)
    assert out.ok, out
    certification, ours = statuses(dst, identity, someone_else)
    assert certification.docmdp_ok is True, certification.pretty_print_details()
    assert_ours_good(ours)


# -- PDF/A ----------------------------------------------------------------------------------


def _metadata(pdf: bytes) -> tuple[Any, bytes] | None:
    """The catalog's /Metadata stream (its dictionary and decoded XML), or None."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    ref = reader.root.raw_get("/Metadata") if "/Metadata" in reader.root else None
    if ref is None:
        return None
    stream = ref.get_object()
    if not isinstance(stream, generic.StreamObject):
        return None
    return stream, stream.data


def _xmp_properties(xml: bytes) -> dict[tuple[str, str], str]:
    """Each property of each rdf:Description, as (namespace, name) -> text: written as
    an attribute or as an element alike (a rewrite may turn one into the other)."""
    root = ET.fromstring(xml.strip(b"\x00 \r\n\t"))
    out: dict[tuple[str, str], str] = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for key, value in desc.attrib.items():
            if key.startswith("{") and not key.startswith(f"{{{RDF}}}"):
                ns, name = key[1:].split("}", 1)
                out[(ns, name)] = value.strip()
        for child in desc:
            if child.tag.startswith("{"):
                ns, name = child.tag[1:].split("}", 1)
                out[(ns, name)] = (child.text or "").strip()
    return out


def _pdfa_files() -> Iterator[Path]:
    for path in sorted((CORPUS / "good").glob("*.pdf")):
        meta = _metadata(path.read_bytes())
        if meta is not None and (PDFAID, "part") in _xmp_properties(meta[1]):
            yield path


PDFA = list(_pdfa_files()) if CORPUS.is_dir() else []


@pytest.mark.corpus
def test_the_corpus_has_the_pdfa_files_we_expect() -> None:
    names = {p.name for p in PDFA}
    assert {"MatthiasValvekens_pyHanko__minimal-pdf-ua-and-a.pdf",
            "ZUGFeRD_mustangproject__EmptyPDFA1.pdf"} <= names, names
    assert len(names) >= 5


@pytest.mark.corpus
@pytest.mark.parametrize("src", PDFA, ids=[p.name[:60] for p in PDFA])
def test_a_pdfa_file_keeps_its_xmp_and_its_original_bytes(
    worker_signer: None, identity: TestIdentity, tmp_path: Path, src: Path
) -> None:
    original = src.read_bytes()
    before = _metadata(original)
    assert before is not None
    out, _, dst = worker_signs(original, tmp_path)
    assert out.ok, out
    signed = dst.read_bytes()
    # the original is the first revision, byte for byte
    assert signed[: len(original)] == original
    assert out.input_sha256 == hashlib.sha256(original).hexdigest()
    after = _metadata(signed)
    assert after is not None, "the catalog lost its /Metadata stream"
    stream, xml = after
    assert stream.get("/Type") == "/Metadata" and stream.get("/Subtype") == "/XML"
    # PDF/A-1 wants the metadata stream unfiltered: if it was, it stays so
    assert ("/Filter" in stream) <= ("/Filter" in before[0])
    old, new = _xmp_properties(before[1]), _xmp_properties(xml)
    for key in ((PDFAID, "part"), (PDFAID, "conformance")):
        assert new.get(key) == old.get(key), (key, old.get(key), new.get(key))
    missing = sorted(set(old) - set(new))
    assert not missing, f"XMP properties dropped: {missing}"
    changed = sorted(k for k in old if k not in REWRITTEN and new.get(k) != old[k])
    assert not changed, f"XMP properties changed: {changed}"
    assert_ours_good(statuses(dst, identity)[-1])


# What a new revision may rewrite in the XMP: who wrote it last and when.
REWRITTEN = {("http://ns.adobe.com/pdf/1.3/", "Producer"),
             ("http://ns.adobe.com/xap/1.0/", "ModifyDate"),
             ("http://ns.adobe.com/xap/1.0/", "MetadataDate")}


@pytest.mark.corpus
@pytest.mark.parametrize("src", PDFA, ids=[p.name[:60] for p in PDFA])
def test_a_pdfa_file_keeps_its_info_and_xmp_in_agreement(
    worker_signer: None, tmp_path: Path, src: Path
) -> None:
    """PDF/A-1 (ISO 19005-1, 6.7.3): each document information entry equals its XMP
    property. Our revision rewrites /Producer and /ModDate: both sides must agree."""
    out, _, dst = worker_signs(src.read_bytes(), tmp_path)
    assert out.ok, out
    signed = dst.read_bytes()
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    info_ref = reader.trailer_view.get("/Info")
    info = info_ref.get_object() if info_ref is not None else {}
    meta = _metadata(signed)
    assert meta is not None
    xmp = _xmp_properties(meta[1])
    if "/Producer" in info:
        assert str(info["/Producer"]) == xmp.get(("http://ns.adobe.com/pdf/1.3/", "Producer")), (
            "Info /Producer and XMP pdf:Producer differ")
    if "/ModDate" in info:
        xmp_date = xmp.get(("http://ns.adobe.com/xap/1.0/", "ModifyDate"))
        assert xmp_date is not None
        assert generic.parse_pdf_date(str(info["/ModDate"]), strict=False) == (
            dt.datetime.fromisoformat(xmp_date.replace("Z", "+00:00")))
