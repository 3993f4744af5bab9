"""Several PCs on one shared outbox: N daemons, one killed mid-run, every document once.

    .venv/bin/python bench/multinode.py                          # 3 nodes, 500 documents
    .venv/bin/python bench/multinode.py --outbox-root /mnt/nfs   # the shared folders on a mount
    .venv/bin/python bench/multinode.py --node-roots /mnt/ec-node1,/mnt/ec-node2,/mnt/ec-node3 \
        --check-root /srv/ecshare     # one share, mounted once per node (netmount-setup.sh)

Starts the real reference vault and N real ``econnector run`` processes, each with
its own ``work/`` (its state store, lock and logs) and ``node.shared_outbox: true``
on one outbox, inbox, archive and failed folder. Drops the documents while they
run, SIGKILLs one node once it holds claims and a quarter of the receipts are
written, and waits until every document has its receipt: the survivors take the
dead node's claims over after ``node.lease_s``. Then it restarts the killed node
(it must finish nothing twice: what was taken over ends there as ``taken-over``).

Checks, from the outside: each document is in the vault exactly once and billed
once (the vault's billing activity), has one receipt naming a node, one archived
original; nothing is left in the outbox, the claim folders or the shared signed
folder. Prints a Markdown table and exits non-zero on any miss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sqlite3
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
    sidecar,
    unique_matricule,
    write_config,
)
from econnector_testsupport.vault import running_vault, subprocess_env, unsigned_pdf


def billing(base_url: str, token: str) -> tuple[Counter[str], int]:
    """document_id -> vault documents under it, and the number of billing records."""
    headers = {"Authorization": f"Bearer {token}"}
    today = time.gmtime()
    quarter = f"{today.tm_year}Q{(today.tm_mon - 1) // 3 + 1}"
    out: Counter[str] = Counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as c:
        r = c.get("/v1/billing/activity", params={"quarter": quarter, "provider_code": PROVIDER})
        r.raise_for_status()
        records = r.json()["records"]
        for rec in records:
            doc = c.get(f"/v1/documents/{rec['vault_document_id']}")
            doc.raise_for_status()
            out[doc.json()["metadata"]["document_id"]] += 1
    return out, len(records)


def start(cfg: Path) -> subprocess.Popen[bytes]:
    err = (cfg.parent / "daemon.stderr").open("ab")
    return subprocess.Popen(econnector_cmd("run", "-c", str(cfg)), env=subprocess_env(),
                            stdout=err, stderr=subprocess.STDOUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--documents", type=int, default=500)
    ap.add_argument("--lease", type=float, default=10.0, help="node.lease_s")
    ap.add_argument("--kill-at", type=float, default=0.25,
                    help="kill one node once this share of the receipts is written")
    ap.add_argument("--outbox-root", type=Path, default=None,
                    help="put the shared folders here (e.g. an NFS mount)")
    ap.add_argument("--node-roots", default=None,
                    help="comma-separated, one per node: node i sees the shared folders under "
                         "its own mount of one share (as separate PCs would)")
    ap.add_argument("--check-root", type=Path, default=None,
                    help="with --node-roots: where this script drops and checks (default: the "
                         "first node root; the exported folder itself reads past any cache)")
    ap.add_argument("--observer", choices=("native", "polling", "none"), default=None,
                    help="watch.observer of the nodes (default: the daemon's)")
    ap.add_argument("--workers", type=int, default=None,
                    help="signing.workers of each node (default: the daemon's, per CPU)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    started = time.monotonic()
    names = [f"pc-{chr(ord('a') + i)}" for i in range(args.nodes)]
    victim = names[1 % args.nodes]
    roots = [Path(r) for r in args.node_roots.split(",")] if args.node_roots else None
    if roots is not None and len(roots) != args.nodes:
        ap.error(f"--node-roots names {len(roots)} roots for {args.nodes} nodes")
    kinds = ("outbox", "inbox", "archive", "failed")
    with tempfile.TemporaryDirectory(prefix="ec-nodes-") as tmp_s:
        tmp = args.keep or Path(tmp_s)
        if roots is None:
            shared = (args.outbox_root or tmp) / "shared"
            node_folders = {n: {k: str(shared / k) for k in kinds} for n in names}
        else:
            shared = (args.check_root or roots[0]) / "shared"
            node_folders = {n: {k: str(r / "shared" / k) for k in kinds}
                            for n, r in zip(names, roots, strict=True)}
        for k in kinds:
            (shared / k).mkdir(parents=True, exist_ok=True)
        watch = {"observer": args.observer} if args.observer else {}
        ident = make_identity(tmp / "id")
        outbox, inbox = shared / "outbox", shared / "inbox"
        with running_vault(tmp / "vault") as vp:
            cfgs = {n: write_config(tmp / n, [(PROVIDER, ident)], vault=vp,
                                    folders=node_folders[n], watch=watch,
                                    node={"id": n, "shared_outbox": True,
                                          "lease_s": args.lease},
                                    heartbeat={"enabled": True, "interval_s": 2},
                                    logging={"level": "info"},
                                    **({"signing": {"workers": args.workers}}
                                       if args.workers else {}))
                    for n in names}
            procs = {n: start(c) for n, c in cfgs.items()}
            stems = [f"n{i:05d}" for i in range(args.documents)]
            killed_at: float | None = None
            claims_at_kill = 0
            try:
                for i, stem in enumerate(stems):
                    drop(outbox, stem, unsigned_pdf(f"node test {i}"),
                         sidecar(f"NODES-{i:05d}", mat=unique_matricule(i)),
                         fmt="json" if i % 2 else "yaml")
                deadline = time.monotonic() + 120 + 1.0 * args.documents
                mine = outbox / ".econnector" / "claims" / victim
                while True:
                    done = sum(1 for s in stems if (inbox / f"{s}.receipt.json").exists()
                               or (inbox / f"{s}.error.json").exists())
                    if killed_at is None and done >= args.kill_at * len(stems):
                        held = len(list(mine.glob("*.pdf"))) if mine.is_dir() else 0
                        if held or done >= 0.6 * len(stems):
                            procs[victim].send_signal(signal.SIGKILL)
                            procs[victim].wait()
                            killed_at, claims_at_kill = time.monotonic() - started, held
                            print(f"killed {victim} at {killed_at:.1f} s holding {held} "
                                  f"claims; {done} receipts", file=sys.stderr, flush=True)
                    if done == len(stems):
                        break
                    if time.monotonic() > deadline:
                        print(f"timed out: {done}/{len(stems)} answered", file=sys.stderr)
                        break
                    time.sleep(0.2)
                all_done = time.monotonic() - started
                # The killed node comes back: it must finish nothing twice.
                procs[victim] = start(cfgs[victim])
                time.sleep(args.lease / 2 + 3)
            finally:
                for p in procs.values():
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                for p in procs.values():
                    try:
                        p.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        p.kill()
            in_vault, records = billing(vp.base_url, vp.token)
        receipts: dict[str, dict[str, Any]] = {}
        for s in stems:
            f = inbox / f"{s}.receipt.json"
            if f.exists():
                receipts[s] = json.loads(f.read_text())
        errors = [s for s in stems if (inbox / f"{s}.error.json").exists()]
        archived = Counter(p.name for p in (shared / "archive").rglob("*.pdf")
                           if not p.name.endswith(".signed.pdf"))
        once = sum(1 for i in range(len(stems)) if in_vault.get(f"NODES-{i:05d}") == 1)
        duplicated = [d for d, c in in_vault.items() if c > 1]
        lost = [s for s in stems if s not in receipts]
        twice_archived = [n for n, c in archived.items() if c > 1]
        left = [str(p.relative_to(shared)) for p in outbox.rglob("*")
                if p.is_file() and p.name not in ("",) and "nodes" not in p.parts]
        by_node = Counter(r.get("node", "?") for r in receipts.values())
        # What the killed node made of its claims when it came back.
        with contextlib.closing(sqlite3.connect(tmp / victim / "work" / "state.sqlite")) as db:
            victim_states = dict(db.execute("SELECT state, COUNT(*) FROM drops GROUP BY state"))
        unfinished = victim_states.get("received", 0) + victim_states.get("signed", 0) + \
            victim_states.get("delivering", 0) + victim_states.get("waiting-retry", 0)
        summary: dict[str, Any] = {
            "nodes": args.nodes, "documents": len(stems), "kills": 1 if killed_at else 0,
            "killed_at_s": round(killed_at or 0, 1), "claims_at_kill": claims_at_kill,
            "delivered_once": once, "vault_records": records,
            "duplicated": len(duplicated), "lost": len(lost), "errors": len(errors),
            "archived_twice": len(twice_archived), "left_behind": len(left),
            "by_node": dict(sorted(by_node.items())),
            "victim": victim, "victim_taken_over": victim_states.get("taken-over", 0),
            "victim_unfinished": unfinished,
            "seconds_to_all_receipts": round(all_done, 1),
            "seconds": round(time.monotonic() - started, 1),
            "examples": {"lost": lost[:5], "duplicated": duplicated[:5], "left": left[:5],
                         "errors": errors[:5]},
        }
        if lost or errors or left:
            for n in names:
                log = tmp / n / "daemon.stderr"
                if log.exists():
                    print(f"--- {n} stderr\n{log.read_text()[-2000:]}", file=sys.stderr)
    print("| nodes | documents | kills | claims held at kill | delivered once | vault records "
          "| duplicated | lost | left behind | receipts by node | s to all receipts |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {summary['nodes']} | {summary['documents']} | {summary['kills']} | "
          f"{summary['claims_at_kill']} | {summary['delivered_once']} | "
          f"{summary['vault_records']} | {summary['duplicated']} | {summary['lost']} | "
          f"{summary['left_behind']} | "
          f"{', '.join(f'{k} {v}' for k, v in summary['by_node'].items())} | "
          f"{summary['seconds_to_all_receipts']} |")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    bad = (lost or duplicated or errors or left or twice_archived or unfinished
           or once != len(stems) or records != len(stems))
    if bad:
        print(json.dumps(summary["examples"]), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
