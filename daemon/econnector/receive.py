"""The first step of a claimed drop: validate the pair, detect duplicates, sign.

The sidecar and the PDF are read (on a thread) through descriptors that must
still be the files the claim recorded; the metadata and hashes are committed
before anything else happens. A document whose number was seen before is
refused, replayed (an identical re-drop of a delivered one) or deferred (an
identical one still in flight). Signed bytes left by a crash (or found after
the database was lost) are reused, never signed again: they may be the very
bytes the vault already holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from . import contract, fsio, invoiceqr, safeopen
from .assistants import Grants
from .config import Config
from .crashpoints import reached
from .drops import Drops
from .errors import (
    EconnectorError,
    FileBusy,
    IdentityHeld,
    PdfError,
    Rejected,
    ServiceUnavailable,
    SignatureHeld,
)
from .identities import IDENTITY_HOLDS, Identities
from .patients import OPTED_IN, PatientStatuses
from .receipts import iso
from .schedule import DueQueue
from .signer import (
    DIGEST,
    SIGNATURE_LEVEL,
    SUBFILTER,
    QrStamp,
    SigningPool,
    SignJob,
    SignOutcome,
    read_check,
)
from .states import Event, State
from .statestore import Drop, FileStat, InvoiceQr, PatientStatus, Signature, Store
from .vault_client import idempotency_key

log = structlog.get_logger("econnector.receive")

# assistant-not-authorized's detail, by the grant check's reason (messages/phrases.py
# translates them).
NOT_AUTHORIZED = {
    "missing": "no sender is named (submitted_by)",
    "unknown-assistant": "no assistant with this login is registered for this doctor",
    "revoked": "the assistant's registration was revoked",
    "grant-invalid": "the assistant's registration does not carry the doctor's valid "
                     "signature",
}

# An identical drop still in flight: look again this much later for its outcome.
DUPLICATE_RECHECK = 1.0


class Receiver:
    """Validates and signs received drops."""

    def __init__(self, cfg: Config, store: Store, drops: Drops, ids: Identities,
                 pool: SigningPool, due: DueQueue, *, signed_path: Callable[[Drop], Path],
                 check_validity: Callable[[], None], clock: Callable[[], float],
                 patients: PatientStatuses | None = None,
                 grants: Grants | None = None) -> None:
        self.cfg = cfg
        self.outbox = cfg.folders.outbox
        self.tmp_dir: str | None = None  # the workers' temp files (a node's own folder)
        self.store, self.drops, self.ids, self.pool, self.due = store, drops, ids, pool, due
        self.signed_path = signed_path
        self.check_validity = check_validity  # judge certificates again (now)
        self.clock = clock
        self.patients = patients  # None: no QR codes (unit tests without a vault)
        self.grants = grants  # assistants' grants (assistants.enforce)
        self.sign_sem = asyncio.Semaphore(cfg.signing.workers * 2)

        self.signing_in_flight = 0

    async def receive(self, d: Drop) -> Drop:
        """Validate the pair, detect duplicates, sign; the drop as it ends up (still
        ``received`` when deferred behind an identical duplicate in flight)."""
        if d.meta is None:
            d = await self._validate(d)
            if d.meta is None:
                return d  # refused, or waits to read the files again
        outcome = self._duplicate(d)
        if outcome is not None:
            return outcome
        dst = self.signed_path(d)
        # (A stat of our own private folder; the hashing, when there is anything to
        # hash, runs on a thread.)
        reused = await asyncio.to_thread(_reusable_signed, dst, d.pdf_stat,
                                         d.original_sha256 or "") if dst.exists() else None
        if reused is not None:
            log.info("signed-bytes-reused", drop=d.id)
            signed = reused[0], iso(reused[1])
        else:
            result = await self._sign(d, dst)
            if isinstance(result, Drop):
                return result
            signed = result
        return self._signed(d, *signed)

    async def _validate(self, d: Drop) -> Drop:
        try:
            d = self._record(d, await asyncio.to_thread(self._read_pair, d))
        except Rejected as e:
            return self.drops.reject(d, e)
        except FileNotFoundError as e:
            return self.drops.reject(d, Rejected("drop-withdrawn", name=Path(e.filename).name))
        except PermissionError as e:
            return self.drops.retry_later(d, FileBusy("file-busy",
                                                      detail=e.strerror or "denied"))
        reached("after-validate")
        return d

    def _read_pair(self, d: Drop) -> tuple[contract.DocumentMeta, str, str]:
        """Runs on a thread: the sidecar's metadata and hash, and the original's hash.

        Both files are read through descriptors that must still be the files the
        claim recorded (safeopen): a link, a FIFO or another file is refused.
        """
        side = self.outbox / d.sidecar_name
        pdf = self.outbox / d.pdf_name
        fmt: Any = "json" if d.sidecar_name.lower().endswith(".json") else "yaml"
        limits = self.cfg.limits
        data = safeopen.read_limited(side, limits.max_sidecar_bytes,
                                     safeopen.FileId.from_record(d.sidecar_stat))
        meta = contract.parse_sidecar(
            data, fmt, providers=[i.provider_code for i in self.cfg.identities],
            today=dt.date.today(), max_bytes=limits.max_sidecar_bytes,
        )
        with safeopen.opened(pdf, safeopen.FileId.from_record(d.pdf_stat)) as f:
            size = os.fstat(f.fileno()).st_size
            if size > limits.max_pdf_bytes:
                raise PdfError("pdf-too-large", size=size, limit=limits.max_pdf_bytes)
            original_sha = fsio.sha256_prefix(f, _claimed_size(d.pdf_stat, size) or 0)
        return meta, original_sha, hashlib.sha256(data).hexdigest()

    def _record(self, d: Drop, read: tuple[contract.DocumentMeta, str, str]) -> Drop:
        meta, original_sha, sidecar_sha = read
        canonical = meta.canonical()
        content = hashlib.sha256(
            (original_sha + "\0" + json.dumps(canonical, sort_keys=True)).encode()
        ).hexdigest()
        return self.store.update(
            d.id, self.clock(), meta=canonical, provider_code=meta.provider_code,
            document_id=meta.document_id, doc_key=f"{meta.provider_code}/{meta.document_id}",
            content_hash=content, original_sha256=original_sha,
            language=meta.language or self.cfg.default_language,
            sidecar_stat={**(d.sidecar_stat or {}), "sha256": sidecar_sha},
        )

    def _duplicate(self, d: Drop) -> Drop | None:
        """Another drop of the same document number: refused (other content), replayed
        (identical and delivered) or deferred (identical and in flight); else None."""
        assert d.meta is not None and d.doc_key is not None
        others = [o for o in self.store.by_doc_key(d.doc_key)
                  if o.id != d.id and o.state not in (State.REJECTED, State.PATIENT_OPTED_OUT)]
        if any(not _same_content(o, d) for o in others):
            return self.drops.reject(d, Rejected("duplicate-document-id", value=d.document_id,
                                                 provider=d.provider_code))
        delivered = [o for o in others if o.state is State.DELIVERED and o.finalized_at]
        if delivered:
            return self.drops.replay(d, delivered[0])
        if others:  # an identical drop is still in flight: wait for its outcome
            self.due[d.id] = self.clock() + DUPLICATE_RECHECK
            return d
        return None

    async def _sign(self, d: Drop, dst: Path) -> tuple[str, str] | Drop:
        """Sign in a worker: (hash, time) of the signed bytes, or the drop held,
        retried or refused."""
        pc = d.provider_code or ""
        # Judged now, not only at the last rescan: a certificate that expired a
        # moment ago never signs again.
        self.check_validity()
        held = self.ids.hold_for(pc)
        if held is not None:
            return self.drops.hold(d, held)
        refused = self._not_authorized(d, pc)
        if refused is not None:
            return refused
        qr = await self._qr(d)
        job = SignJob(
            provider_code=pc, src=str(self.outbox / d.pdf_name), dst=str(dst),
            max_pages=self.cfg.limits.max_pages,
            bytes_reserved=self.cfg.signing.bytes_reserved,
            location=self.cfg.signing.location,
            expect=_expect(d.pdf_stat),
            language=d.language or self.cfg.default_language,
            visible=self.cfg.signing.visible,
            qr=qr,
            tmp_dir=self.tmp_dir,
        )
        async with self.sign_sem:
            self.signing_in_flight += 1
            try:
                out = await self.pool.sign(job)
            finally:
                self.signing_in_flight -= 1
        if not out.ok:
            return self._not_signed(d, pc, out)
        # The incremental update must start with exactly the bytes we validated and
        # hashed; if the vendor rewrote the PDF meanwhile, this attempt is void.
        claimed_size = _claimed_size(d.pdf_stat, out.input_size)
        if out.input_size != claimed_size or out.input_sha256 != d.original_sha256:
            dst.unlink(missing_ok=True)
            log.warning("original-changed", drop=d.id)
            return self.drops.reject(d, Rejected("file-replaced", name=d.pdf_name))
        reached("after-sign-before-commit")
        self.ids.used(pc, self.clock())
        return out.sha256, out.signed_at.replace("+00:00", "Z")

    def _not_authorized(self, d: Drop, pc: str) -> Drop | None:
        """With ``assistants.enforce``: the drop refused unless its ``submitted_by`` is
        the doctor or an assistant whose grant the doctor's current certificate signed.
        Judged here, once the identity is unlocked and its certificate known."""
        if not self.cfg.assistants.enforce or self.grants is None or d.meta is None:
            return None
        ident, info = self.cfg.identity(pc), self.ids.unlocked.get(pc)
        sender = d.meta.get("submitted_by")
        verdict = self.grants.check(pc, sender, doctor_login=ident.login if ident else None,
                                    doctor_cert_sha256=info.cert_sha256 if info else "",
                                    now=self.clock())
        if verdict.ok:
            return None
        log.warning("assistant-not-authorized", drop=d.id, reason=verdict.reason)
        return self.drops.reject(d, Rejected(
            "assistant-not-authorized", field="submitted_by", value=sender or "-",
            provider=pc, detail=NOT_AUTHORIZED.get(verdict.reason or "", verdict.reason)))

    async def _qr(self, d: Drop) -> QrStamp | None:
        """The QR code of an invoice whose patient opted in (green, blue); None for
        any other document.

        Whether the code goes on the page must be known before signing. When the
        vault cannot be asked now, the last answer kept decides, however old; for a
        patient never asked, the invoice is signed without a code. Signing does not
        wait for the vault (the doctor's key may be unlocked only now; the delivery
        waits for the vault anyway, and the status asked then decides whether it is
        sent)."""
        q, meta = self.cfg.invoice_qr, d.meta
        if (not q.enabled or self.patients is None or meta is None
                or meta.get("type") != "invoice" or "invoice" not in meta):
            return None
        matricule = meta["patient"]["matricule"]
        try:
            st = await self.patients.status(matricule)
        except EconnectorError as e:
            known = self.patients.last_known(matricule)
            log.warning("patient-status-unavailable", drop=d.id, code=e.code,
                        last_known=known is not None)
            if known is None:
                return None
            st = known
        status: PatientStatus = {"status": st.status, "checked_at": iso(st.checked_at)}
        if st.status not in OPTED_IN:
            self.store.update(d.id, self.clock(), patient_status=status, invoice_qr=None)
            return None
        reference, payload = invoiceqr.from_meta(
            meta, idempotency_key(d.provider_code or "", d.document_id or ""))
        code: InvoiceQr = {"reference": reference, "payload": payload}
        self.store.update(d.id, self.clock(), patient_status=status, invoice_qr=code)
        return QrStamp(payload=payload, caption=reference, page=q.page, x_mm=q.x_mm,
                       y_mm=q.y_mm, size_mm=q.size_mm)

    def _not_signed(self, d: Drop, pc: str, out: SignOutcome) -> Drop:
        """A worker's failed outcome: the document waits (a service, the identity, our
        own check) or is refused (the PDF itself)."""
        code = out.code
        assert code is not None  # a failed outcome always says why
        if code == "identity-locked":
            return self.drops.hold(d, IdentityHeld("identity-locked", provider=pc,
                                                   detail="worker"))
        if code in IDENTITY_HOLDS:
            # Revoked, or the token was pulled: this doctor stops signing until judged again.
            held = IdentityHeld(code, **{**out.params, "provider": pc})
            self.ids.refuse(pc, held, dt.datetime.fromtimestamp(self.clock(), dt.UTC))
            return self.drops.hold(d, held)
        if code == "file-busy":
            return self.drops.retry_later(d, FileBusy("file-busy", **out.params))
        if code in ("tsa-unavailable", "revocation-unavailable"):
            return self.drops.retry_later(d, ServiceUnavailable(code, **out.params))
        if code == "signature-check-failed":
            return self.drops.hold(d, SignatureHeld(code, **out.params))
        return self.drops.reject(d, PdfError(code, **out.params))

    def _signed(self, d: Drop, signed_sha: str, signed_at: str) -> Drop:
        info = self.ids.unlocked.get(d.provider_code or "")
        # What the worker's self-check found, written beside the signed bytes (so
        # bytes reused after a crash keep it); a file from before issue 11 has none.
        level, validation = read_check(self.signed_path(d))
        signature: Signature = {
            "level": level or SIGNATURE_LEVEL, "subfilter": SUBFILTER,
            "signer_subject": info.subject if info else "",
            "certificate_serial": info.serial_hex if info else "", "digest_algorithm": DIGEST,
        }
        if validation:
            signature["validation"] = validation
        extra: dict[str, Any] = {}
        if validation.get("invoice_qr") is False:
            # The worker did not draw the code (the PDF was signed before: a new mark on
            # the page would break that signature): the receipt claims none either.
            extra["invoice_qr"] = None
        # No status write for this event: 'delivering' (or a wait for the vault)
        # follows at once (statusfiles.wants_status).
        d = self.drops.transition(d, Event.SIGNED, signed_sha256=signed_sha,
                                  signature=signature, signed_at=signed_at, reason=None,
                                  message="", **extra)
        reached("after-signed-commit")
        return d


def _same_content(other: Drop, d: Drop) -> bool:
    """Identical documents? Rows rebuilt from receipts only know the original's hash."""
    if other.content_hash is None:
        return other.original_sha256 == d.original_sha256
    return other.content_hash == d.content_hash


def _reusable_signed(
    signed: Path, pdf_stat: FileStat | None, original_sha256: str
) -> tuple[str, float] | None:
    """Runs on a thread: hash and time of signed bytes made before a crash, if they
    are of this original (our signed file, in work/, starts with the original)."""
    try:
        with open(signed, "rb") as f:
            size = _claimed_size(pdf_stat, None)
            if size is not None and fsio.sha256_prefix(f, int(size)) != original_sha256:
                return None
        return fsio.sha256_file(signed), signed.stat().st_mtime
    except FileNotFoundError:
        return None


def _claimed_size(rec: FileStat | None, default: int | None) -> int | None:
    """The size the claim recorded (rows of old versions may not have it)."""
    return rec.get("size", default) if rec else default


def _expect(
    rec: FileStat | None,
) -> tuple[int | None, int | None, int | None, int | None] | None:
    fid = safeopen.FileId.from_record(rec)
    return None if fid is None else (fid.dev, fid.ino, fid.size, fid.mtime_ns)
