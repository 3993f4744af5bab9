"""A realistic workload: documents as practice software prints them, with valid sidecars.

- invoices of 50-150 KB: an embedded TrueType font, a logo image, a table of acts
  and amounts, 1-3 pages;
- prescriptions and certificates: 1 page;
- big scanned-style PDFs (image-heavy, tens to hundreds of MB);
- sidecars with valid matricules, spread over several authors.

Documents are generated once per (kind, variant) and reused with fresh sidecars, so
a benchmark of 10,000 documents does not spend minutes drawing PDFs. Used by
``bench/run.py`` and ``bench/peers/selftest.py``; run alone to write samples:
``.venv/bin/python -m econnector_testsupport.workload [OUTDIR]``.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF
from PIL import Image

from econnector import matricule
from econnector_testsupport.paths import BENCH

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
AUTHORS = ("90812100", "90812200", "90812300", "90812400")
ACTS = [("C1 Consultation", "52.40"), ("C41 Supplement nuit", "32.20"),
        ("N511 Pansement", "18.70"), ("E21 ECG", "35.10"), ("V1 Visite", "61.90"),
        ("P3 Prise de sang", "9.80"), ("C42 Certificat", "14.60")]


def font_path() -> str:
    for p in FONT_CANDIDATES:
        if Path(p).exists():
            return p
    raise SystemExit("bench needs DejaVuSans.ttf (Debian package fonts-dejavu-core)")


def logo_png(seed: int, size: int = 260) -> bytes:
    """A noisy logo: incompressible enough to weigh what real scanned logos weigh."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size // 2))
    img.putdata([(rng.randrange(256), rng.randrange(120), 90) for _ in range(size * size // 2)])
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _pdf(title: str) -> FPDF:
    pdf = FPDF()
    pdf.set_creator("Practice software (econnector bench)")
    pdf.set_title(title)
    pdf.add_font("DejaVu", "", font_path())
    pdf.set_font("DejaVu", size=10)
    return pdf


def invoice_pdf(seed: int, pages: int) -> bytes:
    rng = random.Random(seed)
    pdf = _pdf(f"Facture {seed}")
    logo = io.BytesIO(logo_png(seed))
    for page in range(pages):
        pdf.add_page()
        pdf.image(logo, x=10, y=8, w=50)
        pdf.set_xy(120, 10)
        pdf.multi_cell(80, 5, "Dr Anne Muller\nMédecine générale\n12, rue de l'Hôpital\n"
                       "L-1234 Luxembourg\nCode prestataire 90812100")
        pdf.set_xy(10, 45)
        pdf.set_font_size(14)
        pdf.cell(0, 8, f"Mémoire d'honoraires n° {seed} - page {page + 1}/{pages}",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_font_size(9)
        pdf.cell(30, 6, "Date", border=1)
        pdf.cell(100, 6, "Acte", border=1)
        pdf.cell(20, 6, "Qté", border=1, align="R")
        pdf.cell(30, 6, "Montant EUR", border=1, align="R", new_x="LMARGIN", new_y="NEXT")
        for row in range(28):
            act, amount = ACTS[rng.randrange(len(ACTS))]
            day = dt.date(2026, 11, 1) + dt.timedelta(days=row % 25)
            pdf.cell(30, 6, day.isoformat(), border=1)
            pdf.cell(100, 6, f"{act} - séance {row + 1}", border=1)
            pdf.cell(20, 6, "1", border=1, align="R")
            pdf.cell(30, 6, amount, border=1, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.multi_cell(0, 5, "Conditions: payable à 30 jours. Ce document est signé "
                       "électroniquement. " * 3)
    return bytes(pdf.output())


def single_page_pdf(kind: str, seed: int) -> bytes:
    pdf = _pdf(f"{kind} {seed}")
    pdf.add_page()
    pdf.image(io.BytesIO(logo_png(seed, 160)), x=10, y=8, w=35)
    pdf.set_xy(10, 40)
    pdf.set_font_size(14)
    pdf.cell(0, 8, {"prescription": "Ordonnance", "certificate": "Certificat médical",
                    "sick-leave-certificate": "Certificat d'incapacité de travail"}[kind],
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(10)
    for line in range(12):
        pdf.cell(0, 6, f"Ligne {line + 1}: posologie, durée, remarques - {seed}",
                 new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def scanned_pdf(megabytes: int, seed: int = 0) -> bytes:
    """Image-heavy pages (noise JPEGs, as bad as scans get), about ``megabytes`` MB.

    Every page gets its own image: fpdf2 stores identical images once, which
    would make a "200 MB" file of a few MB.
    """
    rng = random.Random(seed)
    size = (1654, 2339)  # A4 at 200 dpi, grey
    pdf = FPDF()
    total = 0
    while total < megabytes * 1024 * 1024:
        page = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
        buf = io.BytesIO()
        page.save(buf, format="JPEG", quality=90)
        total += buf.tell()
        pdf.add_page()
        pdf.image(buf, x=0, y=0, w=210, h=297)
    return bytes(pdf.output())


@dataclass(frozen=True)
class Doc:
    stem: str
    pdf: bytes
    sidecar: dict[str, Any]


class Workload:
    """Deterministic documents: a small pool of PDFs, unique sidecars."""

    def __init__(self, seed: int = 1, authors: tuple[str, ...] = AUTHORS) -> None:
        self.rng = random.Random(seed)
        self.authors = authors
        self.invoices = [invoice_pdf(seed * 100 + i, 1 + i % 3) for i in range(6)]
        self.singles = {k: [single_page_pdf(k, seed * 100 + i) for i in range(2)]
                        for k in ("prescription", "certificate", "sick-leave-certificate")}

    def doc(self, n: int, prefix: str = "w") -> Doc:
        kind = ("invoice", "invoice", "prescription", "certificate",
                "sick-leave-certificate")[n % 5]
        pdf = (self.invoices[n % len(self.invoices)] if kind == "invoice"
               else self.singles[kind][n % 2])
        birth = f"{1940 + n % 70}{1 + n % 12:02d}{1 + n % 28:02d}"
        meta: dict[str, Any] = {
            "schema": "econnector.document/v1",
            "document_id": f"{prefix.upper()}-{n:06d}",
            "type": kind,
            "issued_at": "2026-11-25T10:15:00+01:00",
            "language": ("fr", "de", "en")[n % 3],
            "patient": {"matricule": matricule.make(birth, f"{n % 1000:03d}"),
                        "insurer": "CNS"},
            "author": {"provider_code": self.authors[n % len(self.authors)]},
        }
        if kind == "invoice":
            meta["invoice"] = {"total": "84.60", "currency": "EUR", "paid": n % 2 == 0}
        return Doc(f"{prefix}{n:06d}", pdf, meta)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH / "results" / "samples"
    out.mkdir(parents=True, exist_ok=True)
    w = Workload()
    for i in range(5):
        d = w.doc(i)
        (out / f"{d.stem}.pdf").write_bytes(d.pdf)
        print(f"{d.stem}.pdf {d.sidecar['type']:<24} {len(d.pdf) / 1024:7.1f} KiB")
