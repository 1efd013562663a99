"""Read an account list CSV (ACCOUNTS.csv): each account's type, lot method and 1099 kind.

Columns (header required, any order, names case-insensitive, extra columns ignored):

* ``account`` (empty means ``default``, as in TRADES.csv) and ``type``: one of ``taxable``,
  ``ira``, ``roth_ira``, ``401k``, ``hsa`` (any case). Accounts not listed are taxable.
* optional ``lot_method``: ``fifo``, ``lifo``, ``hifo`` or one of IB's Tax Optimizer methods
  ``max_lt_gain``, ``max_lt_loss``, ``max_st_gain``, ``max_st_loss`` — how sales without a
  lot id pick their shares in this account (overrides ``--lot-method``); empty means the
  default.
* optional ``form_1099``: ``reported`` (Form 1099-B with basis reported to the IRS; Form 8949
  box A / D), ``unreported`` (basis not reported; B / E) or ``none`` (no 1099-B; C / F);
  empty means ``reported``.
* optional ``form_1099_da``: what the account's broker reports on Form 1099-DA for its
  digital-asset sales from 2025, in the same words: ``reported`` (Form 8949 box G / J),
  ``unreported`` (H / K) or ``none`` (no 1099-DA, as for a self-custody wallet; I / L). Empty:
  basis not reported for 2025 sales and for later sales of units bought before 2026, reported
  for units bought from 2026 (`ledger.report.digital_asset_form_1099`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from adapters.importers import CsvRow, InputError, read_csv
from adapters.importers.trades_csv import DEFAULT_ACCOUNT
from ledger.conventions import LotMethod
from ledger.model import AccountType
from ledger.report import Form1099

REQUIRED = ("account", "type")
OPTIONAL = ("lot_method", "form_1099", "form_1099_da")

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Accounts:
    """What ACCOUNTS.csv says about each listed account."""

    types: dict[str, AccountType] = field(default_factory=dict)
    lot_methods: dict[str, LotMethod] = field(default_factory=dict)
    form_1099: dict[str, Form1099] = field(default_factory=dict)
    form_1099_da: dict[str, Form1099] = field(default_factory=dict)


def parse_accounts(path: str | Path) -> Accounts:
    """Return the accounts listed in the CSV file at `path`; raise `InputError`."""
    accounts = Accounts()
    first_line: dict[str, int] = {}
    for row in read_csv(path, required=REQUIRED, optional=OPTIONAL):
        name = row.get("account") or DEFAULT_ACCOUNT
        if name in first_line:
            raise InputError(
                path, row.line, "account", f"{name!r} is already listed on line {first_line[name]}"
            )
        first_line[name] = row.line
        accounts.types[name] = _choice(path, row, "type", AccountType)
        if row.get("lot_method"):
            accounts.lot_methods[name] = _choice(path, row, "lot_method", LotMethod)
        if row.get("form_1099"):
            accounts.form_1099[name] = _choice(path, row, "form_1099", Form1099)
        if row.get("form_1099_da"):
            accounts.form_1099_da[name] = _choice(path, row, "form_1099_da", Form1099)
    return accounts


def _choice(path: str | Path, row: CsvRow, column: str, kind: type[E]) -> E:
    raw = row.get(column)
    try:
        return kind(raw.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        got = f"(got {raw!r})" if raw else "(it is empty)"
        raise InputError(path, row.line, column, f"must be one of {allowed} {got}") from None
