"""Quote sanity filter: malformed quotes rejected, lone spikes rejected, real gaps accepted.

Rules are those of the brief (strategies/price_sanity.py module docstring).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.price_sanity import QuoteSanity, Reason, Verdict

T0 = datetime(2016, 1, 20, 14, 30, tzinfo=UTC)
SEC = timedelta(seconds=1)
N = 3  # hold_after_suspect


def sanity(**kwargs: object) -> QuoteSanity:
    args: dict[str, object] = {
        "band_pct": Decimal("0.05"),
        "stale_after": timedelta(seconds=30),
        "hold_after_suspect": N,
    }
    args.update(kwargs)
    return QuoteSanity(**args)  # type: ignore[arg-type]


def feed(q: QuoteSanity, mids: list[str], *, symbol: str = "XOM", start: int = 0) -> list[Verdict]:
    """Quote each mid as bid = mid - 0.01, ask = mid + 0.01, one second apart."""
    out = []
    for k, mid in enumerate(mids):
        m = Decimal(mid)
        at = T0 + (start + k) * SEC
        out.append(q.check(symbol, m - Decimal("0.01"), m + Decimal("0.01"), at))
    return out


def seeded(price: str = "80.00") -> QuoteSanity:
    q = sanity()
    q.seed("XOM", Decimal(price), T0 - SEC)
    return q


@pytest.mark.parametrize(
    ("bid", "ask", "reason"),
    [
        (Decimal("80.02"), Decimal("80.00"), Reason.CROSSED),
        (Decimal("0"), Decimal("80.00"), Reason.ZERO),
        (Decimal("80.00"), Decimal("0.00"), Reason.ZERO),
        (Decimal("-1"), Decimal("80.00"), Reason.NEGATIVE),
        (Decimal("NaN"), Decimal("80.00"), Reason.NAN),
        (float("nan"), 80.0, Reason.NAN),
        (79.99, float("inf"), Reason.NAN),
        (Decimal("sNaN"), Decimal("80.00"), Reason.NAN),
    ],
)
def test_malformed_quote_is_rejected_and_leaves_state_alone(
    bid: Decimal | float, ask: Decimal | float, reason: Reason
) -> None:
    """Brief: crossed, zero, negative and NaN quotes are rejected (a NaN is never compared);
    the reference and the hold state do not change."""
    q = seeded()
    verdict = q.check("XOM", bid, ask, T0)
    assert verdict.reason is reason
    assert not verdict.ok
    assert not verdict.tradable
    assert q.reference("XOM") == Decimal("80.00")
    assert not q.is_held("XOM")


def test_locked_quote_is_accepted() -> None:
    """bid == ask (locked market) is not crossed."""
    assert seeded().check("XOM", Decimal("80"), Decimal("80"), T0).tradable


def test_stale_quote_is_rejected() -> None:
    """Brief: a quote older than stale_after is rejected, judged against `now` when given or
    else against the newest quote time seen; so is one older than the last accepted quote."""
    q = seeded()
    assert q.check("XOM", Decimal("79.99"), Decimal("80.01"), T0).tradable
    old = T0 - timedelta(seconds=31)
    assert q.check("XOM", Decimal("79.99"), Decimal("80.01"), old).reason is Reason.STALE
    assert q.check("CVX", Decimal("99"), Decimal("100"), old).reason is Reason.STALE  # stream clock
    later = T0 + timedelta(minutes=5)
    assert q.check("CVX", Decimal("99"), Decimal("100"), T0, now=later).reason is Reason.STALE
    assert q.check("XOM", Decimal("79"), Decimal("81"), T0 - SEC, now=T0).reason is Reason.STALE


def test_is_held_when_no_fresh_quote() -> None:
    """is_held(symbol, now): with no accepted quote within stale_after the symbol is held."""
    q = seeded()
    q.check("XOM", Decimal("79.99"), Decimal("80.01"), T0)
    assert not q.is_held("XOM", now=T0 + timedelta(seconds=30))
    assert q.is_held("XOM", now=T0 + timedelta(seconds=31))
    assert q.is_held("NEVER-SEEN")


def test_single_spike_is_rejected_and_never_trusted() -> None:
    """Brief: a lone tick outside ±band is rejected and the symbol held until N good ticks at
    the old level confirm it; the spike never enters the reference."""
    q = seeded()
    verdicts = feed(q, ["80.00", "80.05", "60.00", "80.02", "79.98", "80.01", "80.03"])
    assert [v.reason for v in verdicts] == [Reason.OK, Reason.OK, Reason.OUTLIER] + [Reason.OK] * 4
    assert [v.held for v in verdicts] == [False, False, True, True, True, False, False]
    assert verdicts[2].reference == Decimal("80.00")
    assert all(v.reference is not None and v.reference > 79 for v in verdicts)


def test_confirmed_gap_is_accepted_after_n_ticks() -> None:
    """Brief: a genuine gap down confirmed by N further ticks becomes the new reference on the
    N-th confirming tick; until then it is an outlier and the symbol is held."""
    q = seeded()
    verdicts = feed(q, ["80.00", "64.00", "64.10", "63.90", "64.05", "64.20"])
    assert [v.reason for v in verdicts] == [
        Reason.OK,
        Reason.OUTLIER,
        Reason.OUTLIER,
        Reason.OUTLIER,
        Reason.OK,
        Reason.OK,
    ]
    assert [v.tradable for v in verdicts] == [True, False, False, False, True, True]
    assert verdicts[4].reference == Decimal("64.025")  # median of 64.00 64.10 63.90 64.05
    assert not q.is_held("XOM")


def test_gap_interrupted_by_a_different_level_restarts_the_count() -> None:
    """Confirmation needs consecutive agreeing ticks: a tick at a third level restarts it."""
    q = seeded()
    verdicts = feed(q, ["64.00", "64.10", "50.00", "64.00", "64.00", "64.00", "64.00"])
    assert [v.reason for v in verdicts[:6]] == [Reason.OUTLIER] * 6
    assert verdicts[6].reason is Reason.OK
    assert verdicts[6].tradable


def test_float_fast_path_decides_like_decimal() -> None:
    """Floats are accepted and converted through their shortest repr, so 0.1-style binary
    noise does not move a decision at the band edge: 84.00 is exactly +5 % of 80.00."""
    q_float = seeded()
    q_dec = seeded()
    vf = q_float.check("XOM", 83.99, 84.01, T0)
    vd = q_dec.check("XOM", Decimal("83.99"), Decimal("84.01"), T0)
    assert vf == vd
    assert vf.mid == Decimal("84.00")
    assert vf.tradable


def test_unseeded_symbol_is_held_until_its_level_is_established() -> None:
    """A symbol never seen has no trusted level: its first N+1 consistent ticks establish it,
    held meanwhile (seed() skips the warm-up)."""
    q = sanity()
    verdicts = feed(q, ["10.00", "10.01", "10.02", "10.00", "10.01"])
    assert [v.reason for v in verdicts] == [Reason.OK] * 5
    assert [v.held for v in verdicts] == [True, True, True, False, False]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"band_pct": Decimal(0)},
        {"band_pct": Decimal(1)},
        {"band_pct": Decimal(5)},  # 5 % is written 0.05
        {"band_pct": 0.05},
        {"stale_after": timedelta(0)},
        {"hold_after_suspect": -1},
        {"window": 0},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    """band_pct is a Decimal fraction in (0, 1), as tlh's other *_pct settings (0.05 = 5 %);
    the other settings must be positive."""
    with pytest.raises(ValueError):  # noqa: PT011 - several messages
        sanity(**kwargs)


prices = st.decimals(min_value="0.01", max_value="100000", places=2)


@settings(max_examples=200, deadline=None)
@given(
    price=prices,
    ticks=st.integers(min_value=1, max_value=40),
    hold=st.integers(min_value=0, max_value=6),
)
def test_constant_series_is_never_rejected_nor_held_after_warm_up(
    price: Decimal, ticks: int, hold: int
) -> None:
    """Property: a constant quote stream is always accepted, and held only during the warm-up
    of an unseeded symbol (its first `hold` ticks); a seeded symbol is never held."""
    fresh = sanity(hold_after_suspect=hold)
    warm = sanity(hold_after_suspect=hold)
    warm.seed("S", price, T0 - SEC)
    for k in range(ticks):
        at = T0 + k * SEC
        v_fresh = fresh.check("S", price, price, at)
        v_warm = warm.check("S", price, price, at)
        assert v_fresh.reason is Reason.OK
        assert v_warm.reason is Reason.OK
        assert v_fresh.held == (k < hold)
        assert not v_warm.held


@settings(max_examples=200, deadline=None)
@given(
    price=st.decimals(min_value="1", max_value="10000", places=2),
    factor=st.sampled_from([Decimal("0.5"), Decimal("0.8"), Decimal("1.2"), Decimal(3)]),
    before=st.integers(min_value=0, max_value=5),
    after=st.integers(min_value=0, max_value=8),
)
def test_lone_spike_never_becomes_tradable(
    price: Decimal, factor: Decimal, before: int, after: int
) -> None:
    """Property: in an otherwise constant seeded stream one spike beyond the band is rejected,
    and no tick at the spike level is ever tradable or enters the reference."""
    q = sanity()
    q.seed("S", price, T0 - SEC)
    series = [price] * before + [price * factor] + [price] * after
    for k, mid in enumerate(series):
        v = q.check("S", mid, mid, T0 + k * SEC)
        if mid != price:
            assert v.reason is Reason.OUTLIER
            assert not v.tradable
        assert q.reference("S") == price
