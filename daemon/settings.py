"""The daemon's one configuration model: `tlh.toml`, overridden by the environment.

Sources, highest priority first: keyword arguments, environment variables (``TLH_`` prefix,
``__`` between nesting levels, e.g. ``TLH_HARVEST__MIN_LOSS_USD=200``), secret files (one file
per value, named like the variable, e.g. ``TLH_ALPACA__API_KEY``, in `secrets_dir` or systemd's
``$CREDENTIALS_DIRECTORY``), the TOML file, then the defaults below. The defaults are safe:
dry run, the simulated broker, services bound to 127.0.0.1.

`load_settings` is the entry point; it turns every problem into a `ConfigError` whose lines
name the file (or the variable) and the dotted key. Secrets are `SecretStr` and are never
echoed back, not even in error messages.

What it accepts works: values in the file have their field's own TOML type (no "yes" for
true, no "100" for 100); environment booleans are true/false/1/0; numbers are finite and
bounded (`Money`, `Seconds`, `Count`...); database URLs name a supported driver; a feature not
built in this version is refused; a ``TLH_`` variable that names no setting is an error.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources import EnvSettingsSource, NestedSecretsSettingsSource

from adapters.alpaca.settings import AlpacaSettings
from adapters.ib.settings import IBSettings
from adapters.mqtt.settings import MqttSettings
from adapters.plaid.settings import PlaidSettings
from adapters.settings_types import (
    MIN_SECRET_LENGTH,
    Seconds,
    Section,
    Text,
)
from adapters.sim.settings import SimSettings
from adapters.web.settings import MetricsSettings
from daemon.index_settings import IndexSettings
from ledger.conventions import HoldingPeriodMethod, LotMethod, WashSaleConventions
from ledger.forms import DateAcquired
from ledger.identity import Identity, normalize_symbol
from ledger.model import AccountType
from strategies.recurring import Recurring, Schedule

ENV_PREFIX = "TLH_"
DEFAULT_CONFIG_FILE = Path("tlh.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tlh.sqlite"

# Names (of settings keys, log fields, headers) whose values are credentials: never echoed in
# errors, always redacted in logs (daemon.logging). An explicit list, matched whole and
# case-insensitively ("-" and "_" alike): a name that merely resembles one, such as
# "authorizations" (a count), is not a secret.
SECRET_KEY_NAMES = frozenset(
    {
        "api_key",
        "secret_key",
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "proxy_authorization",
        "key_id",
        "flex_token",
        "apca_api_key_id",
        "apca_api_secret_key",
    }
)
# Variables with the TLH_ prefix that are not settings (read by the command line or tests).
NON_SETTING_VARIABLES = frozenset({"TLH_CONFIG", "TLH_HEALTH_FILE"})
NON_SETTING_PREFIXES = ("TLH_TEST_",)
# Environment spellings of a boolean; anything else (yes, on, y...) is an error.
ENV_TRUE, ENV_FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
# The database URL schemes the storage layer supports (adapters/storage/engine.py `_DRIVERS`;
# a test keeps the two in step): the plain ones are mapped to their async driver.
DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgres", "postgresql", "postgresql+asyncpg")
_SENSITIVE_KEYS = frozenset({"url"})  # database.url may embed a password
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9./\-]{0,19}")
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/?#@]*:)(?P<password>[^@/?#]*)(?P<tail>@)")


def is_secret_key(name: object) -> bool:
    """Return whether `name` is one of `SECRET_KEY_NAMES` (case and "-"/"_" ignored)."""
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_KEY_NAMES


# Bounds: every number the configuration accepts is finite and within what the daemon can use.
MAX_MONEY = Decimal("1e12")
MAX_COUNT = 1_000_000

Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, Field(gt=0, le=MAX_MONEY, allow_inf_nan=False)]
Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]

Mode = Literal["dry_run", "paper", "live"]
Broker = Literal["sim", "alpaca", "ib"]


class ConfigError(Exception):
    """Raise when the configuration cannot be read or is invalid.

    `problems` holds one line per problem, each naming where the value came from (the file or
    the environment variable) and its dotted key, e.g.
    ``tlh.toml: harvest.min_loss_pct: must be a fraction below 1 (got 5); write 0.05 for 5%``.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class _KeyedError(ValueError):
    """A validation error from a cross-field check, with the key it is about."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


# --- sections --------------------------------------------------------------------------------


class HarvestSettings(Section):
    """When a lot's loss is worth harvesting, and what the harvest may do.

    `min_loss_pct` is a fraction of the lot's cost basis (0.05 means 5%), `min_loss_usd` an
    amount in dollars; a lot must cross both. `allow_cash`: when no substitute may be bought
    (every candidate would wash), sell into cash instead of skipping. `swap_back`: after the
    wash-sale window, move back from the substitute to the original if the short-term gain
    realised by doing so is at most `swap_back_max_st_gain_usd`. `spread_cost_factor` is the
    share of the bid/ask spread each order is assumed to pay (0.5 = half the spread), and
    `fee_per_order` the commission per order; both are subtracted from a harvest's value.
    """

    min_loss_pct: Decimal = Decimal("0.05")
    min_loss_usd: Money = Decimal(100)
    allow_cash: bool = False
    swap_back: bool = False
    swap_back_max_st_gain_usd: Money = Decimal(0)
    spread_cost_factor: Fraction = Decimal("0.5")
    fee_per_order: Money = Decimal(0)
    lot_method: LotMethod = LotMethod.FIFO

    @field_validator("min_loss_pct")
    @classmethod
    def _pct_is_a_fraction(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("must be a finite number")
        if value < 0:
            raise ValueError(f"must not be negative (got {value})")
        if value >= 1:
            raise ValueError(
                f"must be a fraction below 1 (got {value}); write {value / 100} for {value}%"
            )
        return value


class TaxSettings(Section):
    """Marginal tax rates, as fractions (0.24 = 24%), used to value a harvest."""

    short_term_rate: Fraction = Decimal("0.24")
    long_term_rate: Fraction = Decimal("0.15")


class ReportSettings(Section):
    """How `tlh tax report` fills the forms (see `ledger.forms.DateAcquired`)."""

    date_acquired: DateAcquired = DateAcquired.HOLDING_PERIOD


class _SymbolGroup(Section):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    symbols: tuple[str, ...]

    @field_validator("symbols", mode="after")
    @classmethod
    def _normalize(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        normalized = tuple(normalize_symbol(s) for s in symbols)
        for s in normalized:
            if not _SYMBOL.fullmatch(s):
                raise ValueError(f"{s!r} is not a ticker symbol")
        seen: set[str] = set()
        for s in normalized:
            if s in seen:
                raise ValueError(f"{s} appears twice")
            seen.add(s)
        if len(normalized) < 2:
            raise ValueError(f"a group needs at least 2 symbols (got {len(normalized)})")
        return normalized


class SubstituteGroup(_SymbolGroup):
    """Interchangeable securities that are NOT substantially identical (e.g. VTI, SCHB, ITOT).

    Order is preference: a harvest of one member buys the first other member it may buy.
    """


class IdenticalGroup(_SymbolGroup):
    """Securities the user declares substantially identical (e.g. SPY, VOO, IVV)."""


class RecurringPurchase(Section):
    """A purchase an account makes on a schedule (dividend reinvestment, an automatic
    investment plan): the wash guard treats its next expected date as a planned buy.

    `schedule` is a crontab expression (`strategies.recurring`: e.g. ``"0 0 15 * *"``, the
    15th of each month); `slack_days` how far the real purchase may fall from a scheduled date
    (weekends, holidays, a dividend's moving pay date); `until` the last day of the plan.
    The account need not be in `[accounts]`: imported accounts carry their own type.
    """

    account: Text
    symbol: str
    schedule: Text
    slack_days: int = Field(default=3, ge=0, le=15)
    until: date | None = None

    @field_validator("symbol", mode="after")
    @classmethod
    def _ticker(cls, symbol: str) -> str:
        normalized = normalize_symbol(symbol)
        if not _SYMBOL.fullmatch(normalized):
            raise ValueError(f"{symbol!r} is not a ticker symbol")
        return normalized

    @field_validator("schedule", mode="after")
    @classmethod
    def _schedule(cls, schedule: str) -> str:
        Schedule.parse(schedule)
        return schedule.strip()


class WashSaleSettings(Section):
    """Conventions on points the wash-sale law leaves open (see `ledger.conventions`)."""

    holding_period: HoldingPeriodMethod = HoldingPeriodMethod.TACK
    own_lot_replaces: bool = False
    crypto_wash_sales: bool = False
    crypto_symbols: tuple[str, ...] = ()

    @field_validator("crypto_symbols", mode="after")
    @classmethod
    def _normalize(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        normalized = tuple(normalize_symbol(s) for s in symbols)
        for s in normalized:
            if not _SYMBOL.fullmatch(s):
                raise ValueError(f"{s!r} is not a ticker symbol")
        return normalized


class RiskSettings(Section):
    """Hard limits checked before any order leaves the daemon; `kill_switch` stops all orders."""

    max_order_notional: PositiveMoney = Decimal(10_000)
    max_daily_notional: PositiveMoney = Decimal(50_000)
    max_harvests_per_day: Count = 10
    kill_switch: bool = False

    @model_validator(mode="after")
    def _order_fits_in_day(self) -> RiskSettings:
        if self.max_order_notional > self.max_daily_notional:
            raise _KeyedError(
                ("max_order_notional",),
                f"must not exceed max_daily_notional ({self.max_order_notional} > "
                f"{self.max_daily_notional})",
            )
        return self


class OrderSettings(Section):
    """[orders]: how orders in flight are followed at the broker."""

    # Each order in flight is looked up at the broker this often: a fill whose stream event
    # was lost on a connection that stayed up is noticed within it.
    poll_seconds: float = Field(default=30.0, gt=0, le=300, allow_inf_nan=False)
    # A reconciliation pass runs this often while orders are in flight.
    reconcile_seconds: float = Field(default=300.0, gt=0, le=3600, allow_inf_nan=False)


class PriceSettings(Section):
    """Trust in prices: `band_pct` (fraction) bounds how far a limit price or a new quote may be
    from the last trusted mid; a quote older than `stale_after_seconds` is not used; a price
    level new to the quote filter (a gap, or a symbol nearing its trigger) is harvested on only
    after `confirm_quotes` further quotes agree with it (daily bars in backtests: sessions)."""

    band_pct: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1, allow_inf_nan=False)
    stale_after_seconds: Seconds = 60.0
    confirm_quotes: int = Field(default=3, ge=0, le=1000)


class DatabaseSettings(Section):
    """Where the ledger and order tables live (an SQLAlchemy async URL)."""

    url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)

    @field_validator("url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if not sep:
            raise ValueError("must be a URL such as sqlite+aiosqlite:///./tlh.sqlite")
        if scheme.lower() not in DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported database {scheme!r}: use sqlite+aiosqlite:///PATH or "
                "postgresql+asyncpg://USER@HOST:PORT/DB"
            )
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("must not contain spaces or control characters")
        return value

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced by ``***``, for display."""
        return _URL_PASSWORD.sub(r"\g<head>***\g<tail>", self.url)

    @property
    def password(self) -> str | None:
        """The password embedded in the URL, if any."""
        match = _URL_PASSWORD.search(self.url)
        return match.group("password") if match and match.group("password") else None


class LoggingSettings(Section):
    """Log level and format (`auto`: console on a terminal, JSON otherwise)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


# --- the model -------------------------------------------------------------------------------


class Settings(BaseSettings):
    """The whole configuration, validated and frozen.

    `mode` is `dry_run` (decide and log, never order), `paper` (orders to a paper account) or
    `live` (real orders, only with `live_trading_enabled = true` as well).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    mode: Mode = "dry_run"
    live_trading_enabled: bool = False
    broker: Broker = "sim"
    secrets_dir: Path | None = None
    database: DatabaseSettings = DatabaseSettings()
    harvest: HarvestSettings = HarvestSettings()
    tax: TaxSettings = TaxSettings()
    report: ReportSettings = ReportSettings()
    substitutes: tuple[SubstituteGroup, ...] = ()
    identical: tuple[IdenticalGroup, ...] = ()
    wash_sale: WashSaleSettings = WashSaleSettings()
    risk: RiskSettings = RiskSettings()
    prices: PriceSettings = PriceSettings()
    orders: OrderSettings = OrderSettings()
    accounts: dict[str, AccountType] = Field(default_factory=dict)
    alpaca: AlpacaSettings = AlpacaSettings()
    ib: IBSettings = IBSettings()
    sim: SimSettings = SimSettings()
    metrics: MetricsSettings = MetricsSettings()
    mqtt: MqttSettings = MqttSettings()
    plaid: PlaidSettings = PlaidSettings()
    recurring: tuple[RecurringPurchase, ...] = ()
    index: IndexSettings = IndexSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: arguments, environment, secret files, then the TOML file."""
        ctx = _LOAD_CONTEXT.get()
        if ctx is None:  # constructed directly: plain environment, no file
            return init_settings, env_settings, NestedSecretsSettingsSource(file_secret_settings)
        return (
            init_settings,
            _MappingEnvSource(settings_cls, ctx.env),
            NestedSecretsSettingsSource(
                file_secret_settings, secrets_dir=ctx.secrets_dir, secrets_dir_missing="ok"
            ),
            _DictSource(settings_cls, ctx.file_data),
        )

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, accounts: dict[str, AccountType]) -> dict[str, AccountType]:
        for name in accounts:
            if not name.strip():
                raise ValueError("account names must not be empty")
        return accounts

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        _check_mode(self)
        _check_groups(self.substitutes, self.identical)
        return self

    def identity(self) -> Identity:
        """Build the ledger's substantially-identical map from `[[identical]]` and crypto."""
        return Identity((g.symbols for g in self.identical), self.wash_sale.crypto_symbols)

    def wash_sale_conventions(self) -> WashSaleConventions:
        """Build the ledger's wash-sale conventions from `[wash_sale]`."""
        return WashSaleConventions(
            holding_period=self.wash_sale.holding_period,
            own_lot_replaces=self.wash_sale.own_lot_replaces,
            crypto_wash_sales=self.wash_sale.crypto_wash_sales,
        )

    def substitute_groups(self) -> tuple[tuple[str, ...], ...]:
        """Return the substitute groups as plain symbol tuples, in preference order."""
        return tuple(g.symbols for g in self.substitutes)

    def recurring_purchases(self) -> tuple[Recurring, ...]:
        """Return the `[[recurring]]` purchases for the wash guard."""
        return tuple(
            Recurring(
                account=r.account,
                symbol=r.symbol,
                schedule=Schedule.parse(r.schedule),
                slack_days=r.slack_days,
                until=r.until,
                where=f"recurring[{n}]",
            )
            for n, r in enumerate(self.recurring)
        )

    def secret_values(self) -> tuple[str, ...]:
        """Return every configured secret string, for the log redactor; never log these."""
        secrets = (
            self.alpaca.api_key,
            self.alpaca.secret_key,
            self.ib.flex_token,
            self.mqtt.password,
        )
        values = [s.get_secret_value() for s in secrets if s is not None]
        values += self.plaid.secret_values()
        db_password = self.database.password
        if db_password:
            values.append(db_password)
        return tuple(v for v in values if v)


def _check_mode(s: Settings) -> None:
    if s.mode == "live" and not s.live_trading_enabled:
        raise _KeyedError(
            ("mode",), 'is "live" but live_trading_enabled is false; set both to trade real money'
        )
    if s.mode == "live" and s.broker == "sim":
        raise _KeyedError(("broker",), 'is "sim", which cannot trade in mode "live"')
    if s.broker == "alpaca":
        _check_alpaca(s)
    elif s.broker == "ib":
        _check_ib(s)
    if s.broker != "sim" and "sim" in s.model_fields_set:
        given = sorted(s.sim.model_fields_set)
        raise _KeyedError(
            ("sim", *given[:1]),
            f'applies only to broker = "sim" (broker is "{s.broker}"); remove [sim]',
        )


def _check_alpaca(s: Settings) -> None:
    """Check `[alpaca]` against the daemon's mode: paper endpoints for paper, credentials."""
    if s.mode == "paper" and not s.alpaca.paper:
        raise _KeyedError(("alpaca", "paper"), 'must be true in mode "paper"')
    if s.mode == "live" and s.alpaca.paper:
        raise _KeyedError(("alpaca", "paper"), 'must be false in mode "live"')
    for key in ("api_key", "secret_key"):
        if getattr(s.alpaca, key) is None:
            raise _KeyedError(
                ("alpaca", key),
                f'is required when broker is "alpaca" (set {ENV_PREFIX}ALPACA__{key.upper()} '
                "or a secret file of that name)",
            )


def _check_ib(s: Settings) -> None:
    """Check `[ib]` against the daemon's mode and the ledger: an account to trade, the lot
    method the ledger relieves by (`harvest.lot_method`) the account's, live data for live
    money."""
    if s.ib.account is None:
        raise _KeyedError(
            ("ib", "account"),
            'is required when broker is "ib" (the IB account code, e.g. DU1234567; set '
            f"{ENV_PREFIX}IB__ACCOUNT)",
        )
    ib_method = s.ib.lot_method.value
    if ib_method != "specific" and s.harvest.lot_method.value != ib_method:
        raise _KeyedError(
            ("harvest", "lot_method"),
            f'is "{s.harvest.lot_method.value}", but [ib] lot_method is "{ib_method}": the '
            f'ledger would relieve other lots than IB; set harvest.lot_method = "{ib_method}"',
        )
    if s.mode == "live" and s.ib.market_data_type != "live":
        raise _KeyedError(
            ("ib", "market_data_type"),
            f'must be "live" in mode "live" (got "{s.ib.market_data_type}"): delayed or frozen '
            "quotes cannot price real orders",
        )


def _check_groups(
    substitutes: Sequence[SubstituteGroup], identical: Sequence[IdenticalGroup]
) -> None:
    """Reject substitute groups that overlap, or that hold substantially identical symbols.

    Overlap is judged on identity classes: a symbol identical to a member of another group
    makes the choice of replacement ambiguous just as the same symbol would.
    """
    identity = Identity(g.symbols for g in identical)
    owner: dict[str, tuple[int, str]] = {}
    for i, group in enumerate(substitutes):
        loc: tuple[str | int, ...] = ("substitutes", i, "symbols")
        here: dict[str, str] = {}
        for symbol in group.symbols:
            key = identity.key(symbol)
            if key in here:
                raise _KeyedError(
                    loc,
                    f"{here[key]} and {symbol} are declared identical ([[identical]]), so they "
                    "cannot substitute for each other",
                )
            here[key] = symbol
            if key in owner:
                j, other = owner[key]
                why = "is already" if other == symbol else f"is identical to {other}, which is"
                raise _KeyedError(loc, f"{symbol} {why} in substitutes[{j}]")
        for key, symbol in here.items():
            owner[key] = (i, symbol)


# --- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LoadContext:
    file_data: dict[str, Any]
    env: Mapping[str, str]
    secrets_dir: Path | None = None
    origin: str = "configuration"
    raw_secrets: tuple[str, ...] = field(default=())


_LOAD_CONTEXT: ContextVar[_LoadContext | None] = ContextVar("tlh_settings_load", default=None)


class _DictSource(PydanticBaseSettingsSource):
    """The parsed TOML file, passed through unchanged (unknown keys included, to be rejected)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._mapping)
        return {k.lower(): v for k, v in self._mapping.items()}


# --- loading ---------------------------------------------------------------------------------


def default_config_path(cwd: Path | None = None) -> Path | None:
    """Return ``tlh.toml`` in `cwd` (default: the working directory) if it exists, else None."""
    candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
    return candidate if candidate.is_file() else None


def load_settings(config_path: Path | None = None, env: Mapping[str, str] = os.environ) -> Settings:
    """Load and validate the settings from `config_path` (optional) and `env`.

    Raise `ConfigError` if the file is given but missing or unreadable, is not valid TOML
    (the message names the line), or any value is invalid (the message names the dotted key).
    """
    origin = str(config_path) if config_path is not None else "configuration"
    file_data = _read_toml(config_path) if config_path is not None else {}
    ctx = _LoadContext(
        file_data=file_data,
        env=dict(env),
        secrets_dir=_secrets_dir(file_data, env, origin),
        origin=origin,
        raw_secrets=tuple(_raw_secrets(file_data, env)),
    )
    init: dict[str, Any] = {}
    if ctx.secrets_dir is not None:
        init["secrets_dir"] = ctx.secrets_dir
    problems = [
        *_check_file_types(ctx),
        *_check_variables(ctx.env, "environment"),
        *_check_variables(_secret_files(ctx.secrets_dir), "secret file"),
    ]
    if problems:
        raise ConfigError(problems)
    token = _LOAD_CONTEXT.set(ctx)
    try:
        return Settings(**init)
    except ValidationError as exc:
        raise ConfigError([_describe(err, ctx) for err in exc.errors()]) from None
    except SettingsError as exc:  # e.g. TLH_SUBSTITUTES that is not JSON
        raise ConfigError([_describe_source_error(exc, ctx)]) from None
    finally:
        _LOAD_CONTEXT.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_describe_toml_error(path, exc)]) from None


def _describe_toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        line, column = match.groups()
        return f"{path}: line {line}, column {column}: invalid TOML: {message[: match.start()]}"
    return f"{path}: invalid TOML: {message}"


def _env_get(env: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in env.items() if k.lower() == wanted), None)


def _secrets_dir(file_data: Mapping[str, Any], env: Mapping[str, str], origin: str) -> Path | None:
    env_name = f"{ENV_PREFIX}SECRETS_DIR"
    explicit = _env_get(env, env_name)
    where = f"{env_name} (environment)"
    if explicit is None and file_data.get("secrets_dir") is not None:
        explicit, where = str(file_data["secrets_dir"]), origin
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise ConfigError([f"{where}: secrets_dir: not a directory: {path}"])
        return path
    credentials = env.get("CREDENTIALS_DIRECTORY")  # systemd LoadCredential=
    if credentials and Path(credentials).is_dir():
        return Path(credentials)
    return None


def _raw_secrets(file_data: Mapping[str, Any], env: Mapping[str, str]) -> Iterator[str]:
    """Yield secret-looking raw inputs, so that no error message can echo them."""

    def walk(node: object, key: str) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                yield from walk(v, key)
        elif is_secret_key(key) and str(node):
            yield str(node)

    yield from walk(file_data, "")
    for name, value in env.items():
        last = name.split("__")[-1].upper().removeprefix(ENV_PREFIX)
        if name.upper().startswith(ENV_PREFIX) and is_secret_key(last) and value:
            yield value


# --- raw input checks ------------------------------------------------------------------------
#
# Pydantic's lax mode turns "yes" into True and "100" into 100. The TOML file has real booleans,
# numbers and strings, so there each value must already have its field's type; the
# environment has only strings, so there a boolean must be spelled true/false/1/0 and a
# number in ASCII digits. Both are checked against the model's fields, so new keys are covered.

_ENV_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated` and `None` from a field's annotation."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _kind(annotation: Any) -> str | None:
    """Return the TOML kind a field's value must have: bool, number, string, table or list."""
    t = _unwrap(annotation)
    origin = get_origin(t)
    if t is bool:
        return "bool"
    if t in (int, float, Decimal):
        return "number"
    if (
        t in (str, SecretStr, Path)
        or origin is Literal
        or (isinstance(t, type) and issubclass(t, Enum))
    ):
        return "string"
    if (isinstance(t, type) and issubclass(t, BaseModel)) or origin is dict:
        return "table"
    if origin in (tuple, list):
        return "list"
    return None


_KIND_OK: dict[str, Any] = {
    "bool": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "table": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}
_KIND_TEXT = {
    "bool": "must be true or false",
    "number": "must be a number",
    "string": "must be a string (in quotes)",
    "table": "must be a table",
    "list": "must be a list",
}


def _type_problems(
    annotation: Any, value: object, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (key, message) for each value whose type is not its field's own, strictly."""
    kind = _kind(annotation)
    if kind is None:
        return
    if not _KIND_OK[kind](value):
        keys = [k for k in loc if isinstance(k, str)]
        got = "" if any(is_secret_key(k) or k in _SENSITIVE_KEYS for k in keys) else _got(value)
        yield loc, f"{_KIND_TEXT[kind]}{got}"
        return
    t = _unwrap(annotation)
    if isinstance(t, type) and issubclass(t, BaseModel):
        assert isinstance(value, dict)
        for key, item in value.items():
            info = t.model_fields.get(str(key))
            if info is not None:  # unknown keys are pydantic's to report
                yield from _type_problems(info.annotation, item, (*loc, str(key)))
    elif kind == "table":
        assert isinstance(value, dict)
        args = get_args(t)
        for key, item in value.items():
            yield from _type_problems(args[1] if len(args) == 2 else Any, item, (*loc, str(key)))
    elif kind == "list":
        assert isinstance(value, list)
        args = get_args(t)
        for i, item in enumerate(value):
            yield from _type_problems(args[0] if args else Any, item, (*loc, i))


def _got(value: object) -> str:
    if isinstance(value, dict | list):
        return f" (got a {'table' if isinstance(value, dict) else 'list'})"
    text = json.dumps(value) if isinstance(value, str | bool) else str(value)
    return f" (got {text[:40]})"


def _check_file_types(ctx: _LoadContext) -> list[str]:
    """Return a problem line for each TOML value whose type is not its field's."""
    return [
        f"{ctx.origin}: {_dotted(loc)}: {message}"
        for loc, message in _type_problems(Settings, ctx.file_data, ())
    ]


def _secret_files(secrets_dir: Path | None) -> dict[str, str]:
    """Return the ``TLH_`` files of `secrets_dir` by name, stripped as the settings read them."""
    files: dict[str, str] = {}
    for path in sorted(secrets_dir.iterdir()) if secrets_dir is not None else ():
        if path.name.upper().startswith(ENV_PREFIX) and path.is_file():
            try:
                files[path.name] = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                files[path.name] = ""  # a value pydantic-settings will report, if it reads it
    return files


def _check_variables(variables: Mapping[str, str], source: str) -> list[str]:
    """Return a problem line for each unknown TLH_ variable and each badly spelled value."""
    problems = []
    for name, value in variables.items():
        var = name.upper()
        if not var.startswith(ENV_PREFIX) or _not_a_setting(var):
            continue
        path = tuple(var.removeprefix(ENV_PREFIX).lower().split("__"))
        annotation = _env_target(path)
        where = f"{var} ({source}): {_dotted(path)}"
        if annotation is None:
            close = difflib.get_close_matches(var, _variable_names(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{where}: unknown variable{hint}")
            continue
        kind = _kind(annotation)
        if kind == "bool" and value.lower() not in ENV_TRUE | ENV_FALSE:
            problems.append(f"{where}: must be true or false (or 1 or 0){_got(value)}")
        elif kind == "number" and not _ENV_NUMBER.fullmatch(value.strip()):
            problems.append(f"{where}: must be a number written in ASCII digits{_got(value)}")
        elif kind in ("table", "list"):
            try:
                decoded = json.loads(value)
            except ValueError:
                continue  # pydantic-settings names the variable
            for loc, message in _type_problems(annotation, decoded, path):
                problems.append(f"{var} ({source}): {_dotted(loc)}: {message}")
    return problems


def _not_a_setting(var: str) -> bool:
    return var in NON_SETTING_VARIABLES or var.startswith(NON_SETTING_PREFIXES)


def _env_target(path: Sequence[str]) -> Any | None:
    """Return the annotation of the field a variable's path names, or None if none."""
    annotation: Any = Settings
    for part in path:
        t = _unwrap(annotation)
        if isinstance(t, type) and issubclass(t, BaseModel):
            info = t.model_fields.get(part)
            if info is None:
                return None
            annotation = info.annotation
        elif get_origin(t) is dict and part:
            annotation = get_args(t)[1]
        else:
            return None
    return annotation


def _variable_names() -> list[str]:
    """Return every variable name the settings read, e.g. TLH_HARVEST__MIN_LOSS_USD."""
    names = []
    for field_name, info in Settings.model_fields.items():
        t = _unwrap(info.annotation)
        names.append(ENV_PREFIX + field_name.upper())
        if isinstance(t, type) and issubclass(t, BaseModel):
            names += [f"{ENV_PREFIX}{field_name}__{key}".upper() for key in t.model_fields]
    return names


# --- error messages --------------------------------------------------------------------------


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _describe(err: Mapping[str, Any], ctx: _LoadContext) -> str:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    error = err.get("ctx", {}).get("error")
    if isinstance(error, _KeyedError):
        loc, message = loc + error.loc, str(error)
    elif err["type"] == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
    elif err["type"] == "extra_forbidden":
        message = _unknown_key(loc)
    else:
        message = _lower_first(str(err["msg"])) + _echo(loc, err.get("input"))
    # A short "secret" is refused anyway; replacing it would garble the message.
    for secret in sorted(ctx.raw_secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            message = message.replace(secret, "***")
    return f"{_origin(loc, ctx)}: {_dotted(loc)}: {message}"


def _describe_source_error(exc: SettingsError, ctx: _LoadContext) -> str:
    match = re.search(r'field "([^"]+)"', str(exc))
    if match is None:
        return f"{ctx.origin}: {exc}"
    loc = (match.group(1),)
    return (
        f"{_origin(loc, ctx)}: {_dotted(loc)}: cannot parse the value (a table or list given "
        "in the environment or a secret file must be JSON)"
    )


def _origin(loc: Sequence[str | int], ctx: _LoadContext) -> str:
    names = [p for p in loc if isinstance(p, str)]
    for n in range(len(names), 0, -1):
        var = ENV_PREFIX + "__".join(names[:n]).upper()
        if _env_get(ctx.env, var) is not None:
            return f"{var} (environment)"
    return ctx.origin


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _echo(loc: Sequence[str | int], value: object) -> str:
    keys = [p for p in loc if isinstance(p, str)]
    sensitive = any(is_secret_key(k) or k in _SENSITIVE_KEYS for k in keys)
    if sensitive or not isinstance(value, str | int | float | Decimal | bool):
        return ""
    text = repr(value) if isinstance(value, str) else str(value)
    return f" (got {text[:40]})"


def _unknown_key(loc: Sequence[str | int]) -> str:
    model = _model_at(loc[:-1])
    message = "unknown key"
    if model is not None and isinstance(loc[-1], str):
        close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
        if close:
            message += f" (did you mean {close[0]}?)"
    return message


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        candidates = (annotation, *get_args(annotation))
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model
