"""The reconnection backoff: capped, jittered, exponential (issue #10 §3 "reconnect with
backoff"; aiomqtt 2.x has no reconnection of its own, /work/shared/reference/libraries.md §3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.mqtt.publisher import backoff

attempts = st.integers(min_value=1, max_value=10_000)
seconds = st.floats(min_value=0.01, max_value=60)


@given(attempts, seconds, seconds)
def test_the_wait_doubles_up_to_the_cap_plus_jitter(
    attempt: int, initial: float, cap: float
) -> None:
    """Attempt n waits min(cap, initial·2ⁿ⁻¹) plus up to `initial` of jitter: never more than
    the cap and one jitter, however many attempts failed."""
    base = cap if attempt > 64 else min(cap, initial * 2.0 ** (attempt - 1))  # 2⁶³·0.01 > 60

    wait = backoff(attempt, initial, cap)

    assert base <= wait <= base + initial
    assert wait <= cap + initial
