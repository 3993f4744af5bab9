"""The invoice QR code on the signed PDF (issue 12 point 2; docs/invoice-qr.md): drawn by
the real worker code (in this process) in the same incremental update as the signature,
so the signature covers it; read back as a reader and a scanner see it (poppler's
pdftoppm at 300 dpi, zbar's zbarimg), and the signature checked with pyHanko and
poppler's pdfsig."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from econnector import appearance, invoiceqr, signworker
from econnector.signer import QrStamp, SignOutcome
from econnector.testid import TestIdentity, make_identity
from econnector.vault_client import idempotency_key
from econnector_testsupport.daemon import PROVIDER, SECOND_PROVIDER, pdfsig, require_tool
from econnector_testsupport.paths import CORPUS
from econnector_testsupport.signing import job
from econnector_testsupport.workload import invoice_pdf

DPI = 300
REF = invoiceqr.reference(idempotency_key(PROVIDER, "F-2026-000123"))
PAYLOAD = invoiceqr.payload(PROVIDER, REF, date(2026, 11, 25), 8460, False)
# the config's default: 180 mm from the left, 12 mm up, 20 mm square, page 1
DEFAULT = QrStamp(PAYLOAD, REF, page=1, x_mm=180, y_mm=12, size_mm=20)


@pytest.fixture(autouse=True)
def _font() -> None:
    if not appearance.FONT_FILE.is_file():  # the caption's font
        if os.environ.get("CI"):
            pytest.fail(f"{appearance.FONT_FILE} is required in CI (fonts-dejavu-core)")
        pytest.skip("fonts-dejavu-core is not installed on this developer machine")


def sign(original: bytes, folder: Path, qr: QrStamp | None) -> tuple[SignOutcome, bytes]:
    src, dst = folder / "in.pdf", folder / "out.pdf"
    src.write_bytes(original)
    out = signworker.sign_file(dataclasses.replace(job(src, dst, max_pages=1000), qr=qr))
    assert out.ok, out
    return out, dst.read_bytes()


def render(pdf: bytes, folder: Path, page: int, tag: str, dpi: int = DPI) -> Path:
    """Page ``page`` (1-based) as a PNG, as pdftoppm draws it."""
    path = folder / f"{tag}.pdf"
    path.write_bytes(pdf)
    subprocess.run([require_tool("pdftoppm"), "-r", str(dpi), "-png", "-f", str(page),
                    "-l", str(page), "-singlefile", str(path), str(folder / tag)],
                   check=True, timeout=120)
    return folder / f"{tag}.png"


def scan(png: Path) -> list[str]:
    """What zbarimg reads on the image: one text per code (none: an empty list)."""
    r = subprocess.run([require_tool("zbarimg"), "--raw", "-q", str(png)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 4), r.stderr  # 4: no code found
    return r.stdout.splitlines()


def statuses(pdf: bytes, *idents: TestIdentity) -> list[PdfSignatureStatus]:
    vc = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(i.ca_cert)) for i in idents],
        allow_fetching=False)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return [validate_pdf_signature(s, vc) for s in reader.embedded_signatures]


def assert_ours_covers_everything(pdf: bytes, folder: Path, ident: TestIdentity) -> None:
    ours = statuses(pdf, ident)[-1]
    assert ours.intact and ours.valid and ours.trusted, ours.pretty_print_details()
    assert ours.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert ours.bottom_line, ours.pretty_print_details()
    path = folder / "pdfsig.pdf"
    path.write_bytes(pdf)
    last = pdfsig(path).split("Signature #")[-1]
    assert "Signature Validation: Signature is Valid." in last, last
    assert "Total document signed" in last, last


def dark_box(img: Image.Image, region: tuple[float, float, float, float]
             ) -> tuple[int, int, int, int] | None:
    """The bounding box of dark pixels inside ``region`` (mm from the page's lower-left
    corner: x0, y0, x1, y1), in pixels of ``img`` (top-left origin)."""
    px = DPI / 25.4
    x0, y0, x1, y1 = region
    box = (round(x0 * px), img.height - round(y1 * px), round(x1 * px),
           img.height - round(y0 * px))
    found = img.convert("L").crop(box).point(lambda v: 255 if v < 128 else 0).getbbox()
    if found is None:
        return None
    return found[0] + box[0], found[1] + box[1], found[2] + box[0], found[3] + box[1]


# -- the code on the signed invoice ------------------------------------------------------


def test_the_code_scans_to_the_payload_and_the_signature_covers_it(
    worker_signer: None, identity: TestIdentity, tmp_path: Path
) -> None:
    original = invoice_pdf(seed=12, pages=2)
    out, signed = sign(original, tmp_path, DEFAULT)
    assert out.validation["invoice_qr"] is True
    # an incremental update: the original is the first revision, byte for byte, and
    # the hash receive.py compares is the original's
    assert signed[: len(original)] == original
    assert out.input_sha256 == hashlib.sha256(original).hexdigest()
    page1 = render(signed, tmp_path, 1, "signed")
    assert scan(page1) == [PAYLOAD]
    assert invoiceqr.parse(PAYLOAD).reference == REF
    # the original revision has no code: the one on the page was added by the update
    # the signature covers (its ByteRange spans the whole file)
    assert scan(render(original, tmp_path, 1, "original")) == []
    assert_ours_covers_everything(signed, tmp_path, identity)
    # where the config says: the modules fill 180..200 mm x 12..32 mm (1 px = 0.085 mm)
    img = Image.open(page1)
    code = dark_box(img, (170, 12.2, 210, 40))
    px = DPI / 25.4
    assert code is not None
    want = (180 * px, img.height - 32 * px, 200 * px, img.height - 12 * px)
    assert all(abs(got - w) <= 3 for got, w in zip(code, want, strict=True)), (code, want)
    # the caption sits under the code's quiet zone and nothing else on the page moved
    assert dark_box(img, (178, 5, 202, 11)) is not None
    before = Image.open(render(original, tmp_path, 1, "before", dpi=72)).convert("L")
    after = Image.open(render(signed, tmp_path, 1, "after", dpi=72)).convert("L")
    changed = ImageChops.difference(before, after).getbbox()
    assert changed is not None
    assert changed[0] >= round(170 / 25.4 * 72) and changed[1] >= after.height - round(
        33 / 25.4 * 72), changed
    # page 2 is untouched
    page2 = [render(pdf, tmp_path, 2, tag, dpi=72) for pdf, tag in
             ((original, "p2-before"), (signed, "p2-after"))]
    assert ImageChops.difference(*(Image.open(p).convert("L") for p in page2)).getbbox() \
        is None


def test_no_code_asked_means_page_one_is_untouched(
    worker_signer: None, identity: TestIdentity, tmp_path: Path
) -> None:
    original = invoice_pdf(seed=13, pages=1)
    out, signed = sign(original, tmp_path, None)
    assert "invoice_qr" not in out.validation
    assert signed[: len(original)] == original
    # the update adds the signature field only: page 1's content is the original's
    page_before = PdfFileReader(io.BytesIO(original), strict=False).root["/Pages"]["/Kids"][0]
    page_after = PdfFileReader(io.BytesIO(signed), strict=False).root["/Pages"]["/Kids"][0]
    assert page_after.raw_get("/Contents") == page_before.raw_get("/Contents")
    assert scan(render(signed, tmp_path, 1, "signed")) == []
    assert_ours_covers_everything(signed, tmp_path, identity)


def test_a_page_beyond_the_document_or_a_box_off_the_page_lands_on_its_last_page(
    worker_signer: None, identity: TestIdentity, tmp_path: Path
) -> None:
    """Decision: like the visible box, a layout setting never refuses an invoice: page 5
    of 2 is page 2, and a code 500 mm from the left is moved inside the page."""
    original = invoice_pdf(seed=14, pages=2)
    far = dataclasses.replace(DEFAULT, page=5, x_mm=500)
    _, signed = sign(original, tmp_path, far)
    assert scan(render(signed, tmp_path, 1, "p1")) == []
    page2 = render(signed, tmp_path, 2, "p2")
    assert scan(page2) == [PAYLOAD]
    img = Image.open(page2)
    code = dark_box(img, (150, 12.2, 210, 40))
    # moved left until its quiet zone (4 of its 29 modules) ends at the page's edge
    quiet = 4 * 20 / 29 * DPI / 25.4
    assert code is not None and abs(code[2] - (img.width - quiet)) <= 3, (code, img.width)
    assert_ours_covers_everything(signed, tmp_path, identity)


def test_an_earlier_signature_means_no_code(
    worker_signer: None, identity: TestIdentity, tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path
) -> None:
    """Drawing on a signed page is a change the earlier signature forbids: the code is
    left out (``invoice_qr`` false in the findings) and both signatures stay valid."""
    other = make_identity(tmp_path_factory.mktemp("other"), SECOND_PROVIDER,
                          name="Dr Other Signer")
    secret = other.passphrase_file.read_bytes().rstrip(b"\r\n")
    key = signers.SimpleSigner.load_pkcs12(str(other.pkcs12), passphrase=secret)
    assert key is not None
    buf = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(
        field_name="Earlier", subfilter=fields.SigSeedSubFilter.PADES), key).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(invoice_pdf(seed=15, pages=1)), strict=False),
        output=buf)
    original = buf.getvalue()
    out, signed = sign(original, tmp_path, DEFAULT)
    assert out.validation["invoice_qr"] is False
    assert scan(render(signed, tmp_path, 1, "signed")) == []
    theirs, ours = statuses(signed, identity, other)
    assert theirs.intact and theirs.valid, theirs.pretty_print_details()
    assert theirs.modification_level is not None
    assert theirs.modification_level <= ModificationLevel.FORM_FILLING
    assert ours.coverage == SignatureCoverageLevel.ENTIRE_FILE and ours.bottom_line


@pytest.mark.corpus
def test_a_real_pdfa_invoice_gets_a_readable_code(
    worker_signer: None, identity: TestIdentity, tmp_path: Path
) -> None:
    """A ZUGFeRD invoice (PDF/A-3 with its XML attached) from the shared corpus."""
    original = (CORPUS / "good" / "ZUGFeRD_mustangproject__Facture_F20180027.pdf").read_bytes()
    out, signed = sign(original, tmp_path, DEFAULT)
    assert out.validation["invoice_qr"] is True
    assert signed[: len(original)] == original
    assert scan(render(signed, tmp_path, 1, "signed")) == [PAYLOAD]
    assert_ours_covers_everything(signed, tmp_path, identity)
