"""Signature levels (issue 11): econnector at B-B, B-T, B-LT and B-LTA, beside the TSA alone
and pyHanko alone, in one run, on the same small invoices and the same machine.

    .venv/bin/python bench/levels.py [--documents N] [--quick] [--json PATH]
    .venv/bin/python bench/levels.py --profile [--documents N]   # where the workers' CPU goes

The loopback test PKI (certomancer: TSA, OCSP responder, CRLs) runs as its OWN process
(``python -m econnector_testsupport.pki serve``), so its CPU is measured apart from
econnector's; the reference vault runs over TLS with ``--trust-roots`` the PKI's root.
Every document is authored by the PKI's good doctor (90812100). Scenarios:

- throughput at each level: a fresh ``econnector run`` (only ``signing.level`` differs;
  the TSA and trust roots are configured at every level), one warm-up document alone
  (its latency is ``cold_first_s``: the validation data is fetched then), three more
  so both signing workers are warm, then N documents dropped at once; documents/s
  until the last receipt, and econnector's own CPU per document (daemon main process
  and signing workers, from /proc) beside the vault's and the PKI's. Every receipt
  must state the level asked for.
- the TSA alone: N RFC 3161 requests from 4 concurrent clients (pyHanko's
  ``HTTPTimeStamper.async_timestamp`` in one asyncio loop): its ceiling in tokens/s
  and the PKI process's CPU per token.
- the peer (``bench/peers/pyhanko_levels.py``): pyHanko alone signing B-LT, its
  timestamper and validation context reused, then not; ms per signature.
- latency at 1 document/s at B-LT (on the B-LT daemon, after its throughput run):
  sidecar rename to receipt rename, p50/p95, against settle + 400 ms; the same at B-B
  beside it, to show what the level adds.

``--quick`` (the smoke run): 4 documents a level, B-LTA left out, tiny samples.
Prints a Markdown table and the targets with PASS/MISS; writes JSON
(``bench/results/levels-latest.json``). ``bench/run.py --only levels`` runs the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from econnector.testid import TestIdentity
from econnector_testsupport.daemon import running_daemon, write_config
from econnector_testsupport.paths import BENCH
from econnector_testsupport.procstats import cpu_seconds, own_cpu_seconds
from econnector_testsupport.vault import TlsFiles, make_tls, running_vault, subprocess_env
from econnector_testsupport.workload import Doc, Workload

# the harness's helpers (a script's folder is first on the import path)
from run import PeakRss, Row, drop, drop_at_rate, pct, receipt_times, table

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
SETTLE_MS = 250  # bench/run.py's practice
LATENCY_BUDGET_MS = 400  # the target: first receipt <= settle + this
TSA_CLIENTS = 4


@dataclass(frozen=True)
class Pki:
    """The PKI process and what it printed."""

    proc: subprocess.Popen[str]
    tsa_url: str
    root_pem: Path
    doctor: TestIdentity
    provider_code: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def first_line(stream: IO[str], timeout: float) -> str:
    """The first line of ``stream``, or "" after ``timeout`` s (a hung child)."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else ""


@contextlib.contextmanager
def pki_process(folder: Path) -> Iterator[Pki]:
    """``python -m econnector_testsupport.pki serve`` as its own process, until SIGTERM."""
    folder.mkdir(parents=True, exist_ok=True)
    err = (folder.parent / "pki.stderr").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "econnector_testsupport.pki", "serve",
                             "--dir", str(folder)], stdout=subprocess.PIPE, stderr=err,
                            text=True, env=subprocess_env())
    try:
        assert proc.stdout is not None
        line = first_line(proc.stdout, 120)
        if not line.strip():
            raise SystemExit("the test PKI did not start: "
                             + (folder.parent / "pki.stderr").read_text()[-3000:])
        info = json.loads(line)
        good = info["doctors"]["good"]
        yield Pki(proc, info["tsa_url"], Path(info["root_pem"]),
                  TestIdentity(Path(good["pkcs12"]), Path(good["passphrase_file"]),
                               Path(info["root_pem"]), good["name"]),
                  good["provider_code"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err.close()


@dataclass
class Target:
    name: str
    measured: str
    needed: str
    met: bool
    missed_by: str = ""


class Levels:
    """One run: the PKI process, one vault, a daemon per level."""

    def __init__(self, tmp: Path, pki: Pki, tls: TlsFiles, quick: bool,
                 workload: Workload | None = None) -> None:
        self.tmp, self.pki, self.tls, self.quick = tmp, pki, tls, quick
        # the same PDFs as bench/run.py's (drawn once), all by the PKI's good doctor
        self.workload = copy.copy(workload) if workload is not None else Workload()
        self.workload.authors = (pki.provider_code,)
        self.rows: list[Row] = []
        self.targets: list[Target] = []
        self.n = 0

    def practice(self, vault: Any, level: str) -> Path:
        self.n += 1
        return write_config(
            self.tmp / f"practice{self.n}-{level}", [(self.pki.provider_code, self.pki.doctor)],
            vault=vault,
            watch={"settle_ms": SETTLE_MS, "rescan_interval_s": 10},
            logging={"level": "info"},
            limits={"max_pdf_mb": 400, "worker_memory_mb": 4096, "worker_timeout_s": 600},
            signing={"level": level, "trust_roots": [str(self.pki.root_pem)],
                     "tsa": {"url": self.pki.tsa_url, "timeout_s": 15}})

    def docs(self, prefix: str, n: int) -> list[Doc]:
        return [self.workload.doc(i, prefix) for i in range(n)]

    # -- econnector
    def level(self, vault: Any, level: str, sizes: Sizes) -> None:
        tag = level.lower().replace("-", "")
        warm, docs = self.docs(f"w{tag}", sizes.warm_up), self.docs(f"t{tag}", sizes.documents)
        n = sizes.documents
        with running_daemon(self.practice(vault, level)) as d:
            assert d.proc is not None
            pid, vpid = d.proc.pid, vault.proc.pid
            if not self.quick:
                time.sleep(1.0)  # workers up
            t = drop(d.outbox, warm[0])
            cold = receipt_times(d.inbox, [warm[0].stem], 120)[warm[0].stem] - t
            for doc in warm[1:]:
                drop(d.outbox, doc)
            receipt_times(d.inbox, [x.stem for x in warm], 120)
            if not self.quick:
                time.sleep(0.5)
            cpu0, main0 = cpu_seconds(pid), own_cpu_seconds(pid)
            vault0, pki0 = cpu_seconds(vpid), cpu_seconds(self.pki.pid)
            peak = PeakRss(pid)
            t0 = time.time()
            for doc in docs:
                drop(d.outbox, doc)
            done = receipt_times(d.inbox, [x.stem for x in docs], 120 + 2 * n)
            elapsed = max(done.values()) - t0
            cpu, main = cpu_seconds(pid) - cpu0, own_cpu_seconds(pid) - main0
            vault_cpu = cpu_seconds(vpid) - vault0
            pki_cpu = cpu_seconds(self.pki.pid) - pki0
            peak_rss = peak.stop()
            check_levels(d.inbox, [x.stem for x in warm + docs], level)
            self.rows.append(Row(
                f"{level} throughput", "econnector", n, n / elapsed, "docs/s", cpu / n,
                peak_rss, {"seconds": round(elapsed, 2),
                           "main_ms": round(1000 * main / n, 1),
                           "workers_ms": round(1000 * (cpu - main) / n, 1),
                           "vault_ms": round(1000 * vault_cpu / n, 1),
                           "pki_ms": round(1000 * pki_cpu / n, 1),
                           "cold_first_s": round(cold, 3)}))
            if level in ("B-B", "B-LT") and sizes.latency_docs:
                if not self.quick:
                    time.sleep(1.0)
                self.latency(d, level, sizes.latency_docs)

    def latency(self, d: Any, level: str, n: int, rate: float = 1.0) -> None:
        docs = self.docs(f"l{level.lower().replace('-', '')}", n)
        pid = d.proc.pid
        cpu0 = cpu_seconds(pid)
        complete = drop_at_rate(d.outbox, docs, rate)
        done = receipt_times(d.inbox, list(complete), 120)
        check_levels(d.inbox, list(complete), level)
        lat = [done[s] - complete[s] for s in complete]
        self.rows.append(Row(
            f"{level} latency at {rate:g}/s", "econnector", n, pct(lat, 50), "s (p50)",
            (cpu_seconds(pid) - cpu0) / n, None,
            {"p50": round(pct(lat, 50), 3), "p95": round(pct(lat, 95), 3),
             "max": round(max(lat), 3), "target_s": (SETTLE_MS + LATENCY_BUDGET_MS) / 1000}))

    # -- the TSA alone
    def tsa_alone(self, n: int) -> None:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        stamper = HTTPTimeStamper(self.pki.tsa_url, timeout=30)

        async def hammer(count: int) -> int:
            left = iter(range(count))
            failed = 0

            async def client() -> None:
                nonlocal failed
                for i in left:
                    digest = hashlib.sha256(f"levels-bench-{i}".encode()).digest()
                    try:
                        await stamper.async_timestamp(digest, "sha256")
                    except Exception as exc:
                        failed += 1
                        print(f"tsa: {type(exc).__name__}: {exc}", file=sys.stderr)

            await asyncio.gather(*(client() for _ in range(TSA_CLIENTS)))
            return failed

        asyncio.run(hammer(TSA_CLIENTS))  # warm-up: imports, first connections
        pki0, me0 = cpu_seconds(self.pki.pid), own_cpu_seconds(os.getpid())
        t0 = time.perf_counter()
        failed = asyncio.run(hammer(n))
        elapsed = time.perf_counter() - t0
        pki_cpu = cpu_seconds(self.pki.pid) - pki0
        client = own_cpu_seconds(os.getpid()) - me0
        if failed:
            raise SystemExit(f"the TSA failed {failed} of {n} requests")
        self.rows.append(Row(
            "TSA alone", "certomancer TSA", n, n / elapsed, "tokens/s", pki_cpu / n, None,
            {"clients": TSA_CLIENTS, "seconds": round(elapsed, 2),
             "pki_ms_per_token": round(1000 * pki_cpu / n, 1),
             "client_ms_per_token": round(1000 * client / n, 1)}))

    # -- pyHanko alone
    def peers(self, n_reused: int, n_fresh: int) -> None:
        for mode, n in (("reused", n_reused), ("fresh", n_fresh)):
            folder = self.tmp / f"peer-{mode}"
            folder.mkdir()
            for doc in self.docs(f"p{mode[0]}", n):  # the first also signs untimed first
                (folder / f"{doc.stem}.pdf").write_bytes(doc.pdf)
            pki0 = cpu_seconds(self.pki.pid)
            r = subprocess.run(
                [sys.executable, str(BENCH / "peers" / "pyhanko_levels.py"), "--mode", mode,
                 "--pkcs12", str(self.pki.doctor.pkcs12),
                 "--passphrase-file", str(self.pki.doctor.passphrase_file),
                 "--tsa-url", self.pki.tsa_url, "--trust-root", str(self.pki.root_pem),
                 str(folder)], capture_output=True, text=True, env=subprocess_env(),
                timeout=1800)
            if r.returncode != 0:
                raise SystemExit(f"peer {mode} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
            res = json.loads(r.stdout.strip().splitlines()[-1])
            docs = res["documents"]
            if res["failed"] or res["ok"] != docs:
                raise SystemExit(f"peer {mode}: {res}\n{r.stderr[-3000:]}")
            pki_cpu = cpu_seconds(self.pki.pid) - pki0
            self.rows.append(Row(
                "B-LT throughput", f"pyHanko alone ({mode})", docs, docs / res["seconds"],
                "docs/s", res["cpu_seconds"] / docs, None,
                {"ms_per_signature": round(1000 * res["seconds"] / docs, 1),
                 "pki_ms": round(1000 * pki_cpu / (docs + 1), 1), "ok": res["ok"],  # +warm-up
                 "failed": res["failed"]}))

    # -- verdicts
    def judge(self) -> None:
        rows = {(r.scenario, r.system): r for r in self.rows}
        bb, lt = rows[("B-B throughput", "econnector")], rows[("B-LT throughput", "econnector")]
        tsa = rows[("TSA alone", "certomancer TSA")]
        floor = min(bb.value, tsa.value)
        need = 0.7 * floor
        self.targets.append(_target(
            "B-LT throughput >= 70% of min(B-B, TSA ceiling)",
            f"{lt.value:.1f} docs/s ({100 * lt.value / floor:.0f}% of {floor:.1f})",
            f">= {need:.1f} docs/s", lt.value, need, higher=True))
        assert bb.cpu_per_doc is not None and lt.cpu_per_doc is not None
        need_cpu = 1.5 * bb.cpu_per_doc
        self.targets.append(_target(
            "econnector CPU/doc at B-LT <= 1.5x B-B",
            f"{1000 * lt.cpu_per_doc:.1f} ms ({lt.cpu_per_doc / bb.cpu_per_doc:.2f}x "
            f"{1000 * bb.cpu_per_doc:.1f} ms)",
            f"<= {1000 * need_cpu:.1f} ms", lt.cpu_per_doc, need_cpu, higher=False))
        lat = next(r for r in self.rows if r.scenario.startswith("B-LT latency"))
        bb_lat = next(r for r in self.rows if r.scenario.startswith("B-B latency"))
        budget = (SETTLE_MS + LATENCY_BUDGET_MS) / 1000
        self.targets.append(_target(
            "receipt after a drop <= settle + 400 ms at 1 doc/s (B-LT, p95)",
            f"p95 {1000 * lat.extra['p95']:.0f} ms (p50 {1000 * lat.extra['p50']:.0f} ms; "
            f"B-B p50 {1000 * bb_lat.extra['p50']:.0f} ms)",
            f"<= {1000 * budget:.0f} ms", lat.extra["p95"], budget, higher=False))


def _target(name: str, measured: str, needed: str, value: float, bound: float,
            higher: bool) -> Target:
    met = value >= bound if higher else value <= bound
    missed = "" if met else f"{100 * abs(value - bound) / bound:.0f}%"
    return Target(name, measured, needed, met, missed)


def check_levels(inbox: Path, stems: list[str], level: str) -> None:
    """Every receipt says the level asked for: the run measured what it claims."""
    want = f"PAdES-{level}"
    for stem in stems:
        got = json.loads((inbox / f"{stem}.receipt.json").read_text("utf-8"))
        if got["signature"]["level"] != want:
            raise SystemExit(f"{stem}: receipt says {got['signature']['level']}, not {want}")


def targets_table(targets: list[Target]) -> str:
    lines = ["| target | measured | needed | result |", "|---|---|---|---|"]
    for t in targets:
        verdict = "PASS" if t.met else f"MISS (by {t.missed_by})"
        lines.append(f"| {t.name} | {t.measured} | {t.needed} | {verdict} |")
    return "\n".join(lines)


@dataclass
class Sizes:
    documents: int  # per level
    tsa_tokens: int
    peer_reused: int
    peer_fresh: int
    latency_docs: int  # at 1/s
    warm_up: int  # per daemon, before measuring: 1 alone (cold), then the rest at once
    levels: tuple[str, ...] = LEVELS

    @classmethod
    def of(cls, documents: int, quick: bool) -> Sizes:
        if quick:  # B-LTA (the extra row) left out: a daemon start less in the smoke run
            return cls(documents, 8, 1, 1, 2, 1, LEVELS[:3])
        return cls(documents, documents, min(documents, 60), min(documents, 30),
                   min(documents, 30), 4)


def measure(tmp: Path, sizes: Sizes, quick: bool, tls: TlsFiles | None = None,
            workload: Workload | None = None) -> Levels:
    """The whole levels run in ``tmp``: rows and targets (``bench/run.py`` calls this,
    with its TLS files and workload)."""
    with pki_process(tmp / "pki") as pki:
        bench = Levels(tmp, pki, tls or make_tls(tmp / "tls"), quick, workload)
        with running_vault(tmp / "vault", tls=bench.tls, trust_roots=[pki.root_pem]) as vault:
            for level in sizes.levels:
                step = time.monotonic()
                bench.level(vault, level, sizes)
                print(f"levels {level}: {time.monotonic() - step:.0f} s", file=sys.stderr,
                      flush=True)
        step = time.monotonic()
        bench.tsa_alone(sizes.tsa_tokens)
        bench.peers(sizes.peer_reused, sizes.peer_fresh)
        print(f"levels TSA and peers: {time.monotonic() - step:.0f} s", file=sys.stderr,
              flush=True)
    bench.judge()
    return bench


# -- where the signing workers' CPU goes -----------------------------------------------------

def profile(tmp: Path, n: int, levels: tuple[str, ...] = ("B-B", "B-LT"), top: int = 25) -> str:
    """The signing worker's code in this process under cProfile, ``n`` documents per
    level after two warm-ups: CPU ms per document and the top functions."""
    from econnector import signworker
    from econnector.signer import KeySpec, Policy, SignJob, read_trust_roots

    out: list[str] = []
    with pki_process(tmp / "pki") as pki:
        workload = Workload(authors=(pki.provider_code,))
        secret = pki.doctor.passphrase_file.read_bytes().rstrip(b"\r\n")
        policy = Policy(tsa_url=pki.tsa_url, tsa_timeout=15.0,
                        trust_roots=read_trust_roots([pki.root_pem]))
        for level in levels:
            signworker.init_worker([KeySpec(pki.provider_code, level, secret,
                                            pkcs12=str(pki.doctor.pkcs12))], policy, 0)
            folder = tmp / f"profile-{level}"
            folder.mkdir()
            jobs = []
            for i in range(n + 2):
                doc = workload.doc(i, f"f{level}")
                src = folder / f"{doc.stem}.pdf"
                src.write_bytes(doc.pdf)
                jobs.append(SignJob(pki.provider_code, str(src), str(folder / f"{doc.stem}.out"),
                                    max_pages=100, bytes_reserved=16384, location="Luxembourg"))
            for job in jobs[:2]:
                _must(signworker.sign_file(job), level)
            prof = cProfile.Profile()
            c0, t0 = time.process_time(), time.perf_counter()
            prof.enable()
            for job in jobs[2:]:
                _must(signworker.sign_file(job), level)
            prof.disable()
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("tottime").print_stats(top)
            out.append(f"## {level}: {1000 * cpu / n:.1f} ms CPU, {1000 * wall / n:.1f} ms wall "
                       f"per document ({n} documents, under cProfile)\n"
                       f"{profile_summary(stats, n)}\n{buf.getvalue()}")
        signworker.services().close()
    return "\n".join(out)


# The steps of a signature, by the function that does each (cumulative ms per document;
# they nest: the self-check's validation is inside the self-check).
STEPS = (
    ("signworker.py", "_open_checked", "open and policy check"),
    ("signworker.py", "_sign_into", "pyHanko signing (with the TSA's round trip)"),
    ("pdf_signer.py", "_perform_presign_signer_validation",
     "  pre-sign validation of the signer"),
    ("api.py", "validation_paths", "  pre-sign validation of the TSA"),
    ("api.py", "async_timestamp", "  timestamp request (CPU while not waiting)"),
    ("pdf_cms.py", "async_sign", "  CMS assembly and the RSA signature"),
    ("dss.py", "supply_dss_in_writer", "  DSS written"),
    ("signworker.py", "_check", "self-check"),
    ("dss.py", "read_dss", "  DSS read back"),
    ("generic_cms.py", "async_validate_detached_cms", "  signature and chain validation"),
    ("pyhanko_certvalidator/__init__.py", "find_valid_path", "    certificate path searches"),
    ("x509.py", "_ldap_string_prep", "    name comparisons (asn1crypto)"),
    ("~", "<built-in method posix.fsync>", "fsync"),
    ("~", "<method 'poll' of 'select.epoll' objects>", "waiting for the network (epoll)"),
)


def profile_summary(stats: pstats.Stats, n: int) -> str:
    """Cumulative ms per document of :data:`STEPS`, and own time by package."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    lines = ["| step | ms/doc (cumulative) |", "|---|---|"]
    for file_part, func, label in STEPS:
        total = sum(ct for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in raw.items()
                    if name == func and file_part in file)
        lines.append(f"| {label} | {1000 * total / n:.1f} |")
    by_pkg: dict[str, float] = {}
    for (file, _line, _name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        if "site-packages/" in file:
            pkg = file.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/econnector/" in file:
            pkg = "econnector"
        elif _name == "<method 'poll' of 'select.epoll' objects>":
            continue  # waiting, not working
        elif file == "~":
            pkg = "builtins (C)"
        else:
            pkg = "stdlib"
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + tt
    lines += ["", "| package | own ms/doc |", "|---|---|"]
    for pkg, tt in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"| {pkg} | {1000 * tt / n:.1f} |")
    return "\n".join(lines)


def _must(outcome: Any, level: str) -> None:
    if not outcome.ok or outcome.level != f"PAdES-{level}":
        raise SystemExit(f"profile: signing failed at {level}: {outcome}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=200,
                    help="documents per level (default 200)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    ap.add_argument("--json", type=Path, default=BENCH / "results" / "levels-latest.json")
    ap.add_argument("--profile", action="store_true",
                    help="instead: cProfile the signing worker's code at B-B and B-LT")
    args = ap.parse_args()
    if args.quick:
        args.documents = 4
    started, load_before = time.monotonic(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ec-levels-") as tmp_s:
        if args.profile:
            print(profile(Path(tmp_s), min(args.documents, 100)))
            return 0
        bench = measure(Path(tmp_s), Sizes.of(args.documents, args.quick), args.quick)
    print(table(bench.rows))
    print()
    print(targets_table(bench.targets))
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "load_average_before": load_before,
               "load_average_after": os.getloadavg(),
               "total_seconds": round(time.monotonic() - started)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "command": " ".join(["bench/levels.py", *sys.argv[1:]]), "machine": machine,
        "rows": [asdict(r) for r in bench.rows],
        "targets": [asdict(t) for t in bench.targets]}, indent=2))
    print(f"\n{machine}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
