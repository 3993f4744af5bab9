"""When each document may run next: a heap with lazy deletion.

A backlog of thousands of documents must not cost O(n) per loop turn: the
dispatcher takes the due ones in (time, drop id) order — the order they were
dropped, among those due — and the loop sleeps until the earliest.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator


class DueQueue:
    def __init__(self) -> None:
        self._when: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []

    def __setitem__(self, drop_id: int, when: float) -> None:
        self._when[drop_id] = when
        heapq.heappush(self._heap, (when, drop_id))

    def __getitem__(self, drop_id: int) -> float:
        return self._when[drop_id]

    def pop(self, drop_id: int, default: float | None = None) -> float | None:
        return self._when.pop(drop_id, default)  # its heap entry goes stale

    def __contains__(self, drop_id: object) -> bool:
        return drop_id in self._when

    def __len__(self) -> int:
        return len(self._when)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._when))

    def _clean(self) -> None:
        while self._heap and self._when.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def next_time(self) -> float | None:
        self._clean()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, limit: int) -> list[int]:
        """Up to ``limit`` documents due at ``now``, earliest (then first dropped) first."""
        out: list[int] = []
        while len(out) < limit:
            self._clean()
            if not self._heap or self._heap[0][0] > now:
                break
            _, drop_id = heapq.heappop(self._heap)
            del self._when[drop_id]
            out.append(drop_id)
        return out
