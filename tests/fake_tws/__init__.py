"""A protocol-level fake TWS / IB Gateway for tests that drive the real, unmodified ib_async.

Public API (stable; other branches build on it):

* ``FakeTWS(symbols=(), accounts=("DU1234567",), greeting_codes=(2104, 2106, 2158),
  exec_zone="US/Eastern")``: async context manager listening on a free ``127.0.0.1`` port at
  server version 178 (``wire.SERVER_VERSION``). Connect with
  ``IB().connectAsync(tws.host, tws.port, clientId=N)``.
* Set-up: ``add_contract(symbol, con_id=None, **fields)``, ``con_id(symbol)``,
  ``set_position(symbol, qty, avg_cost, account=None)``, ``set_fill_policy(FillPolicy(...),
  symbol=None)``, ``set_time(dt | None)``, ``set_market_data_entitled(bool)``,
  ``set_read_only_api(bool)``,
  ``add_execution(symbol, side, shares, price, moment=..., order_ref="")``.
* ``FillPolicy(mode="fill"|"partial"|"hold"|"reject"|"marketable", price="limit"|"quote",
  partial_qty=1, reject_code=201, reject_reason=..., commission_per_share=0.005,
  commission_min=1.00, exchange="ISLAND")`` decides how ``placeOrder`` is answered.
* Market data (streaming and snapshot ``reqMktData``):
  ``await publish_quote(symbol, bid, ask, bid_size=100, ask_size=100)``;
  bulk: ``await publish_ticks([QuoteTick(symbol, bid, ask, bid_size, ask_size), ...])`` writes
  every tick of the batch in one write per connection; ``encode_ticks(ticks, client_id)`` +
  ``await send_bytes(data, client_id)`` pre-encode for benchmarks.
* Orders: ``await fill(order_or_ref_or_id, qty=None, price=None)``, ``await cancel(order)``;
  inspection: ``orders``, ``order(ref_or_permid_or_orderid)``, ``executions``,
  ``positions(account=None)``, ``requests``, ``requests_named(name)``, ``subscribed_symbols()``,
  ``connected_clients()``, ``is_up``, ``now()``, ``state`` (``TWSState``). ``FakeOrder.status``
  is TWS's: Submitted, Filled, Cancelled, Inactive (rejected).
* Faults: ``await lose_connectivity()`` (1100: ticks pause), ``await restore_connectivity(
  data_lost=False)`` (1102; 1101 with ``data_lost=True`` drops market-data and account
  subscriptions), ``await send_error(code, message=None, req_id=-1)`` (any code, no effect),
  ``await send_fields(*fields)`` / ``await send_bytes(data)`` for malformed messages,
  ``await drop_connections()``, ``await go_down()`` / ``await come_up()`` (refused while down),
  ``await restart(down_for)``; a second connection with a clientId in use gets error 326.
* ``on_request``: an optional callable given each ``RequestRecord`` as it is read, before it is
  handled (``RequestRecord.at`` is ``time.perf_counter()`` at arrival).
* Waiting: ``await wait_until(predicate)``, ``await wait_for_request(name, count=1)``,
  ``await wait_for_clients(count=1)``, ``await wait_for_subscription(symbol)``.

Helpers in ``scenarios``: ``connected(tws, client_id=1, on_error=None)`` (async context manager
yielding a connected real ``IB()``), ``expect(event, predicate)`` (future of the first matching
emission of an ib_async event), ``within(future, seconds=5)``, ``qualify(ib, *symbols)``,
``streaming(ib, tws, symbol)`` (a subscribed ``Ticker``), ``quoted(ib, tws, ticker, bid, ask)``.

Note for many subscriptions: ib_async throttles its own requests to 45 per second
(``ib.client.MaxRequests``), so subscribing 500 symbols takes about 20 s unless a benchmark sets
``ib.client.MaxRequests = 0``; the fake does not enforce TWS's 50 messages/s pacing.

See ``server`` for the protocol behaviour and its sources, ``wire`` for the field layouts.
"""

from .server import FakeTWS, Session
from .state import (
    DEFAULT_ACCOUNT,
    ERROR_TEXTS,
    FakeExecution,
    FakeOrder,
    FillPolicy,
    Instrument,
    Position,
    QuoteTick,
    RequestRecord,
    TWSState,
)
from .wire import SERVER_VERSION

__all__ = [
    "DEFAULT_ACCOUNT",
    "ERROR_TEXTS",
    "SERVER_VERSION",
    "FakeExecution",
    "FakeOrder",
    "FakeTWS",
    "FillPolicy",
    "Instrument",
    "Position",
    "QuoteTick",
    "RequestRecord",
    "Session",
    "TWSState",
]
