"""What happened after delivery: asking the vault whether the patient opened a document.

The practice wants to know that a delivered document reached the patient. The vault
answers ``GET /v1/documents/{id}`` with ``opened_at`` (null until the patient first
opens it). A round asks about the delivered documents of the last
``followup.window_days`` the patient has not opened yet, each at most once per
``followup.poll_every_s`` and at most ``followup.max_per_round`` per round, one request
at a time: the vault sees a trickle, never a burst. What it says is kept in the drop's
``followup`` column (:meth:`Store.set_followup`); a document newly seen opened is
handed to ``on_opened`` (its status file is written again).

A vault error ends the round quietly (one warning without patient data): the next
round tries again. A document the vault no longer knows (404) is recorded as checked,
so it does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from .config import Followup as FollowupConfig
from .errors import EconnectorError
from .receipts import iso
from .statestore import Drop, Store
from .statestore import Followup as FollowupRecord
from .vault_client import VaultClient

__all__ = ["Followup", "due_round", "opened_at_of"]

log = structlog.get_logger("econnector.followup")

DAY_S = 86400.0


def due_round(now: float, last_round_at: float | None, every: float) -> bool:
    """Is a round due at ``now``? The first always is; a clock set back makes one due
    at once rather than after the jump (pure)."""
    if last_round_at is None:
        return True
    elapsed = now - last_round_at
    return elapsed >= every or elapsed < 0


def opened_at_of(document: dict[str, object]) -> str | None:
    """The vault's ``opened_at`` if it is an RFC 3339 time, else None (not opened, or a
    vault that does not say; pure)."""
    value = document.get("opened_at")
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


class Followup:
    """Rounds of questions to the vault about delivered documents.

    ``vault`` is the client, or a function giving the current one (the pipeline
    replaces its client when IT changes the CA bundle). ``clock`` is wall-clock
    seconds (the pipeline's). :meth:`tick` starts a round in the background when one
    is due, so a slow vault never delays scanning and delivering; :meth:`round` is
    one round, awaited.
    """

    def __init__(
        self,
        store: Store,
        vault: Callable[[], VaultClient] | VaultClient,
        cfg: FollowupConfig,
        clock: Callable[[], float],
        on_opened: Callable[[Drop], None],
    ) -> None:
        self.store, self.cfg, self.clock, self.on_opened = store, cfg, clock, on_opened
        self._vault: Callable[[], VaultClient] = (
            (lambda: vault) if isinstance(vault, VaultClient) else vault
        )
        self.last_round_at: float | None = None
        self._task: asyncio.Task[int] | None = None

    # -- the rounds --------------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        """Start a round in the background if one is due and none runs; True if started.
        Called from the pipeline's periodic pass."""
        if not self.cfg.enabled or self.running is not None:
            return False
        if not due_round(now, self.last_round_at, self.cfg.poll_every):
            return False
        self.last_round_at = now
        self._task = asyncio.get_running_loop().create_task(self._background(now),
                                                            name="followup-round")
        return True

    @property
    def running(self) -> asyncio.Task[int] | None:
        """The round started by :meth:`tick`, while it runs (tests await it)."""
        task = self._task
        return task if task is not None and not task.done() else None

    async def _background(self, now: float) -> int:
        try:
            return await self.round(now)
        except Exception as e:  # a bug here must not end the daemon; the next round retries
            log.exception("followup-round-failed", error=type(e).__name__)
            return 0

    async def aclose(self) -> None:
        """Stop a round in progress (at shutdown); what it recorded so far stays."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def round(self, now: float) -> int:
        """Ask about the documents due at ``now``, one at a time; how many the vault
        answered for (404 included). Stops at the first vault error."""
        due = self.store.followup_due(
            delivered_after=iso(now - self.cfg.window_days * DAY_S),
            checked_before=now - self.cfg.poll_every,
            limit=self.cfg.max_per_round,
        )
        answered = opened = 0
        for drop in due:
            assert drop.delivery is not None  # followup_due selects delivered rows
            try:
                document = await self._vault().document(drop.delivery["vault_document_id"])
            except EconnectorError as e:
                if e.params.get("status") == 404:
                    self._record(drop, now, None)
                    answered += 1
                    continue
                # Marked as checked too, so one document the vault chokes on does not
                # stand first in every round; the others wait for the next round.
                self._record(drop, now, None)
                log.warning("followup-round-stopped", error=e.code,
                            status=e.params.get("status"), asked=answered + 1, due=len(due))
                break
            answered += 1
            opened_at = opened_at_of(document)
            updated = self._record(drop, now, opened_at)
            if opened_at is not None:
                opened += 1
                self._tell(updated)
        if due:
            log.info("followup-round", due=len(due), answered=answered, opened=opened)
        return answered

    def _record(self, drop: Drop, now: float, opened_at: str | None) -> Drop:
        record: FollowupRecord = {"checked_at": now, "opened_at": opened_at}
        return self.store.set_followup(drop.id, record)

    def _tell(self, drop: Drop) -> None:
        try:
            self.on_opened(drop)
        except Exception as e:  # recorded already; the listener's own failure is its own
            log.exception("followup-listener-failed", drop_id=drop.id, error=type(e).__name__)
