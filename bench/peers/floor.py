"""Peer "floor": the fastest this hardware signs with pyHanko; signing only, no upload.

    .venv/bin/python bench/peers/floor.py --config CONFIG IN [--procs N]

One process per core (``os.cpu_count()`` unless ``--procs``), the documents dealt
round-robin (sorted by name) so each process gets the same number and mix. Each process
loads every identity once (``econnector.signworker.load_signer``: the parsed private key is
held, not re-parsed per signature), signs one untimed warm-up document, waits at a
barrier, then for each of its documents reads the PDF and sidecar, and signs PAdES B-B
(``ETSI.CAdES.detached``, SHA-256, non-strict ``IncrementalPdfFileWriter``,
``bytes_reserved=16384`` so no second, size-estimating signature) into an in-memory
buffer that is discarded. No policy check, no fsync, no hashing, no upload.

Prints ONE JSON line: ``{"peer": "floor", "documents", "seconds", "cpu_seconds", "ok",
"failed"}``; ``ok`` counts documents signed. ``seconds`` runs from the barrier to the
last result; ``cpu_seconds`` is user+sys spent by the workers (and the parent) in that
interval.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from econnector.signworker import HeldKeySigner, load_signer

# peerutil sits next to this script (a script's folder is first on the import path)
from peerutil import cpu_seconds, input_stems, load_config, print_result

BYTES_RESERVED = 16384
BARRIER_TIMEOUT = 300.0


def sign_one(folder: Path, stem: str, held: dict[str, HeldKeySigner], bytes_reserved: int) -> bytes:
    """Sign ``folder/stem.pdf`` with its author's held key; the signed bytes (for checks)."""
    sidecar = json.loads((folder / f"{stem}.json").read_text("utf-8"))
    signer = held[sidecar["author"]["provider_code"]]
    data = (folder / f"{stem}.pdf").read_bytes()
    meta = signers.PdfSignatureMetadata(
        field_name="Sig1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(data), strict=False),
        output=out,
        bytes_reserved=bytes_reserved,
    )
    return out.getvalue()


def load_all(identities: list[tuple[str, str, bytes]]) -> dict[str, HeldKeySigner]:
    return {pc: load_signer(pc, Path(p12), pw) for pc, p12, pw in identities}


def _worker(
    index: int,
    folder: str,
    stems: list[str],
    identities: list[tuple[str, str, bytes]],
    bytes_reserved: int,
    barrier: Any,
    results: Any,
) -> None:
    held = load_all(identities)
    # Warm-up (lazy imports, first-call caches) outside the timed part; a failure
    # here is counted when the timed loop meets the document again.
    with contextlib.suppress(Exception):
        sign_one(Path(folder), stems[0], held, bytes_reserved)
    barrier.wait(BARRIER_TIMEOUT)
    c0 = cpu_seconds()
    ok = failed = 0
    for stem in stems:
        try:
            sign_one(Path(folder), stem, held, bytes_reserved)
            ok += 1
        except Exception as exc:
            failed += 1
            print(f"floor: {stem}: {type(exc).__name__}: {exc}", file=sys.stderr)
    results.put((index, ok, failed, cpu_seconds() - c0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--bytes-reserved", type=int, default=BYTES_RESERVED)
    ap.add_argument("input", type=Path)
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    identities = [(pc, str(i.pkcs12), i.passphrase()) for pc, i in cfg.identities.items()]
    stems = input_stems(args.input)
    procs = max(1, min(args.procs, len(stems)))
    if not stems:
        print_result("floor", 0, 0.0, 0.0, 0, 0)
        return 0

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_worker,
            args=(
                i,
                str(args.input),
                stems[i::procs],
                identities,
                args.bytes_reserved,
                barrier,
                results,
            ),
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    barrier.wait(BARRIER_TIMEOUT)
    t0, c0 = time.perf_counter(), cpu_seconds()
    got: list[tuple[int, int, int, float]] = []
    while len(got) < procs:
        try:
            got.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"floor: a worker died (exit code {dead[0].exitcode})") from None
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0 + sum(r[3] for r in got)
    for w in workers:
        w.join()
    print_result("floor", len(stems), seconds, cpu, sum(r[1] for r in got), sum(r[2] for r in got))
    return 0


if __name__ == "__main__":
    sys.exit(main())
