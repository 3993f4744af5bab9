"""Backoff: capped, exponential, full jitter, Retry-After as a floor."""

from hypothesis import given
from hypothesis import strategies as st

from econnector.backoff import compute_backoff


def test_grows_exponentially_until_the_cap() -> None:
    got = [compute_backoff(a, base=2, cap=60, rand=0.999999) for a in range(1, 8)]
    assert [round(x) for x in got] == [2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_spans_zero_to_ceiling() -> None:
    assert compute_backoff(3, base=2, cap=60, rand=0.0) == 0.0
    assert compute_backoff(3, base=2, cap=60, rand=0.5) == 4.0


def test_retry_after_is_honoured_as_a_floor() -> None:
    assert compute_backoff(1, base=2, cap=60, rand=0.1, retry_after=30) == 30


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=0.999999))
def test_never_exceeds_the_cap(attempts: int, rand: float) -> None:
    assert 0 <= compute_backoff(attempts, base=2, cap=300, rand=rand) <= 300
