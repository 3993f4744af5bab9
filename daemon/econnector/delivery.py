"""Uploading signed bytes to the vault, and what the vault's answer does to the drop.

The signed bytes were fsynced and their hash committed before the first
upload; every retry sends those same bytes with the same idempotency key, so
the vault stores each document once. A failure that is not the document's
(the vault down, credentials refused, TLS not trusted) closes the vault gate
(:mod:`.vault_gate`), which decides who probes and when; the document's own
verdicts (refused, patient opted out) and successes open it again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from .crashpoints import reached
from .drops import Drops
from .errors import (
    EconnectorError,
    FileBusy,
    PatientOptedOut,
    Rejected,
    SignatureHeld,
    Transient,
    VaultHeld,
)
from .patients import PatientStatuses
from .receipts import iso
from .states import Event
from .statestore import Delivery, Drop, PatientStatus, Store
from .statusfiles import StatusFiles
from .vault_client import VaultClient, idempotency_key
from .vault_gate import GateState, VaultGate, Wake

log = structlog.get_logger("econnector.delivery")


class Deliverer:
    """Uploads drops admitted by the gate and records the vault's answer."""

    def __init__(self, vault: VaultClient, gate: VaultGate, drops: Drops, store: Store,
                 status: StatusFiles, *, concurrency: int, signed_path: Callable[[Drop], Path],
                 clock: Callable[[], float], rng: random.Random,
                 gate_changed: Callable[[], None], schedule: Callable[[Wake], None],
                 patients: PatientStatuses | None = None) -> None:
        self.vault = vault  # replaced when IT replaces the CA bundle
        self.gate, self.drops, self.store, self.status = gate, drops, store, status
        self.sem = asyncio.Semaphore(concurrency)
        self.signed_path = signed_path
        self.clock, self.rng = clock, rng
        self.gate_changed = gate_changed  # the health file shows the gate
        self.schedule = schedule  # make the documents the gate names due
        self.patients = patients  # the digital status that decides a delivery
        # The assistant's name for the drop's submitted_by (their grant), if any.
        self.sender_name: Callable[[Drop], str | None] = lambda d: None

    async def deliver(self, d: Drop) -> Drop:
        """Upload the signed bytes (state ``delivering``, admitted by the gate)."""
        reached("after-delivering-commit")
        assert d.meta is not None and d.provider_code and d.document_id
        # The vault's metadata is the sidecar without its schema marker, plus the
        # hash of the original (the signed file's own hash is in the upload).
        metadata = {k: v for k, v in d.meta.items() if k != "schema"}
        metadata["original_sha256"] = d.original_sha256
        if d.invoice_qr is not None:
            metadata["invoice_qr_reference"] = d.invoice_qr["reference"]
        sender = self.sender_name(d)
        if sender:
            metadata["submitted_by_name"] = sender
        key = idempotency_key(d.provider_code, d.document_id)
        later = self.status.while_uploading(d.id)
        status: PatientStatus | None = None
        try:
            async with self.sem:
                # Asked in the upload's turn, so the uploads keep the order the gate
                # admitted them in (the semaphore is first come, first served).
                status = await self._status(d)
                if status is not None and status["status"] == "red":
                    # Opted out (a status no older than patients.status_ttl_s): signed,
                    # not sent, not billed; staff hand over the printed copy.
                    return self.drops.opted_out(d, patient_status=status)
                res = await self.vault.upload(metadata, self.signed_path(d), key)
        except FileBusy as e:
            self.gate.drop_probe(d.id)
            return self.drops.retry_later(d, e)
        except Transient as e:
            return self._outage(d, e)
        except VaultHeld as e:
            return self._refused_us(d, e)
        except PatientOptedOut:
            # The status turned red since it was cached: keep the vault's word.
            self._answered()
            now = self.clock()
            if self.patients is not None:
                self.patients.record(d.meta["patient"]["matricule"], "red", now)
            return self.drops.opted_out(d, patient_status={"status": "red",
                                                           "checked_at": iso(now)})
        except SignatureHeld as e:  # the vault checked our signature and refused it
            self._answered()
            return self.drops.hold(d, e)
        except Rejected as e:
            self._answered()
            d = self.store.update(d.id, self.clock(), attempts=d.attempts + 1)
            return self.drops.reject(d, e)
        finally:
            later.cancel()
        reached("after-upload-before-commit")
        self._answered()
        delivery: Delivery = {
            "vault_document_id": res.vault_document_id, "received_at": res.received_at,
            "sha256": res.sha256, "fee_amount": res.fee_amount, "fee_currency": res.fee_currency,
            "replayed": res.replayed,
        }
        if res.sha256 != d.signed_sha256:
            log.error("vault-hash-mismatch", drop=d.id)
        extra: dict[str, Any] = {"patient_status": status} if status is not None else {}
        d = self.drops.transition(d, Event.CONFIRMED, delivery=delivery,
                                  attempts=d.attempts + 1, delivered_at=iso(self.clock()),
                                  reason=None, message="", **extra)
        reached("after-confirmed-commit")
        return d

    async def _status(self, d: Drop) -> PatientStatus | None:
        """The patient's digital status for this delivery, or None when it cannot be
        asked now: then the upload itself decides (the vault refuses a red patient's
        document with 422 patient-opted-out, which ends the same way)."""
        if self.patients is None or d.meta is None:
            return None
        try:
            st = await self.patients.status(d.meta["patient"]["matricule"])
        except EconnectorError as e:
            log.info("patient-status-unavailable", drop=d.id, code=e.code)
            return None
        return {"status": st.status, "checked_at": iso(st.checked_at)}

    def _outage(self, d: Drop, e: Transient) -> Drop:
        """The vault is down or overloaded: wait for the gate's next probe."""
        nxt = self.gate.upload_failed(d.id, self.clock(), self.rng.random(), reason=e.code,
                                      message=e.message, retry_after=e.retry_after,
                                      params=e.params)
        log.warning("vault-unavailable", drop=d.id, detail=e.params.get("detail"),
                    failures=self.gate.failures, next_probe_in=round(nxt - self.clock(), 2))
        self.gate_changed()
        d = self.drops.transition(d, Event.RETRY_LATER, reason=e.code,
                                  message=self.drops.text(e.code, e.params, d),
                                  attempts=d.attempts + 1, next_attempt_at=nxt)
        self.schedule(self.gate.probe_wake())
        return d

    def _refused_us(self, d: Drop, e: VaultHeld) -> Drop:
        """Credentials refused, or the vault's certificate does not verify: no document
        can go until IT fixes the token or the CA bundle."""
        tls = e.code == "vault-tls"
        self.gate.upload_failed(d.id, self.clock(), self.rng.random(), reason=e.code,
                                message=e.message, params=e.params,
                                state=GateState.TLS if tls else GateState.UNAUTHORIZED)
        if tls:
            log.error("vault-tls", drop=d.id, detail=e.params.get("detail"),
                      hint="check vault.url and vault.ca_bundle; econnector retries "
                           "when the CA bundle file changes")
        else:
            log.error("vault-unauthorized", drop=d.id, status=e.params.get("status"),
                      hint="check the vault token file; econnector retries when it changes")
        self.gate_changed()
        d = self.drops.transition(d, Event.HOLD, reason=e.code,
                                  message=self.drops.text(e.code, e.params, d),
                                  attempts=d.attempts + 1)
        self.schedule(self.gate.probe_wake())
        return d

    def _answered(self) -> None:
        """The vault answered: if the gate was closed, everyone waiting goes now."""
        wake = self.gate.opened(self.clock())
        if wake is not None:
            log.warning("vault-back", waiting=len(wake.due))
            self.gate_changed()
            self.schedule(wake)
