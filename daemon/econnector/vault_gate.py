"""The vault gate: one outage or authorization state for all documents.

When an upload fails for a reason that is not the document's (the vault is
down, overloaded, refuses our credentials, or cannot prove its identity over
TLS), every other document would fail the same way. So the gate closes: one
document at a time probes the vault on a capped exponential backoff with full
jitter, the others wait, and when a probe gets an answer the gate opens and the
waiting documents go in the order they were dropped. Pure state and decisions;
the pipeline does the I/O.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field
from typing import Any

from .backoff import compute_backoff


class GateState(enum.StrEnum):
    OPEN = "open"
    OUTAGE = "outage"  # transient failures: retry by backoff
    UNAUTHORIZED = "unauthorized"  # 401/403: wait for IT, probe slowly
    TLS = "tls"  # the vault's certificate does not verify: wait for IT, probe slowly


# Closed for a misconfiguration: documents wait ``held`` (reason: the gate's
# code) for IT, not ``waiting-retry``; retrying faster would change nothing.
MISCONFIGURED = frozenset({GateState.UNAUTHORIZED, GateState.TLS})


class Waiters:
    """Documents waiting for the gate, lowest drop id (first dropped) first."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._members: set[int] = set()

    def add(self, drop_id: int) -> None:
        if drop_id not in self._members:
            self._members.add(drop_id)
            heapq.heappush(self._heap, drop_id)

    def discard(self, drop_id: int) -> None:
        self._members.discard(drop_id)  # the heap entry is dropped lazily

    def first(self) -> int | None:
        while self._heap and self._heap[0] not in self._members:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def drain(self) -> list[int]:
        out = sorted(self._members)
        self._heap.clear()
        self._members.clear()
        return out

    def __contains__(self, drop_id: object) -> bool:
        return drop_id in self._members

    def __len__(self) -> int:
        return len(self._members)


@dataclass
class VaultGate:
    base: float
    cap: float
    state: GateState = GateState.OPEN
    failures: int = 0
    next_probe: float = 0.0
    probe: int | None = None
    reason: str | None = None
    message: str = ""  # English, for logs and the health file
    params: dict[str, Any] = field(default_factory=dict)  # to render it in any language
    waiters: Waiters = field(default_factory=Waiters)

    def admit(self, drop_id: int, now: float) -> bool:
        """May this document upload now?

        While the gate is closed only one probe may, and it is the first dropped
        of the waiting documents, so that the queue resumes in drop order.
        """
        if self.state is GateState.OPEN or self.probe == drop_id:
            return True
        self.waiters.add(drop_id)
        if self.probe is None and now >= self.next_probe and self.waiters.first() == drop_id:
            self.probe = drop_id
            self.waiters.discard(drop_id)
            return True
        return False

    def answered(self) -> bool:
        """The vault answered (a success, or a verdict on the document): open the gate.

        Returns True when it was closed.
        """
        was_closed = self.state is not GateState.OPEN
        self.state, self.failures, self.probe = GateState.OPEN, 0, None
        self.reason, self.message, self.params = None, "", {}
        return was_closed

    @property
    def misconfigured(self) -> bool:
        """Closed until IT changes something (token, CA bundle), not by an outage."""
        return self.state in MISCONFIGURED

    def failed(
        self, now: float, rand: float, *, reason: str, message: str,
        retry_after: float | None = None, unauthorized: bool = False,
        state: GateState | None = None, params: dict[str, Any] | None = None,
    ) -> float:
        """Close (or keep closed) after a failure; returns the next probe time.

        ``state`` says why (default: an outage; ``unauthorized=True`` is
        :attr:`GateState.UNAUTHORIZED`)."""
        self.failures += 1
        delay = compute_backoff(self.failures, base=self.base, cap=self.cap, rand=rand,
                                retry_after=retry_after)
        if state is None:
            state = GateState.UNAUTHORIZED if unauthorized else GateState.OUTAGE
        if state in MISCONFIGURED:
            # Nothing changes until IT fixes the token or the CA bundle; the
            # pipeline probes at once when one of those files changes.
            delay = max(delay, self.cap)
        self.state = state
        self.reason, self.message, self.params = reason, message, dict(params or {})
        self.next_probe = now + delay
        self.probe = None
        return self.next_probe

    def drop_probe(self, drop_id: int) -> None:
        """The probing document ended without asking the vault (e.g. shutdown)."""
        if self.probe == drop_id:
            self.probe = None

    def probe_now(self, now: float) -> None:
        if self.state is not GateState.OPEN:
            self.next_probe = now
