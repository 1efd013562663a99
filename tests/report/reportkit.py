"""Builders and runners shared by the `tests/report` tests (plain module, not a conftest)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from daemon.cli import _register, app
from ledger.model import AccountType, OpenLot, SaleRow, Term

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SHARED_TXF = REPO.parent / "shared" / "reference" / "txf" / "examples"

HEADER = "date,account,action,symbol,quantity,price,fees,lot_id\n"


def sale(
    *,
    lot_id: str = "L1",
    account: str = "brk",
    account_type: AccountType = AccountType.TAXABLE,
    symbol: str = "VTI",
    quantity: str = "10",
    acquired: str = "2024-01-02",
    holding_period_start: str | None = None,
    date_sold: str = "2024-03-01",
    proceeds: str = "1800.00",
    cost_basis: str = "2000.00",
    adjusted_basis: str | None = None,
    disallowed: str = "0.00",
    permanent: str = "0.00",
    term: Term = Term.SHORT,
    replacements: tuple[str, ...] = (),
) -> SaleRow:
    """Return a hand-made sale row (the shape the ledger produces)."""
    return SaleRow(
        lot_id=lot_id,
        account=account,
        account_type=account_type,
        symbol=symbol,
        quantity=Decimal(quantity),
        acquired=date.fromisoformat(acquired),
        holding_period_start=date.fromisoformat(holding_period_start or acquired),
        date_sold=date.fromisoformat(date_sold),
        proceeds=Decimal(proceeds),
        cost_basis=Decimal(cost_basis),
        adjusted_basis=Decimal(adjusted_basis or cost_basis),
        wash_sale_disallowed=Decimal(disallowed),
        permanently_disallowed=Decimal(permanent),
        term=term,
        replacement_lot_ids=replacements,
    )


def open_lot(
    *,
    lot_id: str = "L2",
    account: str = "brk",
    symbol: str = "VTI",
    quantity: str = "10",
    acquired: str = "2024-03-15",
    holding_period_start: str = "2024-01-16",
    cost_basis: str = "1810.00",
    adjusted_basis: str = "2010.00",
) -> OpenLot:
    """Return a hand-made open-lot row."""
    return OpenLot(
        lot_id=lot_id,
        account=account,
        account_type=AccountType.TAXABLE,
        symbol=symbol,
        quantity=Decimal(quantity),
        acquired=date.fromisoformat(acquired),
        holding_period_start=date.fromisoformat(holding_period_start),
        cost_basis=Decimal(cost_basis),
        adjusted_basis=Decimal(adjusted_basis),
    )


def write(directory: Path, name: str, text: str) -> Path:
    """Write `text` to `directory/name` exactly (no newline translation) and return the path."""
    path = directory / name
    path.write_bytes(text.encode())
    return path


def tlh(*args: str | Path) -> Any:
    """Run `tlh ARGS...` in-process with Typer's CliRunner; stdout and stderr kept apart."""
    _register()
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def report_json(*args: str | Path) -> dict[str, Any]:
    """Run `tlh tax report --format json ARGS...`, check it succeeded, return the object."""
    result = tlh("tax", "report", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data
