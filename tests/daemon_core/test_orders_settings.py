"""[orders]: how often orders in flight are looked up at the broker (issue #13 A.5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from daemon.settings import ConfigError, load_settings

WriteConfig = Callable[[str], Path]


def test_orders_in_flight_are_looked_up_every_30_seconds_by_default() -> None:
    """Issue #13 A.5: at least every 30 s; a reconciliation every 5 minutes."""
    s = load_settings(None, {})

    assert (s.orders.poll_seconds, s.orders.reconcile_seconds) == (30, 300)


def test_poll_interval_is_read_from_the_file(write_config: WriteConfig) -> None:
    """`[orders] poll_seconds` and `reconcile_seconds` are configurable."""
    s = load_settings(write_config("[orders]\npoll_seconds = 5\nreconcile_seconds = 60\n"), {})

    assert (s.orders.poll_seconds, s.orders.reconcile_seconds) == (5, 60)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[orders]\npoll_seconds = 0\n", "orders.poll_seconds"),
        ("[orders]\npoll_seconds = -1\n", "orders.poll_seconds"),
        ("[orders]\npoll_seconds = inf\n", "orders.poll_seconds"),
        ("[orders]\npoll_seconds = nan\n", "orders.poll_seconds"),
        ("[orders]\npoll_seconds = 301\n", "orders.poll_seconds"),
        ("[orders]\nreconcile_seconds = 0\n", "orders.reconcile_seconds"),
        ("[orders]\nreconcile_seconds = 1e300\n", "orders.reconcile_seconds"),
        ("[orders]\npoll_every = 30\n", "orders.poll_every"),
    ],
)
def test_bad_intervals_are_rejected_naming_the_key(
    write_config: WriteConfig, toml: str, key: str
) -> None:
    """An interval that is not a positive, finite number of seconds within its bound (or an
    unknown key of the section) is an error naming the key: nothing the configuration accepts
    may leave an order unwatched."""
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(toml), {})

    assert key in str(info.value)
