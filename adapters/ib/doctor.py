"""`tlh doctor`'s checks that only the IB adapter knows (`adapters.base.SelfChecks`).

Connection to TWS/IB Gateway, the account among the login's managed accounts, whether orders
can leave (read-only vs. what the mode allows), the market-data type, and a reminder to check
that IB's Tax Optimizer default matching method is the one ``[ib] lot_method`` declares: tlh
models that method, and the TWS API cannot tell which one the account uses.
"""

from __future__ import annotations

from adapters.base import BrokerError, CheckResult
from adapters.ib.config import IBConfig
from adapters.ib.connection import Connection
from adapters.ib.settings import IBLotMethod

TAX_OPTIMIZER = "Portal > Performance & Reports > Tax Optimizer"
METHOD_NAMES = {
    IBLotMethod.FIFO: "First In, First Out",
    IBLotMethod.LIFO: "Last In, First Out",
    IBLotMethod.HIFO: "Highest Cost",
    IBLotMethod.MAX_LT_GAIN: "Maximize Long-Term Gain",
    IBLotMethod.MAX_LT_LOSS: "Maximize Long-Term Loss",
    IBLotMethod.MAX_ST_GAIN: "Maximize Short-Term Gain",
    IBLotMethod.MAX_ST_LOSS: "Maximize Short-Term Loss",
    IBLotMethod.SPECIFIC: "Specific Lot",
}


async def self_checks(config: IBConfig, connection: Connection) -> list[CheckResult]:
    """Run the IB checks once and return their results (connected or not)."""
    c = config
    where = f"{c.host}:{c.port} (client id {c.client_id})"
    results = []
    try:
        await connection.ensure()
    except BrokerError as exc:
        results.append(CheckResult("ib connection", False, f"{where}: {exc}"))
    else:
        version = connection.ib.client.serverVersion()
        results.append(CheckResult("ib connection", True, f"{where}, server version {version}"))
    if connection.up:
        accounts = connection.ib.managedAccounts()
        results.append(
            CheckResult(
                "ib account",
                c.account in accounts,
                f"{c.account} {'is' if c.account in accounts else 'is NOT'} among the "
                f"managed accounts ({', '.join(accounts) or 'none'})",
            )
        )
    else:
        results.append(
            CheckResult("ib account", False, f"{c.account}: not checked (no connection)")
        )
    results.append(_orders(c))
    results.append(_market_data(c))
    results.append(_lot_method(c))
    return results


def _orders(c: IBConfig) -> CheckResult:
    if c.orders_allowed:
        return CheckResult(
            "ib orders", True, "orders allowed (the API must not be Read-Only in TWS/Gateway)"
        )
    if c.readonly and not c.orders_allowed:
        return CheckResult(
            "ib orders",
            True,
            "read-only: no order leaves (dry run, live trading not enabled, or [ib] readonly)",
        )
    return CheckResult("ib orders", True, "read-only")


def _market_data(c: IBConfig) -> CheckResult:
    delayed = c.market_data_type.startswith("delayed")
    if delayed and c.live and c.orders_allowed:
        return CheckResult(
            "ib market data",
            False,
            f"{c.market_data_type} (15-20 minutes late) is refused for live trading: "
            'subscribe to live US market data and set [ib] market_data_type = "live"',
        )
    detail = {
        "live": "live (needs a market-data subscription for the watched symbols)",
        "frozen": "frozen (the last live quote outside the session)",
        "delayed": "delayed 15-20 minutes (no subscription needed; not for live trading)",
        "delayed_frozen": "delayed frozen (no subscription needed; not for live trading)",
    }[c.market_data_type]
    return CheckResult("ib market data", True, detail)


def _lot_method(c: IBConfig) -> CheckResult:
    name = METHOD_NAMES[c.lot_method]
    if c.lot_method is IBLotMethod.SPECIFIC:
        detail = (
            f"[ib] lot_method = specific: after each sale, pick the lots tlh prints in the "
            f"Tax Optimizer ({TAX_OPTIMIZER}) before 8:30 PM ET on the trade day"
        )
    else:
        detail = (
            f"[ib] lot_method = {c.lot_method.value}: check that the account's default "
            f'matching method in the Tax Optimizer ({TAX_OPTIMIZER}) is "{name}"; tlh models '
            "that method and cannot read it through the API"
        )
    return CheckResult("ib lot method", True, detail)
