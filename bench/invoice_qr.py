"""What the invoice QR code (issue 12) costs a signing worker, per invoice.

Signs the benchmark's invoices in this process exactly as a signing worker does
(``signworker.sign_file``, B-B, a TEST identity), alternately without and with the
QR code, and prints a Markdown table: CPU ms per signature, and the code's share
(drawing it: the QR matrix and its mask choice by the ``qrcode`` package, the
caption's font subset by pyHanko). No peer: there is no other implementation of
this payload to compare with; the figure to watch is the difference.

    .venv/bin/python bench/invoice_qr.py [--count 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from econnector import invoiceqr, signworker
from econnector.signer import QrStamp
from econnector.vault_client import idempotency_key
from econnector_testsupport.daemon import PROVIDER, make_identity
from econnector_testsupport.signing import job, load_worker
from econnector_testsupport.workload import invoice_pdf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=60, help="signatures of each kind")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        load_worker(make_identity(folder / "id"))
        pdfs = [invoice_pdf(i, 1 + i % 3) for i in range(6)]
        cpu: dict[str, list[float]] = {"without": [], "with": []}
        for n in range(args.count * 2 + 2):
            kind = "with" if n % 2 else "without"
            src, dst = folder / f"in{n}.pdf", folder / f"out{n}.pdf"
            src.write_bytes(pdfs[n % len(pdfs)])
            ref = invoiceqr.reference(idempotency_key(PROVIDER, f"BENCH-{n}"))
            qr = (QrStamp(invoiceqr.payload(PROVIDER, ref, date(2026, 11, 30), 8460 + n,
                                            False), ref, 1, 180, 12, 20)
                  if kind == "with" else None)
            t = time.process_time()
            out = signworker.sign_file(dataclasses.replace(job(src, dst, 1000), qr=qr))
            spent = (time.process_time() - t) * 1000
            assert out.ok, out
            if n >= 2:  # the first of each kind warms the caches up
                cpu[kind].append(spent)
    without, with_qr = (statistics.median(cpu[k]) for k in ("without", "with"))
    print("| scenario | signatures | CPU ms per signature (median) | p90 |")
    print("|---|---|---|---|")
    for name, kind in (("invoice, no QR code", "without"), ("invoice with QR code", "with")):
        values = sorted(cpu[kind])
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p90:.1f} |")
    print(f"\nthe QR code costs {with_qr - without:.1f} ms of CPU per invoice "
          f"({(with_qr - without) / without:.0%} more than signing alone)")


if __name__ == "__main__":
    main()
