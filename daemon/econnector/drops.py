"""Changing a drop: every transition goes through :class:`Drops`.

The store commits the transition (validated by the pure table in
:mod:`.states`), then the listeners hear it (:mod:`.listeners`; the status
files first). The verbs the steps use (reject, hold, retry later, replay,
opted out) carry their staff message, rendered in the drop's language.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from . import names
from .backoff import compute_backoff
from .codes import as_code
from .crashpoints import reached
from .errors import EconnectorError, Held, PatientOptedOut, Transient, render
from .listeners import Listeners
from .schedule import DueQueue
from .states import Event
from .statestore import Drop, Store
from .vault_client import idempotency_key

log = structlog.get_logger("econnector.drops")


def signed_path(signed_dir: Path, d: Drop) -> Path:
    """Where the signed bytes of this document live until they are archived.

    Named by the idempotency key, not the drop: if the database is lost, a
    re-claimed drop finds the bytes it signed (and perhaps uploaded) before.
    """
    assert d.provider_code and d.document_id
    return signed_dir / f"{idempotency_key(d.provider_code, d.document_id)}.pdf"


class Drops:
    """Transitions and the verbs built on them, for the pipeline and its steps."""

    def __init__(self, store: Store, listeners: Listeners, due: DueQueue, *,
                 clock: Callable[[], float], default_language: str,
                 retry_base: float, retry_cap: float, rng: random.Random) -> None:
        self.store = store
        self.listeners = listeners
        self.due = due
        self.clock = clock
        self.default_language = default_language
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self.rng = rng

    def transition(self, d: Drop, event: Event, **fields: Any) -> Drop:
        """Commit ``event`` with ``fields``, then tell the listeners."""
        old = self.store.get(d.id).state
        d = self.store.transition(d.id, event, self.clock(), **fields)
        self.listeners.notify(d, old, event)
        return d

    def claimed(self, d: Drop) -> None:
        """A new drop row: the listeners hear its claim."""
        self.listeners.notify(d, None, Event.CLAIM)

    def text(self, code: str | None, params: dict[str, Any], d: Drop) -> str:
        """A status message in the staff's language (the drop's, else the default)."""
        return render(as_code(code or "internal-error"), params,
                      d.language or self.default_language)[0]

    def retry_later(self, d: Drop, e: EconnectorError, floor: float = 0.0) -> Drop:
        attempts = d.attempts + 1
        retry_after = e.retry_after if isinstance(e, Transient) else None
        delay = max(floor, compute_backoff(attempts, base=self.retry_base, cap=self.retry_cap,
                                           rand=self.rng.random(), retry_after=retry_after))
        nxt = self.clock() + delay
        log.warning("retry-later", drop=d.id, code=e.code, attempts=attempts,
                    delay=round(delay, 2))
        d = self.transition(d, Event.RETRY_LATER, reason=e.code, message=self.text(
            e.code, e.params, d), attempts=attempts, next_attempt_at=nxt)
        self.due[d.id] = nxt
        return d

    def hold(self, d: Drop, e: Held) -> Drop:
        log.warning("held", drop=d.id, code=e.code)
        return self.transition(d, Event.HOLD, reason=e.code, message=self.text(
            e.code, e.params, d))

    def reject(self, d: Drop, e: EconnectorError) -> Drop:
        log.info("rejected", drop=d.id, stem=names.ref(d.stem), code=e.code, field=e.field)
        # The staff's language: the sidecar's, even from a sidecar refused for another
        # field (SidecarError.language), else the configured default.
        lang = d.language or getattr(e, "language", None) or self.default_language
        message, _ = render(as_code(e.code), e.params, lang)
        d = self.transition(d, Event.REJECT, error=e.as_dict(), reason=e.code,
                            message=message, language=lang)
        reached("after-reject-commit")
        return d

    def replay(self, d: Drop, first: Drop) -> Drop:
        """An identical re-drop of a delivered document: same receipt, nothing sent."""
        log.info("duplicate-replayed", drop=d.id, of=first.id)
        return self.transition(
            d, Event.REPLAYED, duplicate_of=first.id, signed_sha256=first.signed_sha256,
            signature=first.signature, signed_at=first.signed_at, delivery=first.delivery,
            delivered_at=first.delivered_at, signed_archive=first.signed_archive,
            receipt=first.receipt,
        )

    def opted_out(self, d: Drop, **fields: Any) -> Drop:
        """The patient opted out of the vault: final, and not an error (there is nothing
        to correct, and resending could never succeed). Nothing was stored or billed;
        staff print the signed PDF, which goes to the inbox, and hand it over."""
        e = PatientOptedOut("patient-opted-out", signed=f"{d.stem}.signed.pdf")
        log.info("patient-opted-out", drop=d.id, stem=names.ref(d.stem))
        d = self.transition(d, Event.OPTED_OUT, reason=e.code,
                            message=self.text(e.code, e.params, d), attempts=d.attempts + 1,
                            **fields)
        reached("after-opted-out-commit")
        return d
