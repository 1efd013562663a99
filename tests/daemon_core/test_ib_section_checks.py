"""`[ib]` against the rest of the configuration: the checks daemon.settings keeps for it, and
what `tlh config check` shows of it.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import daemon.cli
import daemon.cli.config  # registers `tlh config`
import daemon.settings
from daemon.settings import ConfigError, load_settings

FLEX_TOKEN = "381726354918273645102938"


def _error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    return str(info.value)


def test_ib_is_an_available_broker() -> None:
    """Issue #9: `broker = "ib"` works end to end, so the configuration accepts it."""
    s = load_settings(None, {"TLH_BROKER": "ib", "TLH_IB__ACCOUNT": "DU1234567"})

    assert (s.broker, s.ib.account, s.ib.port) == ("ib", "DU1234567", 4002)


def test_the_ib_broker_needs_an_account() -> None:
    """Issue #9 §2: `[ib] account` names the account to trade; without it, the error names
    the key and how to set it."""
    message = _error({"TLH_BROKER": "ib", "TLH_MODE": "paper"})

    assert message == (
        'configuration: ib.account: is required when broker is "ib" (the IB account code, '
        "e.g. DU1234567; set TLH_IB__ACCOUNT)"
    )


@pytest.mark.parametrize("data_type", ["delayed", "frozen", "delayed_frozen"])
def test_live_mode_needs_live_market_data(data_type: str) -> None:
    """Issue #9 §2 and `adapters/ib/settings.py`: delayed data is refused for trading in mode
    live; the error names the key and the value."""
    message = _error(
        {
            "TLH_BROKER": "ib",
            "TLH_MODE": "live",
            "TLH_LIVE_TRADING_ENABLED": "true",
            "TLH_IB__ACCOUNT": "U1234567",
            "TLH_IB__MARKET_DATA_TYPE": data_type,
        }
    )

    assert f'ib.market_data_type: must be "live" in mode "live" (got "{data_type}")' in message


@pytest.mark.parametrize("mode", ["dry_run", "paper"])
def test_delayed_market_data_is_accepted_without_real_orders(mode: str) -> None:
    """`adapters/ib/settings.py`: delayed data works without a subscription, and is refused
    only for trading in mode live."""
    s = load_settings(
        None,
        {
            "TLH_BROKER": "ib",
            "TLH_MODE": mode,
            "TLH_IB__ACCOUNT": "DU1234567",
            "TLH_IB__MARKET_DATA_TYPE": "delayed",
        },
    )

    assert (s.broker, s.ib.account, s.ib.market_data_type) == ("ib", "DU1234567", "delayed")


def test_a_live_ib_configuration_loads() -> None:
    """The live configuration with an account and live data is valid."""
    s = load_settings(
        None,
        {
            "TLH_BROKER": "ib",
            "TLH_MODE": "live",
            "TLH_LIVE_TRADING_ENABLED": "true",
            "TLH_IB__ACCOUNT": "U1234567",
            "TLH_IB__PORT": "4001",
        },
    )

    assert (s.mode, s.ib.account, s.ib.port, s.ib.market_data_type) == (
        "live",
        "U1234567",
        4001,
        "live",
    )


def test_config_check_shows_the_ib_connection_and_hides_the_flex_token() -> None:
    """`tlh config check` with broker ib names where it connects, the account, the access, the
    market-data type and the lot method, as it does Alpaca's endpoint; the Flex token (a
    secret) shows as ***."""
    env = {
        "TLH_BROKER": "ib",
        "TLH_MODE": "paper",
        "TLH_IB__ACCOUNT": "DU1234567",
        "TLH_IB__PORT": "7497",
        "TLH_IB__CLIENT_ID": "5",
        "TLH_IB__MARKET_DATA_TYPE": "delayed",
        "TLH_IB__LOT_METHOD": "hifo",
        "TLH_HARVEST__LOT_METHOD": "hifo",
        "TLH_IB__FLEX_TOKEN": FLEX_TOKEN,
    }

    result = CliRunner().invoke(daemon.cli.app, ["config", "check"], env=env)

    assert result.exit_code == 0, result.output
    assert "127.0.0.1:7497 client id 5, account DU1234567" in result.stdout
    assert "market data delayed, lots hifo" in result.stdout
    assert "flex_token ***" in result.stdout
    assert FLEX_TOKEN not in result.output


@pytest.mark.parametrize("method", ["lifo", "hifo", "max_st_loss"])
def test_the_ledger_relieves_lots_as_the_ib_account_does(method: str) -> None:
    """Issue #9 §2 "tlh models exactly that relief": the ledger relieves a sale that names no
    lot by `harvest.lot_method`, so an `[ib] lot_method` it does not match would journal other
    lots than IB relieves (and than the engine chose): refused, naming the key to change."""
    message = _error({"TLH_BROKER": "ib", "TLH_IB__ACCOUNT": "DU1", "TLH_IB__LOT_METHOD": method})

    assert (
        f'harvest.lot_method: is "fifo", but [ib] lot_method is "{method}": the ledger would '
        f'relieve other lots than IB; set harvest.lot_method = "{method}"'
    ) in message


@pytest.mark.parametrize("method", ["max_lt_gain", "specific"])
def test_an_ib_lot_method_the_ledger_matches_loads(method: str) -> None:
    """The same method in both places loads; with ``specific`` the user picks each sale's
    lots, and `harvest.lot_method` only relieves sales that name none."""
    harvest = method if method != "specific" else "fifo"
    s = load_settings(
        None,
        {
            "TLH_BROKER": "ib",
            "TLH_IB__ACCOUNT": "DU1",
            "TLH_IB__LOT_METHOD": method,
            "TLH_HARVEST__LOT_METHOD": harvest,
        },
    )

    assert (s.ib.lot_method.value, s.harvest.lot_method.value) == (method, harvest)
