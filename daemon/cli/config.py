"""`tlh config ...`: check the configuration; helpers other commands use to load it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from daemon.cli import app
from daemon.cli.failures import FAILURE_EXIT_CODE
from daemon.index_weights import TargetFileError, load_target
from daemon.settings import ConfigError, Settings, default_config_path, load_settings
from strategies.index.target import IndexTarget, TargetError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="TLH_CONFIG",
        help="Configuration file (default: ./tlh.toml if it exists).",
        dir_okay=False,
    ),
]

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def fail_with_config_error(exc: ConfigError) -> NoReturn:
    """Print each problem of `exc` on stderr, one line each, and exit with status 2."""
    for problem in exc.problems:
        typer.echo(problem, err=True)
    raise typer.Exit(FAILURE_EXIT_CODE)


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a `ConfigError` raised in the block into its message and exit status 2."""
    try:
        yield
    except ConfigError as exc:
        fail_with_config_error(exc)


def load_settings_or_exit(config: Path | None) -> Settings:
    """Load the settings from `config` (or ./tlh.toml), or print the problem and exit 2."""
    try:
        return load_settings(config if config is not None else default_config_path())
    except ConfigError as exc:
        fail_with_config_error(exc)


@config_app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate the configuration and print a short summary (secrets shown as ***)."""
    path = config if config is not None else default_config_path()
    settings = load_settings_or_exit(path)
    target = index_target_or_exit(settings, path)
    typer.echo(f"Configuration: {path or 'defaults (no file)'}")
    table = Table(show_header=False, box=None)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in [*summary_rows(settings), *_index_rows(target)]:
        table.add_row(key, value)
    Console(highlight=False).print(table)
    typer.echo("Configuration OK.")


def index_target_or_exit(settings: Settings, config: Path | None) -> IndexTarget | None:
    """Return the `[index]` target (None when direct indexing is off), or print why it
    cannot be read (the file, line and field, or the key) and exit 2."""
    if not settings.index.enabled:
        return None
    try:
        return load_target(settings.index, config_dir=config.parent if config else None)
    except TargetFileError as exc:
        fail_with_config_error(ConfigError([str(exc)]))
    except TargetError as exc:
        fail_with_config_error(ConfigError([f"{config or 'configuration'}: {exc}"]))


def _index_rows(target: IndexTarget | None) -> list[tuple[str, str]]:
    if target is None:
        return [("index", "off")]
    sectors = target.sector_weights()
    return [
        ("index", f"{len(target.weights)} names in {len(sectors)} sectors from {target.source}"),
        *([("", f"completion fund {target.completion}")] if target.completion else []),
        *(
            [("", f"exclude: not in the index: {', '.join(target.excluded_unknown)}")]
            if target.excluded_unknown
            else []
        ),
    ]


def summary_rows(settings: Settings) -> list[tuple[str, str]]:
    """Return (label, value) rows describing `settings`; secrets appear only as ``***``."""
    s = settings
    h, r = s.harvest, s.risk
    live = "enabled" if s.live_trading_enabled else "disabled"
    return [
        ("mode", f"{s.mode} (live trading {live})"),
        ("broker", s.broker),
        *_broker_rows(s),
        ("database", s.database.safe_url),
        ("harvest", f"loss ≥ {_pct(h.min_loss_pct)} and ≥ ${h.min_loss_usd:,}"),
        ("", f"lots {h.lot_method}, cash {_on(h.allow_cash)}, swap back {_on(h.swap_back)}"),
        (
            "tax",
            f"short-term {_pct(s.tax.short_term_rate)}, long-term {_pct(s.tax.long_term_rate)}",
        ),
        ("risk", f"order ≤ ${r.max_order_notional:,}, day ≤ ${r.max_daily_notional:,}"),
        ("", f"≤ {r.max_harvests_per_day} harvests/day, kill switch {_on(r.kill_switch)}"),
        *_group_rows("substitutes", [" ↔ ".join(g.symbols) for g in s.substitutes]),
        *_group_rows("identical", [" = ".join(g.symbols) for g in s.identical]),
        ("accounts", ", ".join(f"{n} ({t})" for n, t in s.accounts.items()) or "none"),
        *_group_rows(
            "recurring",
            [
                f"{p.symbol} in {p.account}: {p.schedule} (± {p.slack_days} days)"
                for p in s.recurring
            ],
        ),
        ("secrets_dir", str(s.secrets_dir) if s.secrets_dir else "none"),
    ]


def _broker_rows(s: Settings) -> list[tuple[str, str]]:
    if s.broker == "alpaca":
        a = s.alpaca
        return [
            ("alpaca", f"{'paper' if a.paper else 'LIVE'} {a.trading_url()}, feed {a.feed}"),
            ("", f"api_key {_secret(a.api_key)}, secret_key {_secret(a.secret_key)}"),
        ]
    if s.broker == "ib":
        ib = s.ib
        access = "read-only" if ib.readonly else "orders allowed by mode"
        flex_query = ib.flex_query_id or "not set"
        return [
            ("ib", f"{ib.host}:{ib.port} client id {ib.client_id}, account {ib.account}"),
            ("", f"{access}, market data {ib.market_data_type}, lots {ib.lot_method.value}"),
            ("", f"flex_token {_secret(ib.flex_token)}, flex_query_id {flex_query}"),
        ]
    return []


def _group_rows(label: str, groups: list[str]) -> list[tuple[str, str]]:
    return [(label if i == 0 else "", g) for i, g in enumerate(groups)] or [(label, "none")]


def _secret(value: SecretStr | None) -> str:
    return "***" if value is not None else "not set"


def _pct(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _on(flag: bool) -> str:
    return "on" if flag else "off"
