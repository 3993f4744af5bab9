"""A vault outage under load: documents dropped while the vault refuses connections,
then the vault comes back; all must be delivered once, in drop order, memory flat.

    .venv/bin/python bench/outage.py [--documents 300] [--outage 20]

Prints a Markdown table: documents, outage seconds, failed probes during the outage,
seconds from the vault's return to the last receipt, daemon RSS before/after,
vault records, order violations (beyond the overlapping uploads of
vault.concurrency), duplicates.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.procstats import rss_mib
from econnector_testsupport.vault import free_port, running_vault, unsigned_pdf, vault_records


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=300)
    ap.add_argument("--outage", type=float, default=20.0, help="seconds the vault stays away")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    n = args.documents
    with tempfile.TemporaryDirectory(prefix="ec-outage-") as tmp_s:
        tmp = Path(tmp_s)
        ident = make_identity(tmp / "id")
        port = free_port()
        token = "outage-bench-token-0123456789"
        cfg = write_config(tmp / "practice", [(PROVIDER, ident)],
                           vault_url=f"http://127.0.0.1:{port}", token=token,
                           watch={"rescan_interval_s": 5}, logging={"level": "info"},
                           retry={"base_s": 1, "cap_s": 5})
        pdf = unsigned_pdf("outage")
        with running_daemon(cfg) as d:
            assert d.proc is not None
            t0 = time.monotonic()
            for i in range(n):
                drop(d.outbox, f"o{i:04d}", pdf, sidecar(f"OUT-{i:04d}", mat=unique_matricule(i)))
            wait_for(lambda: len(list((d.root / "work" / "signed").glob("*.pdf"))) == n,
                     600, "all signed")
            rss_before = rss_mib(d.proc.pid, children=False)
            time.sleep(max(0.0, args.outage - (time.monotonic() - t0)))
            outage = time.monotonic() - t0
            probes = len(re.findall(r'"event": "vault-unavailable"', d.log_path.read_text()))
            with running_vault(tmp / "vault", token=token, port=port) as vp:
                back = time.monotonic()
                for i in range(n):
                    d.wait_outcome(f"o{i:04d}", timeout=600)
                drain = time.monotonic() - back
                records = vault_records(vp, PROVIDER)
            rss_after = rss_mib(d.proc.pid, children=False)
            by_id = {json.loads((d.inbox / f"o{i:04d}.receipt.json").read_text())
                     ["vault_document_id"]: i for i in range(n)}
        order = [by_id[r["vault_document_id"]] for r in records]
        # Uploads start in drop order, 4 at a time: a document may overtake at most
        # the 3 still in flight before it (one slow upload may be overtaken by more).
        violations = sum(1 for pos, idx in enumerate(order) if idx - pos > 3)
        dupes = len(records) - len({r["vault_document_id"] for r in records})
    row = {
        "documents": n, "outage_s": round(outage, 1), "failed_probes": probes,
        "drain_s": round(drain, 1), "rss_before_mib": round(rss_before, 1),
        "rss_after_mib": round(rss_after, 1), "vault_records": len(records),
        "order_violations": violations, "duplicates": dupes,
    }
    print("| documents | outage s | failed probes | drain after return s | RSS before MiB "
          "| RSS after MiB | vault records | order violations | duplicates |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("| " + " | ".join(str(v) for v in row.values()) + " |")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    ok = len(records) == n and violations == 0 and dupes == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
