"""Chaos: drop batches, SIGKILL the daemon at random moments, restart; then check that
every document was delivered exactly once or rejected once, and nothing was left behind.

    .venv/bin/python bench/chaos.py --cycles 200 --batch 10          # the long run
    .venv/bin/python bench/chaos.py --cycles 4 --batch 6 --max-run 3 # the CI smoke run

Each cycle drops a batch (one in ten with a wrong matricule, to exercise rejection),
starts the real ``econnector run`` against the real reference vault on loopback, and
kills it with SIGKILL after a random time (often mid-signing, mid-upload or
mid-receipt). At the end the daemon runs to completion and the script checks:

- lost:       a document with neither (receipt + archived original + one vault record)
              nor (error file + original in failed/ + no vault record)
- duplicated: a document with more than one vault record, receipt or archived copy
- orphaned:   anything left in outbox/ or work/signed/, temp files visible to the
              practice, or vault records that no document accounts for

It prints a Markdown table and exits non-zero if any count is not zero.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import running_vault, subprocess_env, unsigned_pdf


def vault_documents(base_url: str, token: str) -> Counter[str]:
    """document_id -> number of documents the vault stored under it."""
    headers = {"Authorization": f"Bearer {token}"}
    today = time.gmtime()
    quarter = f"{today.tm_year}Q{(today.tm_mon - 1) // 3 + 1}"
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as c:
        r = c.get("/v1/billing/activity", params={"quarter": quarter, "provider_code": PROVIDER})
        r.raise_for_status()
        out: Counter[str] = Counter()
        for rec in r.json()["records"]:
            doc = c.get(f"/v1/documents/{rec['vault_document_id']}")
            doc.raise_for_status()
            out[doc.json()["metadata"]["document_id"]] += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--max-run", type=float, default=4.0,
                    help="kill after a uniform random 0.1..MAX seconds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ec-chaos-") as tmp_s:
        tmp = args.keep or Path(tmp_s)
        ident = make_identity(tmp / "id")
        expected: dict[str, tuple[str, bool]] = {}  # stem -> (document_id, valid)
        kills = 0
        with running_vault(tmp / "vault") as vp:
            cfg = write_config(tmp / "practice", [(PROVIDER, ident)], vault=vp,
                               watch={"rescan_interval_s": 1}, logging={"level": "info"})
            root = tmp / "practice"
            (root / "outbox").mkdir(parents=True, exist_ok=True)
            n = 0
            for cycle in range(args.cycles):
                for _ in range(args.batch):
                    stem, doc_id = f"c{n:05d}", f"CHAOS-{n:05d}"
                    valid = rng.random() >= 0.1
                    meta = sidecar(doc_id, mat=unique_matricule(n))
                    if not valid:
                        meta["patient"]["matricule"] = meta["patient"]["matricule"][:-1] + (
                            "0" if meta["patient"]["matricule"][-1] != "0" else "1")
                    drop(root / "outbox", stem, unsigned_pdf(f"chaos {n}"), meta,
                         fmt="json" if n % 2 else "yaml", sidecar_first=n % 3 == 0)
                    expected[stem] = (doc_id, valid)
                    n += 1
                proc = subprocess.Popen(econnector_cmd("run", "-c", str(cfg)),
                                        env=subprocess_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.1, args.max_run))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                print(f"cycle {cycle + 1}/{args.cycles}: {n} documents dropped, "
                      f"{kills} kills", file=sys.stderr, flush=True)
            # the last life: run until every document has its outcome
            with running_daemon(cfg) as d:
                def all_done() -> bool:
                    for stem in expected:
                        s = d.status(stem)
                        if not s or s["state"] not in ("delivered", "rejected"):
                            return False
                    return True
                wait_for(all_done, 60 + 0.5 * len(expected), "every outcome", on_fail=d.log)
            in_vault = vault_documents(vp.base_url, vp.token)
        lost: list[str] = []
        duplicated: list[str] = []
        orphaned: list[str] = []
        archived = Counter(p.name for p in (root / "archive").rglob("*") if p.is_file())
        failed = Counter(p.name for p in (root / "failed").iterdir())
        for stem, (doc_id, valid) in expected.items():
            receipt = (root / "inbox" / f"{stem}.receipt.json").exists()
            error = (root / "inbox" / f"{stem}.error.json").exists()
            pdf_archived = sum(c for name, c in archived.items()
                               if name == f"{stem}.pdf" or name.startswith(f"{stem}.pdf."))
            copies = in_vault.get(doc_id, 0)
            if valid:
                if not (receipt and pdf_archived == 1 and copies == 1):
                    (duplicated if copies > 1 or pdf_archived > 1 else lost).append(stem)
            elif not (error and failed[f"{stem}.pdf"] == 1 and copies == 0):
                lost.append(stem)
        known = {doc for doc, _ in expected.values()}
        orphaned += [f"vault:{doc}" for doc in in_vault if doc not in known]
        orphaned += [f"outbox/{p.name}" for p in (root / "outbox").iterdir()]
        orphaned += [f"work/signed/{p.name}" for p in (root / "work" / "signed").iterdir()]
        for folder in ("inbox", "archive", "failed"):
            orphaned += [str(p.relative_to(root)) for p in (root / folder).rglob("*")
                         if p.name.startswith(".") or p.name.endswith(".tmp")]
        summary: dict[str, Any] = {
            "documents": len(expected),
            "valid": sum(1 for _, v in expected.values() if v),
            "kills": kills,
            "delivered": sum(in_vault.values()),
            "lost": len(lost), "duplicated": len(duplicated), "orphaned": len(orphaned),
            "seconds": round(time.monotonic() - started, 1),
            "examples": {"lost": lost[:5], "duplicated": duplicated[:5],
                         "orphaned": orphaned[:5]},
        }
    print("| documents | valid | kills | delivered | lost | duplicated | orphaned | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {summary['documents']} | {summary['valid']} | {summary['kills']} | "
          f"{summary['delivered']} | {summary['lost']} | {summary['duplicated']} | "
          f"{summary['orphaned']} | {summary['seconds']} |")
    if lost or duplicated or orphaned:
        print(json.dumps(summary["examples"]), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 1 if (lost or duplicated or orphaned) else 0


if __name__ == "__main__":
    sys.exit(main())
