"""Signing, worker side: PAdES B-B with pyHanko, inside a signing worker process.

Why a held key: pyHanko's ``SimpleSigner`` re-parses the private key for every
signature (more than half the cost of a small document). ``HeldKeySigner``
parses it once per process; the signature itself is unchanged.

This is the only module that imports pyHanko's signing stack (tens of MiB per
process, docs/performance.md); the daemon's main process never imports it. pyHanko and OS
exceptions are translated to :mod:`econnector.errors` codes here and only
here; results cross the process boundary as plain data (:mod:`.signer`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import pickle
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.pdf_utils.misc import PdfError as HankoPdfError
from pyhanko.pdf_utils.qr import PdfStreamQRImage
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko.stamp import BaseStamp, BaseStampStyle

from . import fsio, pades, pdfpolicy, safeopen
from .codes import as_code
from .errors import EconnectorError, IdentityHeld, PdfError, ServiceUnavailable, SignatureHeld
from .hardening import die_with_parent, harden_worker, parent_gone
from .signer import (
    DIGEST,
    KeySpec,
    Policy,
    QrStamp,
    SignJob,
    SignOutcome,
    check_path,
    read_identity,
)

try:  # POSIX; Windows has no resource limits of this kind (winservice)
    import resource
except ImportError:  # pragma: no cover - Windows (not run here)
    resource = None  # type: ignore[assignment]


class HeldKeySigner(signers.SimpleSigner):
    """A SimpleSigner that keeps the parsed private key instead of re-parsing it."""

    _pyca_key: Any = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        if self._pyca_key is None:
            self._pyca_key = serialization.load_der_private_key(
                self.signing_key.dump(), password=None
            )
        mech = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        key = self._pyca_key
        if mech == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mech == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)  # other mechanisms: pyHanko's path


def load_signer(provider_code: str, pkcs12: Path, passphrase: bytes) -> HeldKeySigner:
    """Load a PKCS#12 identity; any failure means the identity stays locked."""
    data = read_identity(provider_code, pkcs12)
    try:
        # load_pkcs12_data builds a plain SimpleSigner whatever class it is called on,
        # so take its parts and keep the parsed key in a HeldKeySigner.
        plain = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
    except (ValueError, TypeError):
        raise IdentityHeld(
            "identity-locked", provider=provider_code, detail="wrong passphrase or damaged key"
        ) from None
    held = HeldKeySigner(
        signing_cert=plain.signing_cert,
        signing_key=plain.signing_key,
        cert_registry=plain.cert_registry,
    )
    held._pyca_key = serialization.load_der_private_key(plain.signing_key.dump(), password=None)
    return held


_SIGNERS: dict[str, signers.Signer] = {}
_KEYS: dict[str, KeySpec] = {}
_SERVICES: pades.Services | None = None


def services() -> pades.Services:
    global _SERVICES
    if _SERVICES is None:
        _SERVICES = pades.Services(Policy())
    return _SERVICES


def _open(spec: KeySpec) -> signers.Signer:
    """The identity's signer: a held PKCS#12 key, or a session on its token."""
    if spec.pkcs11 is not None:
        from . import tokens  # python-pkcs11 only in workers that sign with a token

        return tokens.worker_signer(spec.provider_code, spec.pkcs11, spec.secret)
    assert spec.pkcs12 is not None
    return load_signer(spec.provider_code, Path(spec.pkcs12), spec.secret)


def init_worker(keys: Sequence[KeySpec], policy: Policy, memory_mb: int) -> None:
    global _SERVICES
    if memory_mb and resource is not None:  # no address-space limit on Windows
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if _SERVICES is not None:
        _SERVICES.close()
    _SERVICES = pades.Services(policy)
    for spec in keys:
        _KEYS[spec.provider_code] = spec
        # If one fails here its jobs answer with the reason (the main process
        # checked it already, so this takes a file changed or a token pulled in between).
        with contextlib.suppress(IdentityHeld):
            _SIGNERS[spec.provider_code] = _open(spec)


def _fail(e: EconnectorError) -> SignOutcome:
    params = {k: v for k, v in e.params.items() if k != "field"}
    return SignOutcome(ok=False, code=as_code(e.code), params=params)


def sign_file(job: SignJob) -> SignOutcome:
    """Check the policy and sign ``src`` into ``dst`` (fsynced). Runs in a worker."""
    try:
        return _sign(job)
    except EconnectorError as e:
        return _fail(e)
    except MemoryError:
        return SignOutcome(ok=False, code="pdf-too-complex", params={})
    except RecursionError:
        return SignOutcome(ok=False, code="pdf-damaged", params={"detail": "nesting too deep"})
    except FileNotFoundError:
        return SignOutcome(ok=False, code="drop-withdrawn", params={"name": Path(job.src).name})
    except PermissionError as e:
        return SignOutcome(ok=False, code="file-busy", params={"detail": e.strerror or "denied"})


# Up to this size the PDF is read whole and signed in memory: pyHanko is faster
# per small document on a buffer than on a file (it reads back and patches its
# output; docs/performance.md), and the hash comes from the bytes already in
# hand. Larger files are signed file to file, so memory stays flat whatever
# their size.
IN_MEMORY_BYTES = 8 * 1024 * 1024

_PARENT: int | None = None  # the daemon's pid (serve); None when signing in-process


def _sign(job: SignJob) -> SignOutcome:
    signer = _SIGNERS.get(job.provider_code)
    spec = _KEYS.get(job.provider_code)
    if signer is None:
        if spec is None:
            raise IdentityHeld("identity-locked", provider=job.provider_code, detail="not loaded")
        # A token that was absent at start (or pulled since) is tried again per job.
        signer = _SIGNERS[job.provider_code] = _open(spec)
    level = spec.level if spec is not None else "B-B"
    svc = services()
    tmp = os.path.join(job.tmp_dir or os.path.dirname(job.dst),
                       f"{os.path.basename(job.dst)}.{secrets.token_hex(4)}.tmp")
    try:
        expect = safeopen.FileId(*job.expect) if job.expect else None
        with safeopen.opened(job.src, expect) as fin:
            data = fin.read(IN_MEMORY_BYTES + 1)
            small = len(data) <= IN_MEMORY_BYTES
            writer, pages = _open_checked(io.BytesIO(data) if small else fin, data, small,
                                          job.max_pages)
            # The signed file starts with exactly these bytes (an incremental update):
            # their hash lets the daemon check they are the original it validated.
            input_sha256 = hashlib.sha256(data).hexdigest() if small else ""
            input_len = len(data) if small else os.fstat(fin.fileno()).st_size
            del data
            signed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
            field_name = f"econnector-{secrets.token_hex(4)}"
            meta = pades.metadata(level, field_name, DIGEST, job.location or None, signer,
                                  svc.context(level, signed_at), fields.SigSeedSubFilter.PADES)
            timestamped = pades.at_least(level, "B-T")
            # drawn into the writer now, so it is part of the one update the signature covers
            qr_drawn = _invoice_qr(job, writer)
            box = _visible(job, writer, field_name, signer, signed_at)
            _same_producer(writer)
            pdf_signer = signers.PdfSigner(meta, signer=signer,
                                           timestamper=svc.tsa if timestamped else None,
                                           new_field_spec=box[0] if box else None,
                                           stamp_style=box[1] if box else None)
            reserved = job.bytes_reserved + (pades.TIMESTAMP_RESERVE if timestamped else 0)
            # A file output is opened readable and seekable, so pyHanko writes and
            # digests in place instead of building the whole output in memory.
            with open(tmp, "w+b") as fout:
                out: Any = io.BytesIO() if small else fout
                _sign_into(pdf_signer, writer, out, reserved, job.provider_code, svc)
                svc.renew_after(signed_at)
                if small:
                    signed = out.getbuffer()
                    fout.write(signed)
                    size, sha256 = len(signed), hashlib.sha256(signed).hexdigest()
                    check_in: Any = io.BytesIO(signed)
                else:
                    check_in = fout
                fout.flush()
                os.fsync(fout.fileno())
                check_in.seek(0)
                reached, findings = _check(svc, check_in, input_len, level)
                if qr_drawn is not None:
                    findings["invoice_qr"] = qr_drawn
                del check_in
                if small:
                    del signed
            input_size = os.fstat(fin.fileno()).st_size
        if parent_gone(_PARENT):
            # The daemon died with this job in hand: its next life signs again, and
            # may already have delivered and archived this document.
            os.unlink(tmp)
            os._exit(0)
        # The self-check goes beside the signed bytes, before them: signed bytes found
        # after a crash always have theirs.
        check = check_path(Path(job.dst))
        if job.tmp_dir:  # its temp file in our folder too, then renamed beside the bytes
            staged = Path(job.tmp_dir) / check.name
            fsio.write_json(staged, {"level": reached, **findings}, durable_dir=False)
            os.replace(staged, check)
        else:
            fsio.write_json(check, {"level": reached, **findings}, durable_dir=False)
        os.replace(tmp, job.dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not small:
        sha256, size = fsio.sha256_file(Path(job.dst)), os.path.getsize(job.dst)
        with open(job.dst, "rb") as f:
            input_sha256 = fsio.sha256_prefix(f, input_size)
    return SignOutcome(
        ok=True, sha256=sha256, size=size, pages=pages, input_size=input_size,
        input_sha256=input_sha256, signed_at=signed_at.isoformat(), level=reached,
        validation=findings,
    )


def _visible(job: SignJob, writer: IncrementalPdfFileWriter, field_name: str,
             signer: signers.Signer, when: dt.datetime) -> Any:
    """The visible box's field and stamp (signing.visible), or None."""
    if job.visible is None:
        return None
    from . import appearance  # the font machinery only in workers that draw a box

    try:
        return appearance.visible_signature(
            writer, job.visible, field_name, appearance.signer_name(signer.signing_cert),
            when, job.language)
    except appearance.FontMissing:  # check-config and the start refuse this; a font
        # removed since makes the document wait for IT, never refused
        raise SignatureHeld("signature-check-failed", defect=NO_FONT) from None
    except _PARSE_ERRORS as e:
        raise PdfError("pdf-damaged", detail=_short(e)) from None


NO_FONT = "the font of the visible signature box is missing"

QR_CAPTION_PT = 6  # the reference under the code
QR_CAPTION_BOX = 8.0  # the caption's line, in points
QR_QUIET = 4  # modules of blank margin a scanner needs around the code (ISO/IEC 18004)


def _invoice_qr(job: SignJob, writer: IncrementalPdfFileWriter) -> bool | None:
    """Draw ``job.qr`` on its page (docs/invoice-qr.md): True when drawn, None when no
    code was asked for, False when the PDF already carries a signature. Why skip then:
    drawing on a page changes its content, which an earlier approval or certification
    signature judges a forbidden change (it would show as broken; docs/pdf-policy.md
    promises earlier signatures stay intact). The caller reports it (``invoice_qr`` in
    the self-check's findings)."""
    if job.qr is None:
        return None
    from . import appearance

    try:
        if appearance.certified(writer) or writer.prev.embedded_signatures:
            return False
        _draw_qr(writer, job.qr)
    except appearance.FontMissing:
        raise SignatureHeld("signature-check-failed", defect=NO_FONT) from None
    except _PARSE_ERRORS as e:
        raise PdfError("pdf-damaged", detail=_short(e)) from None
    return True


class _GreyModules(PdfStreamQRImage):
    """pyHanko's QR modules painted in DeviceGray, which PDF/A allows whatever the
    file's output intent (its RGB black needs an RGB output intent)."""

    def format_qr_color(self) -> bytes:
        return b"0 g 0 G"


class _InvoiceQrStamp(BaseStamp):
    """The code (``side`` points square, its modules only) with a blank quiet zone
    of :data:`QR_QUIET` modules left, right and below, and the caption centred on
    one line under that. Nothing is painted white: content of the invoice under the
    quiet zone stays visible (and the practice moves the code, docs/invoice-qr.md)."""

    def __init__(self, writer: IncrementalPdfFileWriter, payload: str, caption: str,
                 side: float) -> None:
        import qrcode

        from . import appearance

        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
                             box_size=1, image_factory=_GreyModules)
        code.add_data(payload)
        code.make(fit=True)
        self.modules: bytes = code.make_image().render_command_stream()
        self.count: int = code.modules_count
        self.side, self.caption = side, caption
        self.quiet = QR_QUIET * side / self.count
        self.font = appearance.embedded_font(caption, QR_CAPTION_PT)
        width, height = side + 2 * self.quiet, side + self.quiet + QR_CAPTION_BOX
        super().__init__(writer, BaseStampStyle(border_width=0),
                         box=layout.BoxConstraints(width, height))

    def _render_inner_content(self) -> list[bytes]:
        scale = self.side / self.count
        commands = [b"q %g 0 0 %g %g %g cm" % (scale, scale, self.quiet,
                                              self.quiet + QR_CAPTION_BOX),
                    self.modules, b"Q"]
        fit = layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0),
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT)
        style = TextBoxStyle(font=self.font, font_size=QR_CAPTION_PT,
                             leading=QR_CAPTION_PT + 1, box_layout_rule=fit)
        text = TextBox(style, writer=self.writer, resources=self.resources,
                       box=layout.BoxConstraints(self.box.width, QR_CAPTION_BOX))
        text.content = self.caption
        commands += [b"q", text.render(), b"Q"]
        return commands


def _draw_qr(writer: IncrementalPdfFileWriter, qr: QrStamp) -> None:
    """Stamp the code on page ``qr.page`` (the last page when the document is
    shorter, as for the visible box: a layout setting never refuses an invoice),
    its lower-left corner at ``x_mm``, ``y_mm`` from the visible page's lower-left
    corner, moved onto the page when it would stick out. pyHanko's stamp wraps the
    page's own content in q/Q first, so a transformation it leaves behind cannot
    move the code. ``/Rotate`` is not compensated (nor for the visible box)."""
    from . import appearance

    count, (llx, lly, urx, ury) = appearance.page_geometry(writer, qr.page - 1)
    index = min(max(qr.page, 1), count) - 1
    stamp = _InvoiceQrStamp(writer, qr.payload, qr.caption, qr.size_mm * appearance.MM)
    width, height = stamp.box.width, stamp.box.height
    x = llx + qr.x_mm * appearance.MM - stamp.quiet
    y = lly + qr.y_mm * appearance.MM - stamp.quiet - QR_CAPTION_BOX
    x = max(min(x, urx - width), llx)
    y = max(min(y, ury - height), lly)
    stamp.apply(index, x, y)


def _same_producer(writer: IncrementalPdfFileWriter) -> None:
    """PDF/A wants the Info dictionary's /Producer equal to the XMP's (ISO 19005-1,
    6.7.3). pyHanko writes its own name into the XMP but appends it to the Info one,
    so a PDF/A file would stop being one: both say pyHanko's name (the original
    producer stays in the first revision, kept byte for byte)."""
    if "/Metadata" not in writer.root:
        return
    try:
        ref = writer.trailer.raw_get("/Info")
    except KeyError:
        return
    info = ref.get_object() if isinstance(ref, generic.IndirectObject) else None
    if isinstance(info, generic.DictionaryObject) and "/Producer" in info:
        info["/Producer"] = generic.TextStringObject(VENDOR)
        writer.mark_update(ref)  # pyHanko rewrites an /Info only when told


def _check(svc: pades.Services, signed: Any, input_size: int, level: str
           ) -> tuple[str, dict[str, Any]]:
    """The self-check of the signature just made (:func:`.pades.self_check`)."""
    try:
        result: tuple[str, dict[str, Any]] = svc.run(
            pades.self_check(signed, input_size, level, svc.roots, svc.verdicts,
                             svc.fresh_until))
    except EconnectorError:
        raise
    except _PARSE_ERRORS as e:
        raise SignatureHeld("signature-check-failed", defect=_short(e)) from None
    return result


def _open_checked(src: Any, data: bytes, small: bool, max_pages: int
                  ) -> tuple[IncrementalPdfFileWriter, int]:
    """pyHanko's writer over the original, and its page count, once the policy
    passed; the walk is skipped when a byte search of a small PDF proves it
    cannot refuse (:func:`.pdfpolicy.may_hold_active_content`)."""
    try:
        writer = IncrementalPdfFileWriter(src, strict=False)
        if small and not pdfpolicy.may_hold_active_content(data):
            return writer, pdfpolicy.check_pages(writer.prev, max_pages)
        return writer, pdfpolicy.check(writer.prev, max_pages)
    except _PARSE_ERRORS as e:
        raise PdfError("pdf-damaged", detail=_short(e)) from None


def _sign_into(pdf_signer: signers.PdfSigner, writer: IncrementalPdfFileWriter, out: Any,
               bytes_reserved: int, provider_code: str, svc: pades.Services) -> None:
    """Append the signature to ``out``; pyHanko's failures as econnector codes: the
    identity, a service (the document waits), or the PDF itself."""
    try:
        svc.run(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=bytes_reserved))
    except (SigningError, OSError, *_PARSE_ERRORS) as e:
        ours = pades.translate(e, provider_code, svc.policy.tsa_url)
        if ours is not None:
            if isinstance(ours, ServiceUnavailable):
                svc.drop_context()  # it cached the failure: ask the services afresh
            raise ours from None
        held = _token_failure(provider_code, e)
        if held is not None:
            raise held from None
        if isinstance(e, SigningError):
            _signing_error(e)
        if isinstance(e, OSError):
            raise
        raise PdfError("pdf-damaged", detail=_short(e)) from None
    except Exception as e:  # a card pulled out: python-pkcs11 raises its own errors
        held = _token_failure(provider_code, e)
        if held is not None:
            raise held from None
        raise


def _token_failure(provider_code: str, e: BaseException) -> IdentityHeld | None:
    """A PKCS#11 failure while signing (the card pulled out, its session gone): the
    identity waits (``token-absent``), and the next job opens the card again."""
    spec = _KEYS.get(provider_code)
    if spec is None or spec.pkcs11 is None:
        return None
    from . import tokens

    held = tokens.token_failure(provider_code, e)
    if held is not None:
        _SIGNERS.pop(provider_code, None)
    return held


def _signing_error(e: SigningError) -> None:
    """pyHanko refused to sign: a certified PDF that forbids changes, or anything else."""
    msg = str(e)
    if any(w in msg.lower() for w in ("forbids all changes", "docmdp", "certif")):
        raise PdfError("pdf-certified-no-changes") from None
    raise PdfError("pdf-signing-failed", detail=_short(e)) from None


# What pyHanko raises on damaged input varies (its own PdfError, but also
# ValueError, KeyError, NotImplementedError for unknown filters, ...). Our own
# EconnectorError subclasses pass through untouched.
_PARSE_ERRORS = (
    HankoPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
    NotImplementedError, AssertionError, UnicodeError, OverflowError, ZeroDivisionError,
)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def serve(parent: int | None = None) -> None:
    """A worker's life (see :mod:`.signer`): identities first, then jobs until the
    end of its input, each answered with its outcome, pickled over the pipes.
    ``parent``: the daemon's pid; the worker never outlives it."""
    global _PARENT
    _PARENT = parent
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the main process stops the workers
    # (end of their input), so they ignore it instead of printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    harden_worker()  # it holds the keys: no core dumps, not dumpable, private umask
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    # Only outcomes go to the parent: stray prints go to stderr, input is empty.
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        keys, policy, memory_mb = pickle.load(inp)
    except (EOFError, pickle.UnpicklingError, ValueError):
        return
    init_worker(keys, policy, memory_mb)
    while True:
        try:
            job = pickle.load(inp)
        except (EOFError, pickle.UnpicklingError):
            return
        pickle.dump(sign_file(job), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
