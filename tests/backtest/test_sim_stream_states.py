"""The simulator's one stream as observers see it (`adapters.base.StreamStates`, issue #10 §1
`tlh_stream_connected{stream}`): the replay, connected while events are delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.base import StreamStates
from adapters.sim.broker import SimBroker


async def test_the_replay_is_connected_between_connect_and_close() -> None:
    """`connect` starts the delivery of events, `close` ends it."""
    broker = SimBroker(lambda: datetime(2024, 3, 4, 15, tzinfo=UTC))
    assert isinstance(broker, StreamStates)
    assert broker.stream_states() == {"replay": False}

    await broker.connect(lambda event: None)
    assert broker.stream_states() == {"replay": True}

    await broker.close()
    assert broker.stream_states() == {"replay": False}
