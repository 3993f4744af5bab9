"""Patients' digital status (green, blue, red): asked of the vault, kept for a while.

The vault answers ``GET /v1/patients/{matricule}/digital-status``. The answer is
cached in the state store for ``patients.status_ttl_s``: a status older than that
never decides a delivery (it is asked again first). A red patient's documents are
signed but not sent; an invoice of a green or blue patient carries the QR code.
A 422 ``patient-opted-out`` from an upload means the status turned red since it
was cached: :meth:`PatientStatuses.record` keeps that answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .statestore import Store
from .vault_client import VaultClient

STATUSES = ("green", "blue", "red")
OPTED_IN = frozenset({"green", "blue"})


@dataclass(frozen=True, slots=True)
class Status:
    status: str  # green, blue or red
    checked_at: float  # when the vault said so (wall-clock seconds)
    cached: bool  # from the cache rather than asked just now


def fresh(checked_at: float, now: float, ttl: float) -> bool:
    """May a status asked at ``checked_at`` still decide at ``now``? (``ttl`` 0: never.)
    A time in the future (the clock was set back) is not trusted either. Pure."""
    return 0 <= now - checked_at < ttl


class PatientStatuses:
    """The cache in front of the vault's digital-status answers."""

    def __init__(self, store: Store, vault: Callable[[], VaultClient], ttl: float,
                 clock: Callable[[], float]) -> None:
        self.store, self.vault, self.ttl, self.clock = store, vault, ttl, clock
        self._asking: dict[str, asyncio.Future[Status]] = {}

    def cached(self, matricule: str) -> Status | None:
        """The cached status if it may still decide, else None."""
        hit = self.store.cached_status(matricule)
        if hit is not None and fresh(hit[1], self.clock(), self.ttl):
            return Status(hit[0], hit[1], cached=True)
        return None

    def last_known(self, matricule: str) -> Status | None:
        """The last answer kept, however old (it never decides a delivery: only what
        goes on an invoice signed while the vault cannot be asked)."""
        hit = self.store.cached_status(matricule)
        return Status(hit[0], hit[1], cached=True) if hit is not None else None

    async def status(self, matricule: str) -> Status:
        """The status that decides now; asks the vault when the cache has none fresh.
        Raises the vault client's errors (VaultUnavailable, VaultHeld, ...)."""
        hit = self.cached(matricule)
        if hit is not None:
            return hit
        # One question per patient at a time: documents of one patient signed side by
        # side wait for the same answer instead of asking the vault each.
        asking = self._asking.get(matricule)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(matricule))
            self._asking[matricule] = asking
            asking.add_done_callback(lambda _f: self._asking.pop(matricule, None))
        return await asyncio.shield(asking)

    async def _ask(self, matricule: str) -> Status:
        status = await self.vault().digital_status(matricule)
        now = self.clock()
        self.record(matricule, status, now)
        return Status(status, now, cached=False)

    def record(self, matricule: str, status: str, now: float) -> None:
        """Keep an answer (asked, or learnt from an upload's refusal)."""
        self.store.cache_status(matricule, status, now)
