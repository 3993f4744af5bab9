"""The optional visible signature box (``signing.visible``; off by default).

Why a box at all: a printed signed PDF shows nothing of its signature, and staff and
patients look for one. What it shows is the doctor's name, the signing date (the
Luxembourg calendar day) and "signé électroniquement" in the document's language.

PDF/A: its text is drawn with an embedded TrueType font (DejaVu Sans, Debian
``fonts-dejavu-core``; pyHanko subsets it into the file), never one of the 14 standard
fonts, which PDF/A forbids unembedded. No background image, so no transparency.

Where the box goes: a page number (1-based, negative from the end, -1 the last page)
and millimetres from the page's bottom-left corner. A box that does not fit is moved
(and shrunk only if larger than the page) onto the page instead of refusing the
document: the box is a courtesy, and one config serves A4, A5 and Letter pages alike.
A page number beyond the document likewise means its last (or, negative, its first)
page. Coordinates are those of the unrotated page (``/Rotate`` is not compensated).
A certified document (DocMDP) is signed without the box (:func:`visible_signature`).

The invoice QR code is not in this box: it is drawn on the page itself, before
signing (:mod:`.signworker`, docs/invoice-qr.md), with this module's font and page
geometry (:func:`embedded_font`, :func:`page_geometry`).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .receipts import LOCAL_ZONE

if TYPE_CHECKING:  # pyHanko's font stack is loaded by the signing workers only
    from pyhanko.pdf_utils.font.api import FontEngineFactory
    from pyhanko.pdf_utils.rw_common import PdfHandler
    from pyhanko.sign.fields import SigFieldSpec
    from pyhanko.stamp import TextStampStyle

FONT_FILE: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_SIZE: Final = 9
LEADING: Final = 11
MM: Final = 72 / 25.4  # PDF points per millimetre
A4: Final = (0.0, 0.0, 595.0, 842.0)  # a page without a usable /MediaBox is taken as A4

# fontTools says which tables of the font it drops from the subset, at WARNING, for
# every signature: nothing anyone can act on.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

# "Electronically signed by NAME on DATE", one phrase per line (the name may be long).
_TEXTS: Final = {
    "fr": ("Signé électroniquement par", "le {date}", "%d/%m/%Y"),
    "de": ("Elektronisch signiert von", "am {date}", "%d.%m.%Y"),
    "en": ("Electronically signed by", "on {date}", "%Y-%m-%d"),
}


class FontMissing(RuntimeError):
    """The box's font is not installed: a fault of the machine, not of the document
    (deliberately not a FileNotFoundError, which a worker reads as a withdrawn drop)."""


@dataclass(frozen=True)
class VisibleBox:
    """``signing.visible`` of the config: where the box goes, in millimetres."""

    page: int
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float

    def __post_init__(self) -> None:
        if self.page == 0:
            raise ValueError("page is 1-based (negative counts from the end): 0 is no page")
        for name in ("x_mm", "y_mm", "width_mm", "height_mm"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        if self.x_mm < 0 or self.y_mm < 0:
            raise ValueError("x_mm and y_mm are measured from the bottom-left corner: >= 0")
        if self.width_mm <= 0 or self.height_mm <= 0:
            raise ValueError("width_mm and height_mm must be positive")


@dataclass(frozen=True)
class Placement:
    """Where the box lands in one document."""

    page_index: int  # 0-based
    rect: tuple[int, int, int, int]  # lower-left x, y, upper-right x, y in PDF points
    moved: bool  # the page or the rectangle had to be changed to fit


def place(box: VisibleBox, page_count: int,
          page_box: tuple[float, float, float, float]) -> Placement:
    """The box in a document of ``page_count`` pages whose target page shows
    ``page_box`` (llx, lly, urx, ury): pulled onto an existing page and inside it."""
    if page_count < 1:
        raise ValueError("a document without pages has no place for a box")
    want = box.page - 1 if box.page > 0 else page_count + box.page
    index = min(max(want, 0), page_count - 1)
    llx, lly = min(page_box[0], page_box[2]), min(page_box[1], page_box[3])
    urx, ury = max(page_box[0], page_box[2]), max(page_box[1], page_box[3])
    x, y, w, h = llx + box.x_mm * MM, lly + box.y_mm * MM, box.width_mm * MM, box.height_mm * MM
    x0, x1 = _fit(x, w, llx, urx)
    y0, y1 = _fit(y, h, lly, ury)
    moved = index != want or any(
        abs(got - wanted) > 1 for got, wanted in zip((x0, y0, x1, y1), (x, y, x + w, y + h),
                                                     strict=True))
    return Placement(index, (x0, y0, x1, y1), moved)


def _fit(start: float, size: float, low: float, high: float) -> tuple[int, int]:
    """[start, start + size] moved inside [low, high] (shrunk to it if larger), in
    whole points rounded inwards so the box never sticks out."""
    lo, hi = math.ceil(low), math.floor(high)
    if hi - lo < 1:
        raise ValueError("the page is too small for a signature box")
    size = min(max(size, 1.0), hi - lo)
    a = round(min(max(start, lo), hi - size))
    return a, min(max(round(a + size), a + 1), hi)


def stamp_text(name: str, when: dt.datetime, language: str) -> str:
    """The box's text: the phrase, the doctor's name, the Luxembourg date of ``when``
    (an aware time; a naive one is taken as UTC) in ``language`` (fr, de, en; else en)."""
    lead, on, fmt = _TEXTS.get(language, _TEXTS["en"])
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    day = when.astimezone(LOCAL_ZONE).strftime(fmt)
    name = " ".join(unicodedata.normalize("NFC", name).split()) or "?"
    return f"{lead}\n{name}\n{on.format(date=day)}"


@functools.cache
def _font_factory() -> Callable[..., FontEngineFactory]:
    """The font factory class, defined on first use: the main process reads
    :class:`VisibleBox` from the config without loading pyHanko, fontTools and
    HarfBuzz (some 18 MiB and 0.3 s per process)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
    from pyhanko.pdf_utils.writer import BasePdfFileWriter

    class _PerMilleGlyphs(GlyphAccumulator):
        """pyHanko's glyph accumulator, with its PDF metrics in thousandths of an em.

        Why: pyHanko 0.38 writes a font's own units where PDF wants 1/1000 em (the /W
        widths, the TJ adjustments, the descriptor's metrics). Right for fonts of 1000
        units per em; DejaVu Sans has 2048, so readers would space its glyphs twice as
        wide as pyHanko laid them out (and cut the text off). HarfBuzz is asked for
        advances in 1/1000 em and the widths are scaled to match. It also adds the
        ``/CIDSet`` that PDF/A-1 requires of a subset CID font (PDF/A-2 and -3 allow it).
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._scale = 1000 / self.units_per_em
            if self.units_per_em != 1000:
                self.hb_font.scale = (1000, 1000)
                self.units_per_em = 1000
                fd = self.cidfont_obj._font_descriptor
                for key in ("/Ascent", "/Descent", "/CapHeight"):
                    if key in fd:
                        fd[key] = generic.NumberObject(round(float(fd[key]) * self._scale))
                fd["/FontBBox"] = generic.ArrayObject(
                    generic.NumberObject(round(float(v) * self._scale)) for v in fd["/FontBBox"])

        def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
            known = self._glyphs.get(glyph_id)
            if known is not None:
                return known
            cid, width = super()._get_cid_and_width(glyph_id)
            self._glyphs[glyph_id] = scaled = (cid, round(width * self._scale))
            return scaled

        def prepare_write(self) -> None:
            if not self._write_prepared:
                cids = {cid for cid, _ in self._glyphs.values()} | {0}
                bits = bytearray(max(cids) // 8 + 1)
                for cid in cids:
                    bits[cid // 8] |= 0x80 >> (cid % 8)
                self.cidfont_obj._font_descriptor["/CIDSet"] = self.writer.add_object(
                    generic.StreamObject(stream_data=bytes(bits)))
            super().prepare_write()

    @dataclass(frozen=True)
    class _PerMilleFont(GlyphAccumulatorFactory):
        """The factory of :class:`_PerMilleGlyphs`, over :func:`_font_bytes`."""

        whole: bool = False  # the whole font, for text beyond :data:`_COVERED`

        def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None
                               ) -> GlyphAccumulator:
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            font = io.BytesIO(_font_bytes(self.font_file, self.whole))
            return _PerMilleGlyphs(writer=writer, font_handle=font, font_size=self.font_size,
                                   obj_stream=obj_stream)

    return _PerMilleFont


# What the box's text may use without the whole font: Latin (with Extended-A/B and
# Additional), Greek, Cyrillic, general punctuation, the euro sign.
_COVERED: Final = frozenset(
    [*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x370, 0x530), *range(0x1E00, 0x1F00),
     *range(0x2000, 0x2070), 0x20AC])


@functools.lru_cache(maxsize=4)
def _font_bytes(path: str, whole: bool) -> bytes:
    """The font, once per process: cut down to :data:`_COVERED` without hinting or
    OpenType layout tables (these scripts need no shaping; the text is NFC).

    Why: pyHanko subsets the font it is given at every signature, and all of DejaVu
    Sans (6,000 glyphs) costs some 300 ms each time; the cut-down font about 40 ms."""
    with open(path, "rb") as fh:
        data = fh.read()
    if whole:
        return data
    from fontTools import subset, ttLib

    font = ttLib.TTFont(io.BytesIO(data))
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=sorted(_COVERED))
    cutter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def stamp_style(name: str, when: dt.datetime, language: str,
                font_file: Path = FONT_FILE) -> TextStampStyle:
    """pyHanko's style drawing :func:`stamp_text` with ``font_file`` embedded.

    The text is fixed here (pyHanko's own ``%(signer)s``/``%(ts)s`` are not used: the
    date is Luxembourg's, not the machine zone's), so ``%`` is escaped for its
    ``%``-formatting. The text shrinks to fit the box."""
    text = stamp_text(name, when, language)
    font = embedded_font(text, FONT_SIZE, font_file)
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    return TextStampStyle(
        stamp_text=text.replace("%", "%%"), border_width=1,
        # the font's size and the box's must agree (pyHanko #733: lines drift apart)
        text_box_style=TextBoxStyle(font=font, font_size=FONT_SIZE, leading=LEADING),
    )


def embedded_font(text: str, font_size: int, font_file: Path = FONT_FILE
                  ) -> FontEngineFactory:
    """The embedded font (PDF/A) for ``text``: the cut-down font when it covers the
    text, else the whole one. Also the invoice QR code's caption (:mod:`.signworker`)."""
    if not font_file.is_file():
        raise FontMissing(f"{font_file}: the signature box's font (fonts-dejavu-core)")
    whole = not all(ord(c) in _COVERED for c in text.replace("\n", ""))
    factory: FontEngineFactory = _font_factory()(str(font_file), font_size=font_size,
                                                 whole=whole)
    return factory


def page_geometry(pdf: PdfHandler, index: int) -> tuple[int, tuple[float, float, float, float]]:
    """The page count of ``pdf`` (its page tree's ``/Count``, as pyHanko counts when it
    adds the field) and the visible area of page ``index``: its crop box within its
    media box (both inheritable), A4 when they are missing or unreadable."""
    from pyhanko.pdf_utils.rw_common import find_inherited_value_in_tree

    count = int(pdf.root["/Pages"]["/Count"])
    if count < 1:
        raise ValueError("a document without pages has no place for a box")
    index = min(max(index if index >= 0 else count + index, 0), count - 1)
    page_ref, _ = pdf.find_page_for_modification(index)
    page = page_ref.get_object()
    media = _rect(find_inherited_value_in_tree(page, "/MediaBox", "/Parent")) or A4
    crop = _rect(find_inherited_value_in_tree(page, "/CropBox", "/Parent"))
    if crop is not None:
        clipped = (max(min(crop[0], crop[2]), min(media[0], media[2])),
                   max(min(crop[1], crop[3]), min(media[1], media[3])),
                   min(max(crop[0], crop[2]), max(media[0], media[2])),
                   min(max(crop[1], crop[3]), max(media[1], media[3])))
        if clipped[2] - clipped[0] >= 1 and clipped[3] - clipped[1] >= 1:
            media = clipped
    return count, media


def _rect(value: object) -> tuple[float, float, float, float] | None:
    from pyhanko.pdf_utils import generic

    try:
        value = value.get_object() if isinstance(value, generic.IndirectObject) else value
        if not isinstance(value, generic.ArrayObject) or len(value) != 4:
            return None
        a, b, c, d = (float(v.get_object()) for v in value)
    except (TypeError, ValueError, AttributeError):
        return None
    if not all(map(math.isfinite, (a, b, c, d))) or abs(c - a) < 1 or abs(d - b) < 1:
        return None
    return a, b, c, d


def certified(pdf: PdfHandler) -> bool:
    """Whether ``pdf`` carries a certification signature (a DocMDP entry)."""
    try:
        perms = pdf.root["/Perms"]
        return "/DocMDP" in perms.get_object()
    except (KeyError, AttributeError, TypeError):
        return False


def visible_signature(pdf: PdfHandler, box: VisibleBox, field_name: str, name: str,
                      when: dt.datetime, language: str, font_file: Path = FONT_FILE,
                      ) -> tuple[SigFieldSpec, TextStampStyle] | None:
    """What ``PdfSigner(meta, signer, new_field_spec=..., stamp_style=...)`` needs to
    draw the box in ``pdf`` (the writer about to be signed): the new field (named
    ``field_name``, as in the signature metadata) and its style.

    None for a certified document: sign it invisibly. DocMDP P=2 and P=3 allow
    signing, but pyHanko's validator (ours, the reference vault's) judges a new
    *visible* signature field after a certification a forbidden change (stricter than
    Acrobat): the certification would show as broken."""
    if certified(pdf):
        return None
    want = box.page - 1 if box.page > 0 else box.page
    count, page_box = page_geometry(pdf, want)
    where = place(box, count, page_box)
    from pyhanko.sign.fields import SigFieldSpec

    spec = SigFieldSpec(sig_field_name=field_name, on_page=where.page_index, box=where.rect)
    return spec, stamp_style(name, when, language, font_file)


def signer_name(cert: Any) -> str:
    """The name to show for a signer certificate (asn1crypto): its common name."""
    names = cert.subject.native if cert is not None else {}
    return " ".join(str(names.get("common_name") or "").split())
