"""Peer "naive": the in-process Python loop a developer would write first.

    .venv/bin/python bench/peers/naive_loop.py --config CONFIG IN

For each ``IN/<stem>.pdf`` (sorted) with its sidecar ``IN/<stem>.json``, one at a time:
load the PKCS#12 (``SimpleSigner.load_pkcs12``, per document, as naive code does), sign
PAdES B-B (``ETSI.CAdES.detached``, SHA-256) with ``signers.sign_pdf`` over a non-strict
``IncrementalPdfFileWriter``, then upload with a plain ``httpx.post`` (a new connection
and TLS handshake per document; TLS verified with the config's CA bundle) using
econnector's metadata and Idempotency-Key. No retries, no concurrency.

Prints ONE JSON line: ``{"peer": "naive", "documents", "seconds", "cpu_seconds", "ok",
"failed"}``. ``seconds`` and ``cpu_seconds`` cover the loop only (after the imports),
as econnector is measured while already running.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import ssl
import sys
import time
from pathlib import Path

import httpx
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

# peerutil sits next to this script (a script's folder is first on the import path)
from peerutil import input_stems, load_config, print_result, tree_cpu_seconds


def idempotency_key(provider_code: str, document_id: str) -> str:
    """As ``econnector.vault_client.idempotency_key`` (the selftest checks they agree)."""
    digest = hashlib.sha256(f"econnector/v1\0{provider_code}\0{document_id}".encode()).hexdigest()
    return "ec1-" + digest[:48]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("input", type=Path)
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    verify = ssl.create_default_context(cafile=cfg.ca_bundle)
    url = cfg.vault_url + "/v1/documents"

    ok = failed = documents = 0
    t0, c0 = time.perf_counter(), tree_cpu_seconds()
    for stem in input_stems(args.input):
        documents += 1
        try:
            sidecar = json.loads((args.input / f"{stem}.json").read_text("utf-8"))
            provider_code = sidecar["author"]["provider_code"]
            identity = cfg.identities[provider_code]
            original = (args.input / f"{stem}.pdf").read_bytes()

            signer = signers.SimpleSigner.load_pkcs12(
                str(identity.pkcs12), passphrase=identity.passphrase()
            )
            if signer is None:
                raise RuntimeError(f"cannot load the identity of {provider_code}")
            signed = signers.sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(original), strict=False),
                signers.PdfSignatureMetadata(
                    field_name="Sig1",
                    md_algorithm="sha256",
                    subfilter=fields.SigSeedSubFilter.PADES,
                ),
                signer=signer,
            )

            metadata = {k: v for k, v in sidecar.items() if k != "schema"}
            metadata["original_sha256"] = hashlib.sha256(original).hexdigest()
            meta = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()
            response = httpx.post(
                url,
                headers={
                    "Authorization": f"Bearer {cfg.token}",
                    "Idempotency-Key": idempotency_key(provider_code, sidecar["document_id"]),
                    "Accept": "application/json",
                },
                files={
                    "metadata": (None, meta, "application/json"),
                    "file": (f"{stem}.pdf", signed.getvalue(), "application/pdf"),
                },
                verify=verify,
                timeout=60.0,
            )
            if response.status_code in (200, 201):
                ok += 1
            else:
                failed += 1
                print(
                    f"naive: {stem}: HTTP {response.status_code} {response.text[:300]}",
                    file=sys.stderr,
                )
        except Exception as exc:  # one bad document must not stop the loop
            failed += 1
            print(f"naive: {stem}: {type(exc).__name__}: {exc}", file=sys.stderr)
    print_result("naive", documents, time.perf_counter() - t0, tree_cpu_seconds() - c0, ok, failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
