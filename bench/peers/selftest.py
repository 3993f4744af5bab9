"""Self-test of the three peers against the real reference vault (TLS on loopback).

    .venv/bin/python bench/peers/selftest.py [--count 20] [--loop-count 5] [--keep]

For each peer, a fresh vault and distinct document ids; then checks that:

- the peer's JSON line has the contract's keys and ok == documents == count;
- the vault holds exactly ``count`` documents (billing activity of this quarter, per
  author), each with the metadata econnector would send (sidecar without ``schema``,
  plus ``original_sha256`` of the original PDF);
- every stored PDF carries one signature with the same profile as econnector's
  (``/ETSI.CAdES.detached``, SHA-256, same signed attributes, same mechanism), intact,
  valid and covering the whole file;
- re-posting the stored bytes under ``econnector.vault_client.idempotency_key`` replays
  (200, same vault id): the peer used econnector's Idempotency-Key;
- for the floor (no upload): one of its signatures, checked the same way.

The shell peer is run in watch mode (started, then ``count`` documents dropped as
``.part`` files renamed into place), and once in loop mode over ``--loop-count``
documents. Prints each JSON line and the seconds per document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from econnector.signer import KeySpec, Policy, SignJob
from econnector.signworker import init_worker as _init_worker
from econnector.signworker import sign_file
from econnector.testid import make_identity
from econnector.vault_client import idempotency_key
from econnector_testsupport.vault import VaultProcess, make_tls, running_vault, verify_for
from econnector_testsupport.workload import AUTHORS, Workload

# floor and peerutil sit next to this script: Python puts a script's folder first on
# the import path, so they import as they do for the peers themselves.
from floor import load_all, sign_one
from peerutil import load_config

HERE = Path(__file__).resolve().parent

PY = sys.executable
# Validation without trust roots logs a path-building traceback per signature; only
# intact/valid/coverage matter here (the vault does not require trust either).
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
KEYS = {"peer", "documents", "seconds", "cpu_seconds", "ok", "failed"}


# -- fixtures -------------------------------------------------------------------------------------


def write_docs(folder: Path, workload: Workload, count: int, prefix: str) -> dict[str, Any]:
    """Write ``count`` pairs into ``folder``; {document_id: (sidecar, original sha256)}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for n in range(count):
        d = workload.doc(n, prefix=prefix)
        (folder / f"{d.stem}.pdf").write_bytes(d.pdf)
        (folder / f"{d.stem}.json").write_text(json.dumps(d.sidecar, ensure_ascii=False), "utf-8")
        expected[d.sidecar["document_id"]] = (d.sidecar, hashlib.sha256(d.pdf).hexdigest())
    return expected


def drop_docs(folder: Path, workload: Workload, count: int, prefix: str) -> dict[str, Any]:
    """As practice software drops them: each file written as .part, then renamed."""
    expected = {}
    for n in range(count):
        d = workload.doc(n, prefix=prefix)
        for ext, data in (
            (".pdf", d.pdf),
            (".json", json.dumps(d.sidecar, ensure_ascii=False).encode()),
        ):
            part = folder / f"{d.stem}{ext}.part"
            part.write_bytes(data)
            os.replace(part, folder / f"{d.stem}{ext}")
        expected[d.sidecar["document_id"]] = (d.sidecar, hashlib.sha256(d.pdf).hexdigest())
    return expected


def write_config(path: Path, vp: VaultProcess, ids: dict[str, Any]) -> Path:
    path.write_text(
        json.dumps(
            {
                "vault_url": vp.base_url,
                "token": vp.token,
                "ca_bundle": str(vp.ca_bundle),
                "identities": {
                    pc: {"pkcs12": str(i.pkcs12), "passphrase_file": str(i.passphrase_file)}
                    for pc, i in ids.items()
                },
            },
            indent=2,
        ),
        "utf-8",
    )
    return path


# -- checks ---------------------------------------------------------------------------------------


def signature_profile(data: bytes) -> dict[str, Any]:
    """What makes the signature level: checked equal to econnector's, plus validity."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    sigs = reader.embedded_signatures
    assert len(sigs) == 1, f"{len(sigs)} signatures"
    s = sigs[0]
    status = validate_pdf_signature(s)
    si = s.signer_info
    return {
        "subfilter": str(s.sig_object["/SubFilter"]),
        "md": s.md_algorithm,
        "mechanism": si["signature_algorithm"]["algorithm"].native,
        "signed_attrs": sorted(a["type"].native for a in si["signed_attrs"]),
        "certs": len(s.signed_data["certificates"]),
        "ok": bool(status.intact and status.valid and status.coverage.name == "ENTIRE_FILE"),
    }


def econnector_profile(ids: dict[str, Any], pdf: bytes, tmp: Path) -> dict[str, Any]:
    """Sign one document exactly as the daemon's workers do; its signature profile."""
    pc = AUTHORS[0]
    _init_worker([KeySpec(pc, "B-B", ids[pc].passphrase_file.read_bytes().rstrip(b"\r\n"),
                          str(ids[pc].pkcs12))], Policy(), 0)
    src, dst = tmp / "ec-src.pdf", tmp / "ec-dst.pdf"
    src.write_bytes(pdf)
    out = sign_file(SignJob(pc, str(src), str(dst), 1000, 16384, ""))
    assert out.ok, out
    return signature_profile(dst.read_bytes())


def quarter(now: dt.datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


def check_vault(vp: VaultProcess, expected: dict[str, Any], reference: dict[str, Any]) -> None:
    verify = verify_for(vp)
    auth = {"Authorization": f"Bearer {vp.token}"}
    with httpx.Client(base_url=vp.base_url, headers=auth, verify=verify, timeout=30) as c:
        vids = []
        for pc in AUTHORS:
            r = c.get(
                "/v1/billing/activity",
                params={"quarter": quarter(dt.datetime.now(dt.UTC)), "provider_code": pc},
            )
            r.raise_for_status()
            vids += [rec["vault_document_id"] for rec in r.json()["records"]]
        assert len(vids) == len(expected), f"vault holds {len(vids)}, expected {len(expected)}"
        seen = set()
        for vid in vids:
            doc = c.get(f"/v1/documents/{vid}").json()
            meta = doc["metadata"]
            sidecar, original = expected[meta["document_id"]]
            want = {k: v for k, v in sidecar.items() if k != "schema"}
            want["original_sha256"] = original
            assert meta == want, f"metadata differs for {meta['document_id']}"
            stored = (vp.data_dir / "documents" / vid[3:5] / f"{vid}.pdf").read_bytes()
            assert hashlib.sha256(stored).hexdigest() == doc["sha256"]
            prof = signature_profile(stored)
            assert prof["ok"], f"{meta['document_id']}: signature not intact/valid/whole"
            for k in ("subfilter", "md", "mechanism", "signed_attrs"):
                assert prof[k] == reference[k], f"{k}: {prof[k]} != econnector's {reference[k]}"
            # econnector's key replays the stored bytes: the peer used the same key.
            key = idempotency_key(meta["author"]["provider_code"], meta["document_id"])
            r = c.post(
                "/v1/documents",
                headers={"Idempotency-Key": key},
                files={
                    "metadata": (None, json.dumps(meta).encode(), "application/json"),
                    "file": ("x.pdf", stored, "application/pdf"),
                },
            )
            assert r.status_code == 200 and r.json()["vault_document_id"] == vid, (
                f"replay with econnector's key answered {r.status_code}"
            )
            seen.add(meta["document_id"])
        assert seen == set(expected), "document ids differ"


def parse_line(stdout: str, count: int) -> dict[str, Any]:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stdout, got {lines!r}"
    res: dict[str, Any] = json.loads(lines[0])
    assert set(res) == KEYS, res
    assert res["documents"] == count and res["ok"] == count and res["failed"] == 0, res
    return res


# -- runs -----------------------------------------------------------------------------------------


def run_shell_watch(ids, tls, wl, tmp: Path, count: int, reference) -> dict[str, Any]:
    inbox = tmp / "in-shell"
    inbox.mkdir()
    with running_vault(tmp / "vault-shell", tls=tls) as vp:
        cfg = write_config(tmp / "config-shell.json", vp, ids)
        ready = tmp / "shell.ready"
        err = (tmp / "shell.err").open("w")
        proc = subprocess.Popen(
            [
                "bash",
                str(HERE / "shell_pipeline.sh"),
                "--watch",
                str(count),
                "--ready-file",
                str(ready),
                str(inbox),
                str(cfg),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None, (tmp / "shell.err").read_text()
            assert time.monotonic() < deadline, "shell peer never became ready"
            time.sleep(0.02)
        expected = drop_docs(inbox, wl, count, "s")
        out, _ = proc.communicate(timeout=600)
        err.close()
        assert proc.returncode == 0, (tmp / "shell.err").read_text()
        res = parse_line(out, count)
        check_vault(vp, expected, reference)
    return res


def run_peer(
    name: str,
    argv_of,
    ids,
    tls,
    wl,
    tmp: Path,
    count: int,
    prefix: str,
    reference,
    upload: bool = True,
) -> dict[str, Any]:
    inbox = tmp / f"in-{name}"
    expected = write_docs(inbox, wl, count, prefix)
    with running_vault(tmp / f"vault-{name}", tls=tls) as vp:
        cfg = write_config(tmp / f"config-{name}.json", vp, ids)
        proc = subprocess.run(argv_of(inbox, cfg), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        res = parse_line(proc.stdout, count)
        if upload:
            check_vault(vp, expected, reference)
        else:
            held = load_all(
                [
                    (pc, str(i.pkcs12), i.passphrase())
                    for pc, i in load_config(cfg).identities.items()
                ]
            )
            stem = sorted(p.stem for p in inbox.glob("*.pdf"))[0]
            prof = signature_profile(sign_one(inbox, stem, held, 16384))
            assert prof["ok"], prof
            for k in ("subfilter", "md", "mechanism", "signed_attrs"):
                assert prof[k] == reference[k], (k, prof[k], reference[k])
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description="self-test of bench/peers")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--loop-count", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="peers-selftest-"))
    try:
        tls = make_tls(tmp / "tls")
        ids = {pc: make_identity(tmp / "ids", pc) for pc in AUTHORS}
        wl = Workload()
        reference = econnector_profile(ids, wl.doc(0).pdf, tmp)
        assert reference["ok"], reference
        print(f"econnector signature profile: {json.dumps(reference)}", file=sys.stderr)

        results = [
            run_shell_watch(ids, tls, wl, tmp, args.count, reference),
            run_peer(
                "shell-loop",
                lambda i, c: ["bash", str(HERE / "shell_pipeline.sh"), str(i), str(c)],
                ids,
                tls,
                wl,
                tmp,
                args.loop_count,
                "l",
                reference,
            ),
            run_peer(
                "naive",
                lambda i, c: [PY, str(HERE / "naive_loop.py"), "--config", str(c), str(i)],
                ids,
                tls,
                wl,
                tmp,
                args.count,
                "n",
                reference,
            ),
            run_peer(
                "floor",
                lambda i, c: [PY, str(HERE / "floor.py"), "--config", str(c), str(i)],
                ids,
                tls,
                wl,
                tmp,
                args.count,
                "f",
                reference,
                upload=False,
            ),
        ]
        for r in results:
            print(json.dumps(r))
        print(f"{'peer':<10} {'docs':>5} {'s/doc':>8} {'cpu s/doc':>10} {'docs/s':>8}")
        for label, r in zip(("shell", "shell-loop", "naive", "floor"), results, strict=True):
            n = r["documents"]
            print(
                f"{label:<10} {n:>5} {r['seconds'] / n:>8.3f} {r['cpu_seconds'] / n:>10.3f} "
                f"{n / r['seconds']:>8.2f}"
            )
        print(f"all peers OK in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
