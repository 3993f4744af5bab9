"""The optional visible signature box (econnector.appearance, issue 11 point 7): drawn
where the config says, with an embedded font so PDF/A stays PDF/A, in the document's
language; signed with pyHanko in this process and checked with poppler (pdftoppm,
pdffonts, pdftotext, pdfsig), as a reader sees it."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fontTools import ttLib
from PIL import Image, ImageChops
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from econnector import appearance
from econnector.appearance import MM, VisibleBox
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import pdfsig, require_tool
from econnector_testsupport.paths import CORPUS
from econnector_testsupport.vault import unsigned_pdf

NAME = "Dr Marie Schmit-Müller"
# 23:30 UTC on 24 November is already 25 November in Luxembourg (UTC+1).
WHEN = dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC)
A4_POINTS = (0.0, 0.0, 595.0, 842.0)
BOX = VisibleBox(page=-1, x_mm=110, y_mm=20, width_mm=80, height_mm=25)


@pytest.fixture(autouse=True)
def _font() -> None:
    if not appearance.FONT_FILE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{appearance.FONT_FILE} is required in CI (fonts-dejavu-core)")
        pytest.skip("fonts-dejavu-core is not installed on this developer machine")


@pytest.fixture(scope="module")
def pdf_signer_key(identity: TestIdentity) -> signers.SimpleSigner:
    secret = identity.passphrase_file.read_bytes().rstrip(b"\r\n")
    key = signers.SimpleSigner.load_pkcs12(str(identity.pkcs12), passphrase=secret)
    assert key is not None
    return key


def sign(pdf: bytes, key: signers.Signer, box: VisibleBox = BOX, language: str = "fr",
         name: str = NAME) -> tuple[bytes, fields.SigFieldSpec]:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    visible = appearance.visible_signature(w, box, "econnector-test", name, WHEN, language)
    assert visible is not None
    spec, style = visible
    meta = signers.PdfSignatureMetadata(field_name="econnector-test",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = io.BytesIO()
    signers.PdfSigner(meta, key, stamp_style=style, new_field_spec=spec).sign_pdf(
        w, output=out)
    return out.getvalue(), spec


def render(pdf: bytes, folder: Path, tag: str) -> list[Image.Image]:
    """Every page in grey at 72 dpi: one pixel per PDF point."""
    tool = require_tool("pdftoppm")
    src = folder / f"{tag}.pdf"
    src.write_bytes(pdf)
    subprocess.run([tool, "-gray", "-r", "72", str(src), str(folder / tag)], check=True,
                   timeout=60)
    return [Image.open(p).convert("L") for p in sorted(folder.glob(f"{tag}-*.pgm"))]


def pixel_box(rect: tuple[int, int, int, int], page_height: int, margin: int = 2
              ) -> tuple[int, int, int, int]:
    """A PDF rectangle (bottom-left origin) as image pixels (top-left origin)."""
    x0, y0, x1, y1 = rect
    return x0 - margin, page_height - y1 - margin, x1 + margin, page_height - y0 + margin


def dark_pixels(img: Image.Image) -> int:
    return sum(img.point(lambda v: 255 if v < 128 else 0).histogram()[255:])


def page_text(pdf: bytes, folder: Path, page: int) -> str:
    tool = require_tool("pdftotext")
    src = folder / "text.pdf"
    src.write_bytes(pdf)
    r = subprocess.run([tool, "-f", str(page), "-l", str(page), str(src), "-"],
                       capture_output=True, text=True, timeout=60, check=True)
    return r.stdout


# -- where the box goes -------------------------------------------------------------------


def test_the_last_page_of_three_gets_the_box_and_nothing_else_changes(
    pdf_signer_key: signers.Signer, tmp_path: Path
) -> None:
    original = unsigned_pdf("Facture 2026-000123", pages=3)
    signed, spec = sign(original, pdf_signer_key)
    assert spec.on_page == 2
    before, after = render(original, tmp_path, "in"), render(signed, tmp_path, "out")
    assert len(before) == len(after) == 3
    # pages 1 and 2 are pixel for pixel what they were
    for a, b in zip(before[:2], after[:2], strict=True):
        assert ImageChops.difference(a, b).getbbox() is None
    # page 3 changed only inside the box, and the box is not blank
    assert spec.box is not None
    area = pixel_box(spec.box, after[2].height)
    changed = ImageChops.difference(before[2], after[2]).getbbox()
    assert changed is not None
    assert (changed[0] >= area[0] and changed[1] >= area[1]
            and changed[2] <= area[2] and changed[3] <= area[3]), (changed, area)
    inside = after[2].crop(area)
    assert dark_pixels(inside) > 300  # a border and three lines of text
    # where the config said: 110 mm from the left, 20 mm up, 80 x 25 mm
    x0, y0, x1, y1 = spec.box
    assert (x0, y0) == (round(110 * MM), round(20 * MM))
    assert (x1 - x0, y1 - y0) == (round(80 * MM), round(25 * MM))
    # the widget hangs on page 3 and the signature is valid (poppler)
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    page3, _ = reader.find_page_for_modification(2)
    annots = page3.get_object().get("/Annots", [])
    assert any(a.get_object().get("/FT") == "/Sig" for a in annots)
    out = pdfsig_of(signed, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out


def pdfsig_of(pdf: bytes, folder: Path) -> str:
    path = folder / "pdfsig.pdf"
    path.write_bytes(pdf)
    return pdfsig(path)


def test_a_box_outside_the_page_is_moved_onto_it(
    pdf_signer_key: signers.Signer, tmp_path: Path
) -> None:
    """Decision: clamp, never refuse (module docstring). A box 500 mm from the left of
    an A4 page ends at its right edge, same size; page 7 of 3 is page 3."""
    far = VisibleBox(page=7, x_mm=500, y_mm=280, width_mm=80, height_mm=25)
    where = appearance.place(far, 3, A4_POINTS)
    assert where.moved and where.page_index == 2
    x0, y0, x1, y1 = where.rect
    assert (x1, y1) == (595, 842) and (x1 - x0, y1 - y0) == (round(80 * MM), round(25 * MM))
    original = unsigned_pdf("far", pages=3)  # fpdf's A4: 595.28 x 841.89 points
    count, media = appearance.page_geometry(PdfFileReader(io.BytesIO(original)), 2)
    assert count == 3
    where = appearance.place(far, count, media)
    signed, spec = sign(original, pdf_signer_key, box=far)
    assert (spec.on_page, spec.box) == (2, where.rect)
    assert where.rect[2] <= media[2] and where.rect[3] <= media[3]
    page = render(signed, tmp_path, "far")[2]
    assert dark_pixels(page.crop(pixel_box(where.rect, page.height, margin=0))) > 300


def test_placement_rules() -> None:
    fits = appearance.place(VisibleBox(1, 10, 10, 50, 20), 2, A4_POINTS)
    assert (fits.page_index, fits.moved) == (0, False)
    assert appearance.place(VisibleBox(-1, 10, 10, 50, 20), 3, A4_POINTS).page_index == 2
    assert appearance.place(VisibleBox(-9, 10, 10, 50, 20), 3, A4_POINTS).page_index == 0
    # larger than the page: shrunk to the page
    huge = appearance.place(VisibleBox(1, 0, 0, 1000, 1000), 1, A4_POINTS)
    assert huge.rect == (0, 0, 595, 842) and huge.moved
    # an offset media box (origin not at 0, 0): millimetres from its corner
    shifted = appearance.place(VisibleBox(1, 10, 10, 50, 20), 1, (100, 200, 695, 1042))
    assert shifted.rect[:2] == (100 + round(10 * MM), 200 + round(10 * MM))
    good: dict[str, Any] = {"page": 1, "x_mm": 1, "y_mm": 1, "width_mm": 10, "height_mm": 10}
    for bad in ({"page": 0}, {"width_mm": 0}, {"height_mm": -1}, {"x_mm": -1},
                {"y_mm": float("nan")}):
        with pytest.raises(ValueError):
            VisibleBox(**{**good, **bad})


# -- the font ----------------------------------------------------------------------------


def pdffonts(pdf: bytes, folder: Path) -> list[dict[str, str]]:
    """poppler's font list, one dict per font (its columns by their header)."""
    path = folder / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([require_tool("pdffonts"), str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    header, dashes, *rows = out.splitlines()
    spans, pos = [], 0
    for part in dashes.split(" "):
        spans.append((pos, pos + len(part)))
        pos += len(part) + 1
    names = [header[a:b].strip() or f"col{i}" for i, (a, b) in enumerate(spans)]
    names[-1] = "object"  # "object ID" spans two dash groups
    return [{n: row[a:b].strip() for n, (a, b) in zip(names, spans, strict=True)}
            for row in rows]


def test_the_font_is_embedded_and_its_widths_agree_with_the_font_program(
    pdf_signer_key: signers.Signer, tmp_path: Path
) -> None:
    signed, _ = sign(unsigned_pdf(), pdf_signer_key)
    ours = [f for f in pdffonts(signed, tmp_path) if "DejaVuSans" in f["name"]]
    assert len(ours) == 1, ours
    assert ours[0]["type"] == "CID TrueType"
    assert (ours[0]["emb"], ours[0]["sub"], ours[0]["uni"]) == ("yes", "yes", "yes")
    # The /W widths are in 1/1000 em and match the embedded font's own advances (the
    # PDF/A rule on consistent glyph widths; pyHanko alone writes font units here).
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    cid_font = _our_cid_font(reader)
    program = ttLib.TTFont(io.BytesIO(
        cid_font["/FontDescriptor"]["/FontFile2"].get_object().data))
    upem, hmtx = program["head"].unitsPerEm, program["hmtx"]
    order = program.getGlyphOrder()
    widths = _widths(cid_font["/W"])
    assert len(widths) > 10
    for cid, width in widths.items():
        assert abs(width - hmtx[order[cid]][0] * 1000 / upem) <= 1, (cid, width)
    assert "/CIDSet" in cid_font["/FontDescriptor"]  # PDF/A-1 wants it for subsets


def _our_cid_font(reader: PdfFileReader) -> Any:
    """The CIDFont of the signature appearance (the widget's /AP /N and its forms)."""
    for i in range(int(reader.root["/Pages"]["/Count"])):
        page, _ = reader.find_page_for_modification(i)
        for annot in page.get_object().get("/Annots", []):
            ap = annot.get_object().get("/AP")
            found = _find_type0(ap["/N"].get_object(), 0) if ap is not None else None
            if found is not None:
                return found
    raise AssertionError("no Type0 font in the signature's appearance")


def _find_type0(xobject: Any, depth: int) -> Any:
    res = xobject.get("/Resources")
    if res is None or depth > 5:
        return None
    res = res.get_object()
    for font in res.get("/Font", {}).values():
        font = font.get_object()
        if font.get("/Subtype") == "/Type0":
            return font["/DescendantFonts"][0].get_object()
    for sub in res.get("/XObject", {}).values():
        hit = _find_type0(sub.get_object(), depth + 1)
        if hit is not None:
            return hit
    return None


def _widths(w: Any) -> dict[int, float]:
    """A /W array (``c [w1 w2 ...]`` or ``c_first c_last w``) as cid -> width."""
    out: dict[int, float] = {}
    items = [x.get_object() for x in w]
    i = 0
    while i < len(items):
        first, nxt = int(items[i]), items[i + 1]
        if isinstance(nxt, list):
            out.update({first + k: float(v) for k, v in enumerate(nxt)})
            i += 2
        else:
            out.update({cid: float(items[i + 2]) for cid in range(first, int(nxt) + 1)})
            i += 3
    return out


# -- the text ----------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "phrase", "date"), [
    ("fr", "Signé électroniquement par", "le 25/11/2026"),
    ("de", "Elektronisch signiert von", "am 25.11.2026"),
    ("en", "Electronically signed by", "on 2026-11-25"),
])
def test_the_text_is_in_the_documents_language(
    pdf_signer_key: signers.Signer, tmp_path: Path, language: str, phrase: str, date: str
) -> None:
    assert appearance.stamp_text(NAME, WHEN, language) == f"{phrase}\n{NAME}\n{date}"
    signed, _ = sign(unsigned_pdf(), pdf_signer_key, language=language)
    text = page_text(signed, tmp_path, 1)  # through the font's ToUnicode map
    for line in (phrase, NAME, date):
        assert line in text, text


def test_odd_names_are_drawn_as_written(pdf_signer_key: signers.Signer, tmp_path: Path) -> None:
    """A ``%`` is not a format directive; a decomposed accent is composed (NFC); Greek
    is in the cut-down font, Armenian only in the whole one (the fallback)."""
    for name, shown in [("Dr 100% Schmit", "Dr 100% Schmit"),
                        ("Dr Ge\u0301rard Ağır", "Dr Gérard Ağır"),
                        ("Dr Ά. Παπαδοπούλου", "Dr Ά. Παπαδοπούλου"),
                        ("Dr Արամ Պետրոսյան", "Dr Արամ Պետրոսյան")]:
        signed, _ = sign(unsigned_pdf(), pdf_signer_key, name=name)
        assert shown in page_text(signed, tmp_path, 1), name


@pytest.mark.corpus
def test_a_pdfa_file_with_the_box_keeps_every_font_embedded(
    pdf_signer_key: signers.Signer, tmp_path: Path
) -> None:
    src = CORPUS / "good" / "ZUGFeRD_mustangproject__EmptyPDFA1.pdf"
    original = src.read_bytes()
    before = pdffonts(original, tmp_path)
    signed, _ = sign(original, pdf_signer_key, box=VisibleBox(1, 20, 20, 70, 20))
    assert signed[: len(original)] == original
    after = pdffonts(signed, tmp_path)
    assert all(f["emb"] == "yes" for f in before)
    assert any("DejaVuSans" in f["name"] for f in after)
    assert all(f["emb"] == "yes" for f in after), after
    meta = PdfFileReader(io.BytesIO(signed), strict=False).root["/Metadata"].get_object()
    assert b"pdfaid" in meta.data


def test_a_certified_document_is_signed_without_the_box(
    pdf_signer_key: signers.Signer, identity: TestIdentity
) -> None:
    """DocMDP P=2 allows signing, but pyHanko's validator (ours, the vault's) takes a
    new *visible* signature field after a certification for a forbidden change: so a
    certified document gets no box, and its certification stays intact."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    meta = signers.PdfSignatureMetadata(
        field_name="Certification", certify=True, subfilter=fields.SigSeedSubFilter.PADES,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS)
    out = io.BytesIO()
    signers.PdfSigner(meta, pdf_signer_key).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf())), output=out)
    certified = out.getvalue()
    vc = ValidationContext(trust_roots=[load_cert_from_pemder(str(identity.ca_cert))],
                           allow_fetching=False)
    ours = signers.PdfSignatureMetadata(field_name="econnector-test",
                                        subfilter=fields.SigSeedSubFilter.PADES)

    def certification_after(**kwargs: Any) -> Any:
        w = IncrementalPdfFileWriter(io.BytesIO(certified))
        signed = io.BytesIO()
        signers.PdfSigner(ours, pdf_signer_key, **kwargs).sign_pdf(w, output=signed)
        reader = PdfFileReader(io.BytesIO(signed.getvalue()), strict=False)
        first, last = (validate_pdf_signature(s, vc) for s in reader.embedded_signatures)
        assert last.bottom_line, last.pretty_print_details()
        return first

    w = IncrementalPdfFileWriter(io.BytesIO(certified))
    assert appearance.certified(w)
    assert appearance.visible_signature(w, BOX, "econnector-test", NAME, WHEN, "fr") is None
    invisible = certification_after()
    assert invisible.docmdp_ok is True, invisible.pretty_print_details()
    assert invisible.modification_level == ModificationLevel.FORM_FILLING
    # why: the same signature with a box breaks the certification in pyHanko's eyes
    where = appearance.place(BOX, 1, A4_POINTS)
    boxed = certification_after(
        new_field_spec=fields.SigFieldSpec("econnector-test", on_page=0, box=where.rect),
        stamp_style=appearance.stamp_style(NAME, WHEN, "fr"))
    assert boxed.docmdp_ok is False
    assert not appearance.certified(IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf())))
