"""Follow-up rounds (followup.py) against the reference vault in process and a real Store.

The vault is the real app (``econnector_vault``) behind ``httpx.ASGITransport`` with its
patient simulator on, and its fault injector in front where a test needs a vault error:
no socket, no process. Delivered rows are made through the store's own API.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from econnector.config import Followup as FollowupConfig
from econnector.followup import Followup, due_round, opened_at_of
from econnector.receipts import iso
from econnector.states import Event
from econnector.statestore import Drop, Store
from econnector.vault_client import VaultClient
from econnector_testsupport.vault import MATRICULE, PROVIDER, metadata, signed_pdf
from econnector_vault import testing as faults
from econnector_vault.app import create_app
from econnector_vault.store import VaultStore

TOKEN = "followup-unit-token-0123456789"
NOW = 1_800_000_000.0  # 2027-01-15
CFG = FollowupConfig(enabled=True, poll_every=600.0, window_days=30, max_per_round=100)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return signed_pdf("follow-up unit test")


@dataclass
class World:
    """The reference vault in process, the daemon's store, and what on_opened heard."""

    vault: VaultStore
    store: Store
    faults: faults.FaultQueue
    transport: httpx.ASGITransport
    pdf: bytes
    heard: list[Drop] = field(default_factory=list)
    _n: int = 0

    def client(self, token: str = TOKEN) -> VaultClient:
        return VaultClient("http://vault.test", token, transport=self.transport)

    def followup(self, cfg: FollowupConfig = CFG, token: str = TOKEN) -> Followup:
        client = self.client(token)
        return Followup(self.store, lambda: client, cfg, clock=lambda: NOW,
                        on_opened=self.heard.append)

    def delivered(self, delivered_at: float = NOW - 3600, vault_document_id: str | None = None
                  ) -> Drop:
        """A document stored in the vault and delivered in the daemon's store."""
        self._n += 1
        if vault_document_id is None:
            receipt = self.vault.submit(metadata(f"fu-{self._n}"), io.BytesIO(self.pdf),
                                        f"followup-unit-key-{self._n:04d}-0123456789")
            vault_document_id = receipt.vault_document_id
        stem = f"inv-{self._n}"
        d = self.store.create(stem, f"{stem}.pdf", f"{stem}.yaml", None, delivered_at - 5)
        self.store.transition(d.id, Event.SIGNED, delivered_at - 4, signed_sha256="ab" * 32)
        self.store.transition(d.id, Event.UPLOAD, delivered_at - 3)
        return self.store.transition(
            d.id, Event.CONFIRMED, delivered_at,
            delivery={"vault_document_id": vault_document_id, "fee_amount": "0.30",
                      "fee_currency": "EUR"},
            delivered_at=iso(delivered_at))

    def open(self, drop: Drop) -> str:
        """The patient opens the document, through the vault's simulator route."""
        assert drop.delivery is not None
        vid = drop.delivery["vault_document_id"]

        async def post() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport,
                                         base_url="http://vault.test") as c:
                return await c.post(f"/v1/simulator/documents/{vid}/open",
                                    headers={"Authorization": f"Bearer {TOKEN}"})

        r = asyncio.run(post())
        assert r.status_code == 200, r.text
        return str(r.json()["opened_at"])

    def followup_of(self, drop: Drop) -> Any:
        return self.store.get(drop.id).followup


@pytest.fixture
def world(tmp_path: Path, pdf: bytes) -> Iterator[World]:
    vault = VaultStore(tmp_path / "vault")
    queue = faults.FaultQueue()
    app = create_app(vault, {TOKEN: {PROVIDER}}, None, simulator=True)
    transport = httpx.ASGITransport(app=faults.FaultInjector(app, queue, {TOKEN}))
    store = Store(tmp_path / "state.sqlite")
    yield World(vault, store, queue, transport, pdf)
    store.close()
    vault.close()


def run_round(fu: Followup, now: float) -> int:
    async def go() -> int:
        return await fu.round(now)

    return asyncio.run(go())


# -- pure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "last", "due"), [
    (NOW, None, True),  # the first round
    (NOW, NOW - 599.9, False),
    (NOW, NOW - 600, True),
    (NOW, NOW - 5000, True),
    (NOW, NOW + 3600, True),  # the clock was set back: not a wait of an hour
])
def test_due_round(now: float, last: float | None, due: bool) -> None:
    assert due_round(now, last, 600.0) is due


@pytest.mark.parametrize(("answer", "opened"), [
    ({"opened_at": "2026-11-25T09:15:02.123Z"}, "2026-11-25T09:15:02.123Z"),
    ({"opened_at": None}, None),
    ({}, None),  # a vault that does not track openings
    ({"opened_at": 17}, None),
    ({"opened_at": "yesterday"}, None),
    ({"opened_at": "2026-11-25T09:15:02Z" + "0" * 80}, None),
])
def test_opened_at_of(answer: dict[str, object], opened: str | None) -> None:
    assert opened_at_of(answer) == opened


# -- rounds ---------------------------------------------------------------------------------------


def test_a_round_records_who_opened_and_tells_once(world: World) -> None:
    a, b, c = world.delivered(), world.delivered(), world.delivered()
    opened_at = world.open(a)

    assert run_round(world.followup(), NOW) == 3
    assert world.followup_of(a) == {"checked_at": NOW, "opened_at": opened_at}
    assert world.followup_of(b) == {"checked_at": NOW, "opened_at": None}
    assert world.followup_of(c) == {"checked_at": NOW, "opened_at": None}
    assert [d.id for d in world.heard] == [a.id]
    assert world.heard[0].followup == {"checked_at": NOW, "opened_at": opened_at}
    assert world.store.opened_count() == 1
    # A follow-up changes no state and no history of the document.
    assert world.store.get(a.id).state == a.state
    assert world.store.get(a.id).updated_at == a.updated_at
    assert len(world.store.history(a.id)) == 4

    # An opened document is never asked about again, nor told twice.
    world.open(b)
    assert run_round(world.followup(), NOW + 601) == 2
    assert world.followup_of(a) == {"checked_at": NOW, "opened_at": opened_at}
    assert world.followup_of(b)["opened_at"] is not None
    assert [d.id for d in world.heard] == [a.id, b.id]
    assert run_round(world.followup(), NOW + 1202) == 1  # c alone
    assert world.store.opened_count() == 2


def test_a_document_checked_recently_is_not_asked_again(world: World) -> None:
    a, b = world.delivered(), world.delivered()
    fu = world.followup()
    assert run_round(fu, NOW) == 2
    world.open(a)
    assert run_round(fu, NOW + 599) == 0  # both checked less than poll_every ago
    assert world.followup_of(a) == {"checked_at": NOW, "opened_at": None}
    assert world.heard == []
    assert run_round(fu, NOW + 601) == 2
    assert world.followup_of(a)["opened_at"] is not None
    assert world.followup_of(b) == {"checked_at": NOW + 601, "opened_at": None}


def test_a_round_asks_at_most_max_per_round_never_asked_first(world: World) -> None:
    drops = [world.delivered(delivered_at=NOW - 3600 + i) for i in range(3)]
    fu = world.followup(FollowupConfig(enabled=True, poll_every=600.0, window_days=30,
                                       max_per_round=2))
    assert run_round(fu, NOW) == 2
    checked = {d.id for d in drops if world.followup_of(d) is not None}
    assert len(checked) == 2
    # The next round, even before poll_every has passed, takes the one never asked.
    assert run_round(fu, NOW + 10) == 1
    assert all(world.followup_of(d) is not None for d in drops)
    left = [d for d in drops if d.id not in checked]
    assert world.followup_of(left[0]) == {"checked_at": NOW + 10, "opened_at": None}


def test_documents_older_than_the_window_are_left_alone(world: World) -> None:
    old = world.delivered(delivered_at=NOW - 31 * 86400)
    recent = world.delivered(delivered_at=NOW - 29 * 86400)
    world.open(old)
    assert run_round(world.followup(), NOW) == 1
    assert world.followup_of(old) is None
    assert world.followup_of(recent) == {"checked_at": NOW, "opened_at": None}


def test_a_document_the_vault_does_not_know_is_checked_and_passed(world: World) -> None:
    unknown = world.delivered(vault_document_id="vd_" + "0" * 32)
    known = world.delivered()
    world.open(known)
    assert run_round(world.followup(), NOW) == 2
    assert world.followup_of(unknown) == {"checked_at": NOW, "opened_at": None}
    assert world.followup_of(known)["opened_at"] is not None
    assert [d.id for d in world.heard] == [known.id]


def test_a_vault_error_ends_the_round_quietly_and_the_next_round_goes_on(world: World
                                                                         ) -> None:
    drops = [world.delivered(delivered_at=NOW - 3600 + i) for i in range(3)]
    for d in drops:
        world.open(d)
    world.faults.add({"kind": "status", "status": 503, "path": "/v1/documents/*",
                      "method": "GET"})
    fu = world.followup()
    with structlog.testing.capture_logs() as logs:
        assert run_round(fu, NOW) == 0
    assert world.faults.applied()["status"] == 1
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["followup-round-stopped"]
    assert warnings[0]["error"] == "vault-unavailable" and warnings[0]["status"] == 503
    assert MATRICULE not in repr(logs)
    # The document the vault choked on counts as checked (it does not stand first in
    # every round); the others were not asked and nothing was told.
    assert sum(world.followup_of(d) is not None for d in drops) == 1
    assert world.heard == []
    assert world.store.opened_count() == 0

    assert run_round(fu, NOW + 5) == 2  # the two not asked yet
    assert run_round(fu, NOW + 700) == 1  # and the one that failed
    assert len(world.heard) == 3 and world.store.opened_count() == 3


def test_a_refused_token_ends_the_round(world: World) -> None:
    a, b = world.delivered(), world.delivered()
    fu = world.followup(token="not-a-token-of-this-vault")
    with structlog.testing.capture_logs() as logs:
        assert run_round(fu, NOW) == 0
    assert [e["error"] for e in logs if e["log_level"] == "warning"] == ["vault-unauthorized"]
    assert sum(world.followup_of(d) is not None for d in (a, b)) == 1


def test_a_failing_listener_does_not_stop_the_round(world: World) -> None:
    a, b = world.delivered(), world.delivered()
    world.open(a)
    world.open(b)
    heard: list[int] = []

    def on_opened(drop: Drop) -> None:
        heard.append(drop.id)
        raise OSError("status file not writable")

    client = world.client()
    fu = Followup(world.store, client, CFG, clock=lambda: NOW, on_opened=on_opened)
    with structlog.testing.capture_logs() as logs:
        assert run_round(fu, NOW) == 2
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "followup-listener-failed"] * 2
    assert sorted(heard) == sorted([a.id, b.id])
    assert world.store.opened_count() == 2


def test_tick_runs_rounds_in_the_background_when_due(world: World) -> None:
    a = world.delivered()
    world.open(a)

    async def scenario() -> list[bool]:
        fu = world.followup()
        started = [fu.tick(NOW)]
        started.append(fu.tick(NOW))  # one runs already
        task = fu.running
        assert task is not None
        assert await task == 1 and fu.running is None
        started.append(fu.tick(NOW + 1))  # not due yet
        started.append(fu.tick(NOW + 600))
        await fu.aclose()
        disabled = Followup(world.store, world.client(),
                            FollowupConfig(enabled=False, poll_every=1.0, window_days=30,
                                           max_per_round=10),
                            clock=lambda: NOW, on_opened=world.heard.append)
        started.append(disabled.tick(NOW))
        return started

    assert asyncio.run(scenario()) == [True, False, False, True, False]
    assert [d.id for d in world.heard] == [a.id]
