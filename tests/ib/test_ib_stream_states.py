"""The IB adapter's connections as observers see them (`adapters.base.StreamStates`, issue #10
§1 `tlh_stream_connected{stream}`): the API connection to TWS / IB Gateway ("tws") and TWS's
link to IB's servers ("ib-servers", lost on error 1100, restored on 1102), from what the
adapter's connection already tracks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fake_tws import FakeTWS
from ibkit import Events, until

from adapters.base import StreamStates
from adapters.ib.broker import IBBroker

pytestmark = pytest.mark.timeout(30)


async def test_down_before_connecting(brokers: Callable[..., IBBroker]) -> None:
    """A new adapter has no connection yet."""
    broker = brokers()

    assert isinstance(broker, StreamStates)
    assert broker.stream_states() == {"tws": False, "ib-servers": False}


async def test_up_when_connected_and_down_when_tws_goes_away(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Connected: both up; TWS gone: both down."""
    broker, _ = connected
    assert broker.stream_states() == {"tws": True, "ib-servers": True}

    await tws.go_down()
    await until(lambda: not broker.connection.up)

    assert broker.stream_states() == {"tws": False, "ib-servers": False}
    await tws.come_up()
    await until(lambda: broker.stream_states() == {"tws": True, "ib-servers": True})


async def test_the_link_to_ib_is_its_own_stream(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """1100: TWS is connected, its link to IB is not."""
    broker, _ = connected

    await tws.lose_connectivity()
    await until(lambda: not broker.connection.linked)

    assert broker.stream_states() == {"tws": True, "ib-servers": False}
