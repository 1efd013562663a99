"""Daily price files for backtests and demos: CSV loaders, a fast binary cache, `Bar` data.

Prices are exact: `Bar.close` etc. are `Decimal` built lazily from integer 1e-6 units (or from
the source text when it has more than six decimals). The `*_micros` ints and `close_float` are
for pre-filtering hot loops only; every decision recomputes with the `Decimal` accessors.

Typical use::

    series = load_price_cache(path) if path.suffix == ".tlhprices" else load_prices(path)
    for day, bars in series.days():
        ...
"""

from adapters.prices.cache import (
    PriceCacheError,
    convert_price_dir,
    load_price_cache,
    save_price_cache,
)
from adapters.prices.csvload import (
    MissingColumnError,
    load_price_dir,
    load_prices,
    load_symbol_file,
    parse_iso_date,
    symbol_from_filename,
)
from adapters.prices.model import (
    MICRO,
    MISSING,
    Bar,
    PriceSeries,
    SkipExample,
    micros_to_decimal,
    normalize_split_ratio,
    split_ratio_decimal,
    split_share_ratio,
)

CACHE_SUFFIX = ".tlhprices"
"""Conventional file suffix of a price cache written by `convert_price_dir`."""

__all__ = [
    "CACHE_SUFFIX",
    "MICRO",
    "MISSING",
    "Bar",
    "MissingColumnError",
    "PriceCacheError",
    "PriceSeries",
    "SkipExample",
    "convert_price_dir",
    "load_price_cache",
    "load_price_dir",
    "load_prices",
    "load_symbol_file",
    "micros_to_decimal",
    "normalize_split_ratio",
    "parse_iso_date",
    "save_price_cache",
    "split_ratio_decimal",
    "split_share_ratio",
    "symbol_from_filename",
]
