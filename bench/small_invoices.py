"""Throughput and drop-to-receipt time for small invoices, end to end.

Starts the real reference vault (TLS on loopback) and the real ``econnector run``,
then (1) drops N small invoices at once and (2) drops documents one at a time
while the daemon is idle. Prints a Markdown table and writes JSON.

    .venv/bin/python bench/small_invoices.py [--count 200] [--sequential 20] [--json out.json]

Drop-to-receipt time is measured from the rename that completes the sidecar
(the moment the pair becomes complete) to the mtime of the receipt file.
The full benchmark suite against the peers is issue 4's ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from econnector.demo import sample_pdf
from econnector_testsupport.daemon import (
    PROVIDER,
    make_identity,
    running_daemon,
    sidecar,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import make_tls, running_vault


def invoice(i: int) -> bytes:
    return sample_pdf("invoice", f"B-{i:05d}", [(f"Act {n}", f"{10 + n}.00") for n in range(8)])


def drop_pair(outbox: Path, stem: str, pdf: bytes, meta: dict[str, Any]) -> float:
    tmp = outbox / f"{stem}.pdf.part"
    tmp.write_bytes(pdf)
    os.replace(tmp, outbox / f"{stem}.pdf")
    tmp = outbox / f"{stem}.json.part"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, outbox / f"{stem}.json")
    return time.time()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--sequential", type=int, default=20)
    ap.add_argument("--workers", type=int, default=None,
                    help="signing workers (default: the daemon's default)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict[str, Any] = {"count": args.count, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ident = make_identity(tmp / "id")
        with running_vault(tmp / "vault", tls=make_tls(tmp / "tls")) as vp:
            cfg = write_config(
                tmp / "practice", [(PROVIDER, ident)], vault=vp,
                watch={"settle_ms": 250, "rescan_interval_s": 10},
                **({"signing": {"workers": args.workers}} if args.workers else {}),
                logging={"level": "info"},
            )
            with running_daemon(cfg) as d:
                pdfs = [invoice(i) for i in range(args.count)]
                metas = [sidecar(f"B-{i:05d}", mat=unique_matricule(i)) for i in range(args.count)]
                dropped: dict[str, float] = {}
                t0 = time.time()
                for i in range(args.count):
                    dropped[f"b{i:05d}"] = drop_pair(d.outbox, f"b{i:05d}", pdfs[i], metas[i])
                receipts = {s: d.inbox / f"{s}.receipt.json" for s in dropped}
                wait_for(lambda: all(p.exists() for p in receipts.values()), 600,
                         "all receipts", on_fail=d.log)
                done = {s: p.stat().st_mtime for s, p in receipts.items()}
                t_last = max(done.values())
                lat = [done[s] - dropped[s] for s in dropped]
                results["batch"] = {
                    "seconds": t_last - t0,
                    "docs_per_s": args.count / (t_last - t0),
                    "latency_p50": pct(lat, 50), "latency_p95": pct(lat, 95),
                    "latency_max": max(lat),
                }
                seq = []
                for i in range(args.sequential):
                    stem = f"s{i:05d}"
                    t = drop_pair(d.outbox, stem, invoice(100000 + i),
                                  sidecar(f"S-{i:05d}", mat=unique_matricule(i)))
                    r = d.inbox / f"{stem}.receipt.json"
                    wait_for(r.exists, 60, "a receipt", on_fail=d.log)
                    seq.append(r.stat().st_mtime - t)
                    time.sleep(0.5)
                results["sequential"] = {
                    "n": args.sequential, "latency_p50": pct(seq, 50),
                    "latency_p95": pct(seq, 95), "latency_max": max(seq),
                }
    b, s = results["batch"], results["sequential"]
    print("| scenario | documents | docs/s | drop-to-receipt p50 | p95 | max |")
    print("|---|---|---|---|---|---|")
    print(f"| batch of {args.count} small invoices at once | {args.count} | "
          f"{b['docs_per_s']:.1f} | {b['latency_p50']:.2f} s | {b['latency_p95']:.2f} s | "
          f"{b['latency_max']:.2f} s |")
    print(f"| one at a time, daemon idle | {s['n']} | - | {s['latency_p50'] * 1000:.0f} ms | "
          f"{s['latency_p95'] * 1000:.0f} ms | {s['latency_max'] * 1000:.0f} ms |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
