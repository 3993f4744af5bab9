"""Retry timing: capped exponential backoff with full jitter, as a pure function.

Full jitter (AWS architecture blog, dramatiq's ``compute_backoff``) spreads the
retries of many documents after an outage so they do not hit the vault in step.
"""

from __future__ import annotations


def compute_backoff(
    attempts: int, *, base: float, cap: float, rand: float, retry_after: float | None = None
) -> float:
    """Seconds to wait before attempt ``attempts + 1``.

    ``rand`` is a uniform number in [0, 1) supplied by the caller (tests pass
    fixed values). A server's ``Retry-After`` is honoured as a lower bound.
    """
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = ceiling * rand
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap * 4))
    return delay
