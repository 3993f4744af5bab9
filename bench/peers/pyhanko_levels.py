"""Peer "pyHanko B-LT": pyHanko alone signing PAdES B-LT, its helpers reused or not.

    .venv/bin/python bench/peers/pyhanko_levels.py --mode reused|fresh --pkcs12 P12 \\
        --passphrase-file FILE --tsa-url URL --trust-root ROOT.pem IN

What a developer writes to reach B-LT with pyHanko, and the price of getting it
wrong: sequential, one process, one asyncio event loop for the whole run, the PDFs
of ``IN`` (sorted) signed into memory and discarded.

- ``reused``: one ``HTTPTimeStamper`` and one ``ValidationContext(trust_roots=[root],
  allow_fetching=True)`` for every document: the OCSP responses and CRLs of the
  signer's and the TSA's chains are fetched once and the context keeps them.
- ``fresh``: both built anew for every document, so every signature fetches them
  again (what a script that calls pyHanko once per file gets).

The signature is the one econnector makes at B-LT: ``SimpleSigner.load_pkcs12`` (once),
``ETSI.CAdES.detached``, SHA-256, a signature timestamp, the validation data in the
signature's own revision (``TOGETHER_WITH_SIGNATURE``, no VRI), revocation checking
``hard-fail``, ``bytes_reserved=32768`` (econnector's 16 KiB plus 16 KiB for the
token). Nothing else: no policy check, no self-validation, no fsync, no upload. One
untimed warm-up document first (imports; in ``reused`` it also fills the cache, as a
daemon that has been running would have it).

Prints ONE JSON line (``bench/peers/README.md``): ``peer`` is ``pyhanko-lt-reused`` or
``pyhanko-lt-fresh``; ``ok`` counts outputs that carry a DSS.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext

# peerutil sits next to this script (a script's folder is first on the import path)
from peerutil import cpu_seconds, input_stems, print_result

BYTES_RESERVED = 32768


class LtSigner:
    """Signs B-LT; ``reused`` decides whether the timestamper and context live on."""

    def __init__(self, signer: signers.Signer, tsa_url: str, root: object, reused: bool):
        self.signer, self.tsa_url, self.root, self.reused = signer, tsa_url, root, reused
        self._tsa: HTTPTimeStamper | None = None
        self._vc: ValidationContext | None = None

    def _helpers(self) -> tuple[HTTPTimeStamper, ValidationContext]:
        if self._tsa is None or self._vc is None or not self.reused:
            self._tsa = HTTPTimeStamper(self.tsa_url, timeout=30)
            self._vc = ValidationContext(trust_roots=[self.root], allow_fetching=True,
                                         revocation_mode="hard-fail")
        return self._tsa, self._vc

    async def sign(self, pdf: bytes) -> bytes:
        tsa, vc = self._helpers()
        meta = signers.PdfSignatureMetadata(
            field_name="Sig1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
            validation_context=vc, embed_validation_info=True,
            dss_settings=DSSContentSettings(
                include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE),
        )
        out = io.BytesIO()
        try:
            await signers.PdfSigner(meta, signer=self.signer, timestamper=tsa).async_sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out,
                bytes_reserved=BYTES_RESERVED)
        finally:
            if not self.reused:
                await vc.aclose()  # its HTTP session, as a careful script would
        return out.getvalue()

    async def close(self) -> None:
        if self._vc is not None:
            await self._vc.aclose()


async def run(args: argparse.Namespace) -> int:
    passphrase = args.passphrase_file.read_bytes().rstrip(b"\r\n")
    signer = signers.SimpleSigner.load_pkcs12(str(args.pkcs12), passphrase=passphrase)
    if signer is None:
        raise SystemExit("pyhanko_levels: cannot load the PKCS#12 identity")
    root = load_cert_from_pemder(str(args.trust_root))
    lt = LtSigner(signer, args.tsa_url, root, reused=args.mode == "reused")
    stems = input_stems(args.input)
    pdfs = [(args.input / f"{s}.pdf").read_bytes() for s in stems]
    peer = f"pyhanko-lt-{args.mode}"
    if not pdfs:
        print_result(peer, 0, 0.0, 0.0, 0, 0)
        return 0
    await lt.sign(pdfs[0])  # warm-up, untimed
    ok = failed = 0
    t0, c0 = time.perf_counter(), cpu_seconds()
    for stem, pdf in zip(stems, pdfs, strict=True):
        try:
            signed = await lt.sign(pdf)
            if b"/DSS" in signed[len(pdf):]:
                ok += 1
            else:
                failed += 1
                print(f"{peer}: {stem}: no DSS in the output", file=sys.stderr)
        except Exception as exc:
            failed += 1
            print(f"{peer}: {stem}: {type(exc).__name__}: {exc}", file=sys.stderr)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    await lt.close()
    print_result(peer, len(pdfs), seconds, cpu, ok, failed)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("reused", "fresh"), required=True)
    ap.add_argument("--pkcs12", type=Path, required=True)
    ap.add_argument("--passphrase-file", type=Path, required=True)
    ap.add_argument("--tsa-url", required=True)
    ap.add_argument("--trust-root", type=Path, required=True)
    ap.add_argument("input", type=Path)
    args = ap.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
