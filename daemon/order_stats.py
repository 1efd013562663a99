"""The order manager's counters: orders by side and status, and the order latency histogram.

Both are updated where the order manager acts (a status stored, an order acknowledged), at the
cost of a dictionary increment, and read by the daemon's view (`daemon.daemon_view`) as frozen
values (`daemon.observation.Counters`), so a scrape never touches the database.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate

from daemon.observation import LATENCY_BUCKETS, LatencyHistogram


class Histogram:
    """Observations counted in buckets with inclusive upper bounds (Prometheus' ``le``)."""

    __slots__ = ("_counts", "bounds", "count", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self._counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def snapshot(self) -> LatencyHistogram:
        """Return the cumulative counts at each bound, as observers read them."""
        cumulative = tuple(accumulate(self._counts[:-1]))
        return LatencyHistogram(self.bounds, cumulative, self.count, self.total)


@dataclass(slots=True)
class OrderStats:
    """What the order manager did since the process started."""

    orders: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, status) -> count
    latency: Histogram = field(default_factory=Histogram)  # crossing quote -> acknowledged

    def status(self, side: str, status: str) -> None:
        """Count an intent of `side` ("buy"/"sell") stored in `status`."""
        key = (side, status)
        self.orders[key] = self.orders.get(key, 0) + 1
