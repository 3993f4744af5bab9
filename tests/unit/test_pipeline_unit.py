"""In-process pipeline tests, with fakes at the pipeline's seams (econnector_testsupport.
fakes): a recording inbox writer and listener, a scripted signing pool (the real worker
code, in process, after scripted failures), a vault behind httpx.MockTransport and an
injected clock. The store, the files and the signatures are real; nothing private is
patched."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from econnector import safeopen, signer, signworker
from econnector.config import Config
from econnector.pipeline import Pipeline
from econnector.signer import Policy
from econnector.states import Event, State
from econnector.statestore import Store
from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    inprocess_config,
    make_identity,
    sidecar,
    unique_matricule,
)
from econnector_testsupport.fakes import (
    FakeClock,
    MockVault,
    RecordingInbox,
    RecordingListener,
    ScriptedPool,
    busy,
)
from econnector_testsupport.signing import key_spec
from econnector_testsupport.vault import unsigned_pdf


class Harness:
    """A Pipeline over ``cfg`` with fakes at its seams, run in the test's event loop."""

    def __init__(self, cfg: Config, pool: ScriptedPool | None = None,
                 vault: MockVault | None = None, clock: FakeClock | None = None) -> None:
        self.cfg = cfg
        self.store = Store(cfg.folders.work / "state.sqlite")
        self.pool = pool or ScriptedPool()
        self.vault = vault or MockVault()
        self.clock = clock or FakeClock()
        self.inbox = RecordingInbox.for_config(cfg)
        self.heard = RecordingListener()
        self.pipe = Pipeline(cfg, self.store, self.vault.client(), self.pool,  # type: ignore[arg-type]
                             clock=self.clock.clock, mono=self.clock.mono, inbox=self.inbox,
                             listeners=[self.heard])

    def status(self, stem: str) -> dict[str, Any] | None:
        p = self.cfg.folders.inbox / f"{stem}.status.json"
        return json.loads(p.read_text()) if p.exists() else None

    async def until(self, what: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; heard: {self.heard.heard}")

    async def state(self, stem: str, *states: str) -> dict[str, Any]:
        return await self.until(  # type: ignore[no-any-return]
            lambda: (s := self.status(stem)) and s["state"] in states and s)

    def run(self, scenario: Callable[[Harness], Any]) -> Any:
        async def main() -> Any:
            stop = asyncio.Event()
            runner = asyncio.create_task(self.pipe.run(stop))
            try:
                return await scenario(self)
            finally:
                stop.set()
                await runner
                await self.pipe.drain(0)
                self.pipe.close_io()
                await self.pipe.close_vaults()

        try:
            return asyncio.run(main())
        finally:
            self.store.close()


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return inprocess_config(tmp_path, make_identity(tmp_path / "id"), 0.1, 0.3)


def test_a_locked_file_is_retried_with_backoff_not_rejected(cfg: Config) -> None:
    drop(cfg.folders.outbox, "locked", unsigned_pdf("locked"), sidecar("LOCK-1"))
    h = Harness(cfg, ScriptedPool([busy(), busy(), busy()]))

    async def scenario(h: Harness) -> None:
        await h.state("locked", "delivered", "rejected")

    h.run(scenario)
    statuses = h.inbox.statuses("locked")
    assert statuses[-1]["state"] == "delivered", statuses
    assert h.pool.calls == 4
    waits = [s for s in statuses if s["state"] == "waiting-retry"]
    assert waits and all(s["reason"] == "file-busy" for s in waits)
    assert max(s["attempts"] for s in waits) == 3
    assert not any(s["state"] == "rejected" for s in statuses)
    assert len(h.vault.uploads) == 1


def test_worker_maps_a_permission_error_to_file_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = make_identity(tmp_path / "id")
    signworker._SIGNERS.clear()
    signworker.init_worker([key_spec(ident, PROVIDER)], Policy(), 0)
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("x"))

    def locked_open(*a: Any, **k: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    # The source is opened by descriptor (safeopen): refuse it there, as a lock would.
    monkeypatch.setattr(safeopen, "open_fd", locked_open)
    out = signworker.sign_file(signer.SignJob(PROVIDER, str(src), str(tmp_path / "o.pdf"), 10,
                                              16384, ""))
    assert (out.ok, out.code) == (False, "file-busy")


def test_certificate_validity_is_judged_again_as_time_passes(cfg: Config) -> None:
    """Not yet valid: held, then signed once its day comes; expired while running: the
    next document is held. The pipeline's clock is moved; everything else is real."""
    real = time.time()  # the identity is valid from yesterday for 730 days
    clock = FakeClock(wall=real - 2 * 86400.0)  # the day before yesterday: not valid yet
    h = Harness(cfg, clock=clock)

    async def scenario(h: Harness) -> tuple[dict[str, Any], ...]:
        drop(cfg.folders.outbox, "early", unsigned_pdf("early"), sidecar("EARLY-1"))
        early = await h.state("early", "held")
        clock.set_wall(real)  # its day has come
        delivered = await h.state("early", "delivered")
        clock.set_wall(real + 731 * 86400.0)  # and it ran out while the daemon ran
        drop(cfg.folders.outbox, "late", unsigned_pdf("late"), sidecar("LATE-1"))
        late = await h.state("late", "held")
        return early, delivered, late

    early, delivered, late = h.run(scenario)
    assert early["reason"] == "certificate-not-yet-valid", early
    assert delivered["attempts"] == 1
    assert late["reason"] == "certificate-expired", late
    assert not (cfg.folders.inbox / "late.signed.pdf").exists()


def test_listeners_hear_every_transition_of_a_delivery_in_order(cfg: Config) -> None:
    drop(cfg.folders.outbox, "inv", unsigned_pdf("inv"), sidecar("INV-1"))
    h = Harness(cfg)

    async def scenario(h: Harness) -> None:
        await h.state("inv", "delivered")

    h.run(scenario)
    assert [(x.old, x.event, x.new) for x in h.heard.heard] == [
        (None, Event.CLAIM, State.RECEIVED),
        (State.RECEIVED, Event.SIGNED, State.SIGNED),
        (State.SIGNED, Event.UPLOAD, State.DELIVERING),
        (State.DELIVERING, Event.CONFIRMED, State.DELIVERED),
    ]
    # The status file says 'received', then (a fast upload) only the final 'delivered'.
    assert [s["state"] for s in h.inbox.statuses("inv")] == ["received", "delivered"]
    receipt = json.loads((cfg.folders.inbox / "inv.receipt.json").read_text())
    assert receipt["signed_sha256"] == h.vault.uploads[0].sha256


def test_a_vault_outage_waits_at_the_gate_and_resumes_in_drop_order(cfg: Config) -> None:
    vault = MockVault([503, 503])
    for n in (1, 2, 3):
        drop(cfg.folders.outbox, f"out{n}", unsigned_pdf(f"o{n}"), sidecar(f"OUT-{n}"))
    h = Harness(cfg, vault=vault)

    async def scenario(h: Harness) -> None:
        for n in (1, 2, 3):
            await h.state(f"out{n}", "delivered")

    h.run(scenario)
    waits = [s for n in (1, 2, 3) for s in h.inbox.statuses(f"out{n}")
             if s["state"] == "waiting-retry"]
    assert waits and all(s["reason"] == "vault-unavailable" for s in waits)
    # Two refused probes, then each document once: nothing sent twice.
    keys = [u.key for u in vault.uploads]
    assert len(keys) == 5 and len(set(keys[2:])) == 3
    assert h.pipe.gate.waiting == 0 and h.pipe.claimed_active() == 0


def test_a_patient_who_opted_out_ends_signed_not_sent(cfg: Config) -> None:
    vault = MockVault([(422, {"code": "patient-opted-out"})])
    drop(cfg.folders.outbox, "red", unsigned_pdf("red"), sidecar("RED-1"))
    h = Harness(cfg, vault=vault)

    async def scenario(h: Harness) -> None:
        await h.state("red", "patient-opted-out")

    h.run(scenario)
    inbox = cfg.folders.inbox
    answer = json.loads((inbox / "red.opted-out.json").read_text())
    assert answer["code"] == "patient-opted-out" and (inbox / "red.signed.pdf").exists()
    assert h.heard.path("red")[-1] is State.PATIENT_OPTED_OUT
    assert not (inbox / "red.receipt.json").exists()


def test_a_red_patient_is_signed_not_sent_not_billed(cfg: Config) -> None:
    """The status asked before delivery is red: no upload at all (nothing stored, nothing
    billed); the outcome file says not-sent and names the status."""
    vault = MockVault()
    mat = unique_matricule(7)
    vault.statuses[mat] = "red"
    drop(cfg.folders.outbox, "red", unsigned_pdf("red"), sidecar("RED-2", mat=mat,
                                                                type_="certificate"))
    h = Harness(cfg, vault=vault)

    async def scenario(h: Harness) -> None:
        await h.state("red", "patient-opted-out")

    h.run(scenario)
    inbox = cfg.folders.inbox
    answer = json.loads((inbox / "red.opted-out.json").read_text())
    assert answer["outcome"] == "not-sent" and answer["patient_status"]["status"] == "red"
    assert (inbox / "red.signed.pdf").exists() and not (inbox / "red.receipt.json").exists()
    assert vault.uploads == [] and vault.status_asks == [mat]


def test_a_status_is_asked_once_per_patient_within_its_ttl(cfg: Config) -> None:
    vault = MockVault()
    mat = unique_matricule(8)
    vault.statuses[mat] = "blue"
    for i in range(3):
        drop(cfg.folders.outbox, f"b{i}", unsigned_pdf(f"b{i}"), sidecar(f"BLUE-{i}", mat=mat))
    h = Harness(cfg, vault=vault)

    async def scenario(h: Harness) -> None:
        for i in range(3):
            await h.state(f"b{i}", "delivered")

    h.run(scenario)
    assert vault.status_asks == [mat]  # the cache (patients.status_ttl_s) answered the rest
    receipt = json.loads((cfg.folders.inbox / "b0.receipt.json").read_text())
    assert receipt["patient_status"]["status"] == "blue"
    # The invoice's QR reference is the same in the receipt and the vault's metadata.
    up = next(u for u in vault.uploads if u.metadata["document_id"] == "BLUE-0")
    assert receipt["invoice_qr"]["reference"] == up.metadata["invoice_qr_reference"]


def test_a_status_turned_red_after_caching_ends_not_sent_and_is_remembered(
        cfg: Config) -> None:
    """Cached green, then the vault refuses the upload (422 patient-opted-out): the
    document ends not sent, and the next document of that patient is not even uploaded."""
    vault = MockVault([(422, {"code": "patient-opted-out"})])
    mat = unique_matricule(9)
    drop(cfg.folders.outbox, "first", unsigned_pdf("first"), sidecar("TURN-1", mat=mat))
    h = Harness(cfg, vault=vault)

    async def scenario(h: Harness) -> None:
        await h.state("first", "patient-opted-out")
        drop(cfg.folders.outbox, "second", unsigned_pdf("second"), sidecar("TURN-2", mat=mat))
        await h.state("second", "patient-opted-out")

    h.run(scenario)
    assert [u.metadata["document_id"] for u in vault.uploads] == ["TURN-1"]
    assert vault.status_asks == [mat]
    first = json.loads((cfg.folders.inbox / "first.opted-out.json").read_text())
    assert first["outcome"] == "not-sent" and first["patient_status"]["status"] == "red"


def test_signing_does_not_wait_for_the_status_the_last_known_one_decides_the_qr(
        cfg: Config) -> None:
    """The vault cannot say the status when the invoices are signed: a patient asked
    before (however long ago) gets the QR code that answer calls for; a patient never
    asked gets none. Both are signed at once and delivered (the upload decides)."""
    vault = MockVault()
    known, unknown = unique_matricule(11), unique_matricule(12)
    clock = FakeClock()
    h = Harness(cfg, vault=vault, clock=clock)
    h.store.cache_status(known, "green", clock.clock() - 30 * 86400)  # a month old
    vault.status_down = True
    drop(cfg.folders.outbox, "known", unsigned_pdf("known"), sidecar("KNOWN-1", mat=known))
    drop(cfg.folders.outbox, "unknown", unsigned_pdf("unknown"),
         sidecar("UNKNOWN-1", mat=unknown))

    async def scenario(h: Harness) -> None:
        await h.state("known", "delivered")
        await h.state("unknown", "delivered")

    h.run(scenario)
    inbox = cfg.folders.inbox
    with_code = json.loads((inbox / "known.receipt.json").read_text())
    without = json.loads((inbox / "unknown.receipt.json").read_text())
    assert with_code["invoice_qr"]["payload"].startswith("EC1*")
    assert "invoice_qr" not in without
    assert len(vault.uploads) == 2


def test_an_intake_refusal_is_heard_as_one_reject(cfg: Config) -> None:
    """A pair refused at intake (here a Word file named .pdf) is claimed and rejected
    in one step: the practice never sees it 'received'."""
    drop(cfg.folders.outbox, "word", b"PK\x03\x04 not a pdf" * 10, sidecar("WORD-1"))
    h = Harness(cfg)

    async def scenario(h: Harness) -> None:
        await h.until(lambda: (cfg.folders.inbox / "word.error.json").exists())
        await h.state("word", "rejected")

    h.run(scenario)
    assert [(x.old, x.event) for x in h.heard.heard] == [(State.RECEIVED, Event.REJECT)]
    assert [s["state"] for s in h.inbox.statuses("word")] == ["rejected"]
    assert json.loads((cfg.folders.inbox / "word.error.json").read_text())["code"] == (
        "pdf-not-pdf")
    assert h.pool.calls == 0
