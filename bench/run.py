"""The benchmark: econnector and its peers, same machine, same documents, same vault.

    .venv/bin/python bench/run.py                 # everything (its duration: docs/performance.md)
    .venv/bin/python bench/run.py --quick         # a smoke run (tiny sizes; make test runs it)
    .venv/bin/python bench/run.py --only throughput,peers

Scenarios (each starts the real ``econnector run`` and the real reference vault over
TLS on loopback; PAdES B-B signatures):

- throughput: N documents (default 2,000) dropped at once; documents/s until the last
  receipt; CPU seconds per document of the daemon's process tree.
- latency: a steady drop rate (default 20/s for 60 s); p50/p95/p99 from the sidecar's
  rename (the moment the pair is complete) to the receipt's rename.
- backlog: 10,000 documents in the outbox before the daemon starts; time to the first
  and the last receipt; peak RSS.
- big: one 200 MB scanned-style PDF; time and peak RSS.
- idle: CPU used in 60 s with nothing to do and 10,000 files in the archive.
- peers, on the throughput workload: the shell pipeline (inotifywait + pyHanko CLI +
  curl), the naive in-process loop, and the signing-only floor (see bench/peers/).
  Slow peers run on a sample of the same documents; their rate is per document.
- levels: B-B, B-T, B-LT and B-LTA beside the TSA alone and pyHanko alone, with the
  loopback test PKI as its own process (bench/levels.py; default 200 documents a level,
  ``--levels-documents``); its targets are printed after the table.

Prints a Markdown table and writes JSON (``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from econnector_testsupport.daemon import make_identity, running_daemon, wait_for, write_config
from econnector_testsupport.paths import BENCH
from econnector_testsupport.procstats import cpu_seconds, own_cpu_seconds, pss_mib, rss_mib
from econnector_testsupport.vault import VaultProcess, make_tls, running_vault, subprocess_env
from econnector_testsupport.workload import AUTHORS, Doc, Workload, scanned_pdf


class PeakRss:
    """Samples the RSS of a process tree every 100 ms; ``peak`` in MiB (the sum over
    the tree), ``peak_main`` the main process's own, ``peak_pss`` the tree's PSS
    (shared pages counted once, so the memory the tree really takes)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self.peak_main = self.peak_pss = 0.0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, rss_mib(self.pid))
            self.peak_main = max(self.peak_main, rss_mib(self.pid, children=False))
            self.peak_pss = max(self.peak_pss, pss_mib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak


@dataclass
class Row:
    scenario: str
    system: str
    docs: int
    value: float  # documents/s, or seconds for latency-type rows
    unit: str
    cpu_per_doc: float | None = None
    peak_rss_mib: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def drop(outbox: Path, doc: Doc) -> float:
    """As a careful vendor: PDF under a temp name, rename; sidecar last. Returns the
    time the pair became complete."""
    tmp = outbox / f".{doc.stem}.pdf.part"
    tmp.write_bytes(doc.pdf)
    os.replace(tmp, outbox / f"{doc.stem}.pdf")
    tmp = outbox / f".{doc.stem}.json.part"
    tmp.write_text(json.dumps(doc.sidecar))
    os.replace(tmp, outbox / f"{doc.stem}.json")
    return time.time()


def drop_at_rate(outbox: Path, docs: list[Doc], rate: float) -> dict[str, float]:
    """Drop ``docs`` at ``rate`` per second; when each pair became complete, by stem."""
    complete: dict[str, float] = {}
    start = time.monotonic()
    for i, doc in enumerate(docs):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        complete[doc.stem] = drop(outbox, doc)
    return complete


def receipt_times(inbox: Path, stems: list[str], timeout: float) -> dict[str, float]:
    """Receipt mtimes; polls gently (the poller shares the 2 cores with the system)."""
    left = {s: inbox / f"{s}.receipt.json" for s in stems}
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while left:
        for s, p in list(left.items()):
            try:
                done[s] = p.stat().st_mtime
            except FileNotFoundError:
                break  # receipts come roughly in drop order: look again later
            del left[s]
        if left:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {len(left)} receipts")
            time.sleep(0.2)
    return done


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# -- the harness --------------------------------------------------------------------------------

class Bench:
    def __init__(self, tmp: Path, quick: bool) -> None:
        self.tmp = tmp
        self.quick = quick
        self.ids = [(pc, make_identity(tmp / "identities" / pc, pc)) for pc in AUTHORS]
        self.tls = make_tls(tmp / "tls")
        self.workload = Workload()
        self.rows: list[Row] = []
        self.n_practice = 0
        self.targets: list[Any] = []

    def practice(self, vp: VaultProcess, **sections: dict[str, Any]) -> Path:
        self.n_practice += 1
        base = {"watch": {"settle_ms": 250, "rescan_interval_s": 10},
                "logging": {"level": "info"},
                "limits": {"max_pdf_mb": 400, "worker_memory_mb": 4096,
                           "worker_timeout_s": 600}}
        for k, v in sections.items():
            base.setdefault(k, {}).update(v)
        return write_config(self.tmp / f"practice{self.n_practice}", self.ids, vault=vp,
                            **base)

    def vault(self, name: str) -> Any:
        return running_vault(self.tmp / f"vault-{name}", tls=self.tls)

    # -- econnector scenarios
    def throughput(self, n: int) -> list[Doc]:
        docs = [self.workload.doc(i, "t") for i in range(n)]
        with self.vault("throughput") as vp, running_daemon(self.practice(vp)) as d:
            assert d.proc is not None
            time.sleep(1.0)  # workers up
            pid, vpid = d.proc.pid, vp.proc.pid
            cpu0, main0, vault0 = cpu_seconds(pid), own_cpu_seconds(pid), cpu_seconds(vpid)
            peak = PeakRss(pid)
            t0 = time.time()
            for doc in docs:
                drop(d.outbox, doc)
            done = receipt_times(d.inbox, [x.stem for x in docs], 60 + n)
            elapsed = max(done.values()) - t0
            cpu = cpu_seconds(pid) - cpu0
            main = own_cpu_seconds(pid) - main0
            vault = cpu_seconds(vpid) - vault0
            # Where the CPU went, in ms per document: the daemon's main process, its
            # signing workers, and the reference vault (which shares the 2 cores).
            self.rows.append(Row("throughput", "econnector", n, n / elapsed, "docs/s",
                                 cpu / n, peak.stop(),
                                 {"seconds": round(elapsed, 2),
                                  "main_ms": round(1000 * main / n, 1),
                                  "workers_ms": round(1000 * (cpu - main) / n, 1),
                                  "vault_ms": round(1000 * vault / n, 1)}))
        return docs

    def latency(self, rate: float, seconds: float) -> None:
        n = int(rate * seconds)
        docs = [self.workload.doc(i, "l") for i in range(n)]
        with self.vault("latency") as vp, running_daemon(self.practice(vp)) as d:
            assert d.proc is not None
            time.sleep(1.0)
            cpu0, peak = cpu_seconds(d.proc.pid), PeakRss(d.proc.pid)
            complete = drop_at_rate(d.outbox, docs, rate)
            done = receipt_times(d.inbox, list(complete), 120)
            lat = [done[s] - complete[s] for s in complete]
            cpu = cpu_seconds(d.proc.pid) - cpu0
            self.rows.append(Row(
                "latency", "econnector", n, pct(lat, 50), "s (p50)", cpu / n, peak.stop(),
                {"rate": rate, "p50": round(pct(lat, 50), 3), "p95": round(pct(lat, 95), 3),
                 "p99": round(pct(lat, 99), 3), "max": round(max(lat), 3),
                 "mean": round(statistics.mean(lat), 3)}))

    def backlog_and_idle(self, n: int, idle_seconds: float) -> None:
        docs = [self.workload.doc(i, "b") for i in range(n)]
        with self.vault("backlog") as vp:
            cfg = self.practice(vp)
            outbox = cfg.parent / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            for doc in docs:
                drop(outbox, doc)
            t0 = time.time()
            with running_daemon(cfg) as d:
                assert d.proc is not None
                peak = PeakRss(d.proc.pid)
                stems = [x.stem for x in docs]
                first = wait_for(lambda: next(iter(d.inbox.glob("*.receipt.json")), None),
                                 120, "a first receipt")
                t_first = first.stat().st_mtime - t0
                done = receipt_times(d.inbox, stems, 120 + n)
                t_last = max(done.values()) - t0
                self.rows.append(Row("backlog", "econnector", n, n / t_last, "docs/s", None,
                                     peak.stop(), {"first_receipt_s": round(t_first, 2),
                                                   "last_receipt_s": round(t_last, 2),
                                                   "peak_main_mib": round(peak.peak_main),
                                                   "peak_pss_mib": round(peak.peak_pss)}))
                # idle, with the archive now full
                archived = sum(1 for _ in d.archive.rglob("*.pdf"))
                time.sleep(2.0)
                cpu0 = cpu_seconds(d.proc.pid)
                time.sleep(idle_seconds)
                cpu = cpu_seconds(d.proc.pid) - cpu0
                self.rows.append(Row("idle", "econnector", 0, 100 * cpu / idle_seconds,
                                     "% of one core", None, rss_mib(d.proc.pid),
                                     {"seconds": idle_seconds, "archived_files": archived}))

    def big(self, megabytes: int) -> None:
        pdf = scanned_pdf(megabytes)
        doc = self.workload.doc(0, "big")
        doc = Doc(doc.stem, pdf, doc.sidecar)
        with self.vault("big") as vp, running_daemon(self.practice(vp)) as d:
            assert d.proc is not None
            time.sleep(1.0)
            base = rss_mib(d.proc.pid)
            peak = PeakRss(d.proc.pid)
            t = drop(d.outbox, doc)
            done = receipt_times(d.inbox, [doc.stem], 600)
            self.rows.append(Row("big file", "econnector", 1, done[doc.stem] - t, "s",
                                 None, peak.stop(),
                                 {"file_mib": round(len(pdf) / 2**20, 1),
                                  "idle_rss_mib": round(base, 1),
                                  "peak_pss_mib": round(peak.peak_pss)}))

    def levels(self, documents: int) -> None:
        import levels  # bench/levels.py: the PKI process, a daemon per signature level

        run = levels.measure(self.tmp / "levels", levels.Sizes.of(documents, self.quick),
                             self.quick, self.tls, self.workload)
        self.rows.extend(run.rows)
        self.targets = run.targets

    # -- peers
    def peers(self, sample: dict[str, int]) -> None:
        for name in ("floor", "naive-loop", "shell-pipeline"):
            n = sample[name]
            folder = self.tmp / f"peer-{name}"
            folder.mkdir()
            subset = [self.workload.doc(i, f"p{name[0]}") for i in range(n)]
            with self.vault(f"peer-{name}") as vp:
                config = self.tmp / f"peer-{name}.json"
                config.write_text(json.dumps({
                    "vault_url": vp.base_url, "token": vp.token,
                    "ca_bundle": str(self.tls.ca_bundle),
                    "identities": {pc: {"pkcs12": str(i.pkcs12),
                                        "passphrase_file": str(i.passphrase_file)}
                                   for pc, i in self.ids},
                }))
                result = run_peer(name, config, folder, subset)
            self.rows.append(Row("throughput", name, result["documents"],
                                 result["documents"] / result["seconds"], "docs/s",
                                 result["cpu_seconds"] / max(1, result["documents"]),
                                 None, {"ok": result.get("ok"), "failed": result.get("failed"),
                                        "seconds": round(result["seconds"], 2)}))


def run_peer(name: str, config: Path, folder: Path, docs: list[Doc]) -> dict[str, Any]:
    peers = BENCH / "peers"
    env = subprocess_env()
    if name == "shell-pipeline":
        # Watch mode, as IT would run it: start it, then drop the files as a vendor does.
        ready = folder.parent / "shell.ready"
        proc = subprocess.Popen(
            ["bash", str(peers / "shell_pipeline.sh"), "--watch", str(len(docs)),
             "--ready-file", str(ready), str(folder), str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the shell peer")
        for doc in docs:
            drop(folder, doc)
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"peer {name} failed:\n{out[-2000:]}\n{err[-4000:]}")
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]
    for doc in docs:
        (folder / f"{doc.stem}.pdf").write_bytes(doc.pdf)
        (folder / f"{doc.stem}.json").write_text(json.dumps(doc.sidecar))
    script = {"floor": "floor.py", "naive-loop": "naive_loop.py"}[name]
    r = subprocess.run([sys.executable, str(peers / script), "--config", str(config),
                        str(folder)], capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"peer {name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def table(rows: list[Row]) -> str:
    ours = {r.scenario: r.value for r in rows if r.system == "econnector"}
    lines = ["| scenario | system | documents | result | ratio to econnector | CPU s/doc | "
             "peak RSS MiB | details |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = ""
        if r.system != "econnector" and r.scenario in ours and r.unit == "docs/s":
            ratio = f"{ours[r.scenario] / r.value:.1f}x" if r.value else "-"
        lines.append(
            f"| {r.scenario} | {r.system} | {r.docs} | {r.value:.3g} {r.unit} | {ratio} | "
            f"{'' if r.cpu_per_doc is None else f'{r.cpu_per_doc:.4f}'} | "
            f"{'' if r.peak_rss_mib is None else f'{r.peak_rss_mib:.0f}'} | "
            f"{', '.join(f'{k}={v}' for k, v in r.extra.items())} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    ap.add_argument("--only", default="throughput,latency,backlog,big,peers,levels")
    ap.add_argument("--documents", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--backlog", type=int, default=10000)
    ap.add_argument("--big-mb", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--levels-documents", type=int, default=200)
    ap.add_argument("--json", type=Path, default=BENCH / "results" / "latest.json")
    args = ap.parse_args()
    if args.quick:
        args.documents, args.rate, args.seconds = 20, 10.0, 2.0
        args.backlog, args.big_mb, args.idle_seconds = 20, 5, 2.0
        args.levels_documents = 4
    only = set(args.only.split(","))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp_s:
        b = Bench(Path(tmp_s), args.quick)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("throughput", lambda: b.throughput(args.documents)),
            ("latency", lambda: b.latency(args.rate, args.seconds)),
            ("backlog", lambda: b.backlog_and_idle(args.backlog, args.idle_seconds)),
            ("big", lambda: b.big(args.big_mb)),
            ("peers", lambda: b.peers({"floor": args.documents,
                                       "naive-loop": 10 if args.quick else 300,
                                       "shell-pipeline": 3 if args.quick else 60})),
            ("levels", lambda: b.levels(args.levels_documents)),
        ]
        for name, step in steps:
            if name in only:
                t = time.monotonic()
                step()
                print(f"{name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    out = table(b.rows)
    print(out)
    if b.targets:
        import levels

        print("\n" + levels.targets_table(b.targets))
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "total_seconds": round(time.monotonic() - started)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "rows": [asdict(r) for r in b.rows],
                                     "targets": [asdict(t) for t in b.targets]}, indent=2))
    print(f"\n{machine}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
