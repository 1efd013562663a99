"""`GET /metrics`: the contract names and their values (issue #10 §1), parsed with
prometheus-client's own parser of the text format."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import aiohttp
from observation_kit import CONTRACT_METRICS, contract_type
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from webkit import LATENCIES, LOTS, SNAPSHOT, TODAY, FakeView, harvest, lot

from adapters.web.metrics import SNAPSHOT_MAX_AGE
from adapters.web.server import start_web
from adapters.web.settings import MetricsSettings
from daemon.observation import (
    DECISION_OUTCOMES,
    FRESH_SNAPSHOT_SECONDS,
    ORDER_SIDES,
    ORDER_STATUSES,
    Counters,
)


async def scrape(client: aiohttp.ClientSession) -> list[Sample]:
    """Return every sample of one scrape of `/metrics`."""
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Return the value of the one sample named `name` with exactly `labels`."""
    (found,) = [s.value for s in samples if s.name == name and s.labels == labels]
    return found


def names(samples: list[Sample]) -> set[str]:
    return {s.name for s in samples}


async def test_every_contract_name_is_exposed_with_its_type(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: each name of the contract is in the scrape with the type its name
    promises (prometheus/docs practices/naming.md: `_total` is a counter; the latency is a
    histogram; the rest are gauges), as the parser reads the `# TYPE` lines. The kit's view has
    figures for the optional ones (a quote age and a tracking error)."""
    async with client.get("/metrics") as response:
        text = await response.text()
    types = {
        family.name: family.type for family in text_string_to_metric_families(text)
    }  # the parser names a counter's family without `_total`
    exposed = {
        name: types.get(name.removesuffix("_total") if name.endswith("_total") else name)
        for name in CONTRACT_METRICS
    }
    assert exposed == {name: contract_type(name) for name in CONTRACT_METRICS}


async def test_quotes_are_counted_without_a_symbol_label(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1 allows `tlh_quotes_total` unlabelled when cardinality is a concern (500
    symbols in a direct index); style-anchors §4.4: every label value is a new series."""
    assert value(await scrape(client), "tlh_quotes_total") == 12_345


async def test_decisions_are_counted_by_outcome(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: `tlh_decisions_total{outcome}`, harvest and each skip kind."""
    samples = await scrape(client)
    assert value(samples, "tlh_decisions_total", outcome="harvest") == 3
    assert value(samples, "tlh_decisions_total", outcome="wash") == 7
    assert value(samples, "tlh_decisions_total", outcome="min_loss") == 20


async def test_every_label_series_exists_before_it_first_moves(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """prometheus/docs practices/instrumentation ("avoid missing metrics"): every outcome of
    `DECISION_OUTCOMES` and every side x status of the orders (daemon/observation.py) is 0, not
    absent, so `rate()` and alerts work from the start."""
    view.counters_value = Counters()
    samples = await scrape(client)
    decisions = {s.labels["outcome"]: s.value for s in samples if s.name == "tlh_decisions_total"}
    orders = {
        (s.labels["side"], s.labels["status"]): s.value
        for s in samples
        if s.name == "tlh_orders_total"
    }
    assert decisions == dict.fromkeys(DECISION_OUTCOMES, 0)
    assert orders == dict.fromkeys(itertools.product(ORDER_SIDES, ORDER_STATUSES), 0)


async def test_orders_are_counted_by_side_and_status(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: `tlh_orders_total{side,status}`."""
    samples = await scrape(client)
    assert value(samples, "tlh_orders_total", side="sell", status="filled") == 3
    assert value(samples, "tlh_orders_total", side="sell", status="rejected") == 1
    assert value(samples, "tlh_orders_total", side="buy", status="filled") == 3


async def test_order_latency_is_a_cumulative_histogram(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: `tlh_order_latency_seconds` is a histogram; its buckets count the
    observations at or below each bound, and +Inf counts them all (Prometheus text format)."""
    samples = await scrape(client)
    bucket = "tlh_order_latency_seconds_bucket"
    assert value(samples, bucket, le="0.005") == 1  # 0.004
    assert value(samples, bucket, le="0.025") == 2  # and 0.02
    assert value(samples, bucket, le="10.0") == 3  # and 0.3, not 12.0
    assert value(samples, bucket, le="+Inf") == 4
    assert value(samples, "tlh_order_latency_seconds_count") == 4
    assert value(samples, "tlh_order_latency_seconds_sum") == sum(LATENCIES)


async def test_gauges_read_the_counters(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: in-flight intents, halted symbols, stream state and quote age are gauges of
    the daemon's counters."""
    samples = await scrape(client)
    assert value(samples, "tlh_intents_in_flight") == 1
    assert value(samples, "tlh_halted_symbols") == 2
    assert value(samples, "tlh_stream_connected", stream="quotes") == 1
    assert value(samples, "tlh_stream_connected", stream="trade_updates") == 0
    assert value(samples, "tlh_last_quote_age_seconds") == 1.5
    assert value(samples, "tlh_tracking_error_ratio") == 0.004


async def test_unknown_figures_are_left_out(view: FakeView, client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: `tlh_tracking_error_ratio` only once direct indexing reports one; a quote age
    before the first quote would be made up (prometheus/docs: a missing series, not a fake 0)."""
    view.counters_value = Counters()
    exposed = names(await scrape(client))
    assert "tlh_tracking_error_ratio" not in exposed
    assert "tlh_last_quote_age_seconds" not in exposed


async def test_harvest_totals_cover_the_whole_journal(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: the harvest counters come from the journal, so they count every harvest
    ever made (last year's too) and survive a restart; this year's figures are gauges."""
    samples = await scrape(client)
    assert value(samples, "tlh_harvests_total") == 3
    assert value(samples, "tlh_harvested_loss_dollars_total") == 3000
    assert value(samples, "tlh_estimated_tax_saved_dollars_total") == 900
    assert value(samples, "tlh_harvested_loss_ytd_dollars") == 2000
    assert value(samples, "tlh_estimated_tax_saved_ytd_dollars") == 600
    assert value(samples, "tlh_harvests_today") == 1


async def test_a_later_wash_adjustment_never_lowers_the_dollar_counters(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """prometheus/docs (metric types): a counter only goes up, a fall reads as a reset. When a
    repurchase within 30 days washes part of a harvest's loss (IRC §1091), the journal's loss of
    that harvest falls: the year's gauge follows it, the `_total` counters keep the largest
    loss each harvest was seen with."""
    first = value(await scrape(client), "tlh_harvested_loss_dollars_total")
    washed = tuple(
        replace(h, loss=h.loss - 400, estimated_tax_saved=h.estimated_tax_saved - 120)
        if h.day == TODAY
        else h
        for h in view.snapshot_value.harvests
    )
    view.snapshot_value = replace(view.snapshot_value, harvests=washed)

    samples = await scrape(client)
    assert value(samples, "tlh_harvested_loss_dollars_total") == first == 3000
    assert value(samples, "tlh_estimated_tax_saved_dollars_total") == 900
    assert value(samples, "tlh_harvested_loss_ytd_dollars") == 1600


async def test_portfolio_gauges_read_the_open_lots(client: aiohttp.ClientSession) -> None:
    """Issue #10 §1: open lots and the unrealised loss (positive dollars, lots at a loss only)."""
    samples = await scrape(client)
    assert value(samples, "tlh_open_lots") == 2
    assert value(samples, "tlh_unrealized_loss_dollars") == 2500
    assert value(samples, "tlh_portfolio_value_dollars") == 100_000


async def test_harvest_yield_is_annualised_over_the_year_so_far(
    client: aiohttp.ClientSession,
) -> None:
    """Issue #10 §1 (Wealthfront's harvesting yield), as defined in adapters/web/metrics.py:
    2,000 harvested this year over a 100,000 portfolio on 1 March (day 60 of 365)."""
    assert TODAY.timetuple().tm_yday == 60
    expected = float(Decimal(2000) / Decimal(100_000) * 365 / 60)
    assert value(await scrape(client), "tlh_harvest_yield_ratio") == expected


async def test_harvest_yield_is_absent_while_a_lot_is_unpriced(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §1 (this task's brief): no yield without a portfolio value."""
    view.snapshot_value = replace(SNAPSHOT, open_lots=(*LOTS, lot("VTI", "1000", None)))
    exposed = names(await scrape(client))
    assert "tlh_harvest_yield_ratio" not in exposed
    assert "tlh_portfolio_value_dollars" not in exposed


async def test_each_scrape_reads_a_fresh_snapshot(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §1: a harvest journaled between two scrapes shows in the second."""
    assert value(await scrape(client), "tlh_harvests_total") == 3
    more = (*SNAPSHOT.harvests, harvest(TODAY, "IWM", "250", "75"))
    view.snapshot_value = replace(SNAPSHOT, harvests=more)
    samples = await scrape(client)
    assert value(samples, "tlh_harvests_total") == 4
    assert value(samples, "tlh_harvests_today") == 2


async def test_scrapes_ask_for_a_snapshot_15_s_old_at_most_and_the_page_for_1_s(
    view: FakeView,
) -> None:
    """adapters/web/metrics.py (issue #10 §1, the tick path must not slow down): the snapshot
    walks every open lot, so a scrape accepts the view's one up to `SNAPSHOT_MAX_AGE` old, while
    the page a person reads asks for one at most `FRESH_SNAPSHOT_SECONDS` old; the view holds
    the only cache (daemon/daemon_view.py)."""
    web = await start_web(view, MetricsSettings(), port=0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{web.port}") as session:
            for path in ("/metrics", "/", "/metrics"):
                async with session.get(path) as response:
                    assert response.status == 200
    finally:
        await web.close()
    assert view.max_ages == [SNAPSHOT_MAX_AGE, FRESH_SNAPSHOT_SECONDS, SNAPSHOT_MAX_AGE]
    assert (SNAPSHOT_MAX_AGE, FRESH_SNAPSHOT_SECONDS) == (15, 1)


async def test_a_failed_snapshot_still_serves_the_counters(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §2 spirit: an observer sees what is wrong. A database error while reading the
    snapshot sets `tlh_snapshot_ok` to 0 and leaves the journal's series out, not stale."""
    view.snapshot_error = OSError("database is locked")
    samples = await scrape(client)
    assert value(samples, "tlh_snapshot_ok") == 0
    assert value(samples, "tlh_quotes_total") == 12_345
    assert "tlh_harvests_total" not in names(samples)


async def test_state_and_mode_are_labelled_series(client: aiohttp.ClientSession) -> None:
    """style-anchors §4.4 (an info metric for build/mode): `tlh_info{mode,broker}`, the state as
    a state set (one 0/1 series per state), and the pause switch as 0/1."""
    samples = await scrape(client)
    assert value(samples, "tlh_info", mode="paper", broker="sim") == 1
    assert value(samples, "tlh_state", tlh_state="running") == 1
    assert value(samples, "tlh_state", tlh_state="halted") == 0
    assert value(samples, "tlh_paused") == 0
