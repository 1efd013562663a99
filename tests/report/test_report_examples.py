"""The README's example history (examples/) shows each case it claims to show."""

from __future__ import annotations

from typing import Any

import pytest
from reportkit import EXAMPLES, report_json, tlh

ARGS = (
    "--trades",
    EXAMPLES / "trades.csv",
    "--accounts",
    EXAMPLES / "accounts.csv",
    "--config",
    EXAMPLES / "tlh.toml",
)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return report_json(*ARGS)


def _sales(report: dict[str, Any], symbol: str, date_sold: str) -> list[dict[str, Any]]:
    return [s for s in report["sales"] if (s["symbol"], s["date_sold"]) == (symbol, date_sold)]


def test_harvest_into_a_substitute_keeps_the_loss(report: dict[str, Any]) -> None:
    """VTI sold at a loss and SCHB bought the same minute: different funds, not declared
    identical in tlh.toml, so the loss is allowed (Pub 550: substantially identical is a
    question of facts; tlh treats it as the user's policy)."""
    [vti] = _sales(report, "VTI", "2022-06-16")
    assert (vti["gain_loss"], vti["wash_sale_disallowed"]) == ("-2465.00", "0.00")


def test_wash_sale_by_repurchase(report: dict[str, Any]) -> None:
    """VOO sold at a loss and bought back 16 days later: the loss is disallowed and moves to the
    new lot, whose holding period is tacked (IRC §1091(d), §1223(3)) — so its sale in June 2023,
    eight months after the repurchase, is long term."""
    [loss] = _sales(report, "VOO", "2022-09-26")
    assert (loss["wash_sale_disallowed"], loss["gain_loss"]) == ("2720.00", "0.00")
    [later] = _sales(report, "VOO", "2023-06-01")
    assert later["acquired"] == "2022-10-12"
    assert later["adjusted_basis"] == "15760.00"  # 13040 paid + 2720 disallowed
    assert (later["term"], later["box"]) == ("long", "D")


def test_wash_sale_by_an_ira_purchase_is_permanent(report: dict[str, Any]) -> None:
    """Rev. Rul. 2008-5: VXUS sold at a loss in December and bought in the IRA on Jan 3 — the
    loss is disallowed and, the replacement being in an IRA, lost for good."""
    [loss] = _sales(report, "VXUS", "2022-12-12")
    assert loss["wash_sale_disallowed"] == loss["permanently_disallowed"] == "1160.00"
    [ira_sale] = _sales(report, "VXUS", "2024-09-03")
    assert (ira_sale["reportable"], ira_sale["box"]) == (False, None)


def test_partial_wash(report: dict[str, Any]) -> None:
    """Pub 550, "More or less stock bought than sold": 100 VEA sold at a loss, 40 bought back —
    the loss on 40 shares is disallowed, on the other 60 allowed."""
    rows = _sales(report, "VEA", "2023-03-15")
    assert sorted((r["quantity"], r["wash_sale_disallowed"], r["gain_loss"]) for r in rows) == [
        ("40", "140.00", "0.00"),
        ("60", "0.00", "-210.00"),
    ]


def test_long_term_sales_and_specific_lot(report: dict[str, Any]) -> None:
    """Held more than one year: long term (Pub 550, Holding Period). QQQ-A is sold by lot id
    (specific identification), net of the $1 commission."""
    [schb] = _sales(report, "SCHB", "2023-08-01")
    assert (schb["term"], schb["gain_loss"]) == ("long", "2645.00")
    [qqq] = _sales(report, "QQQ", "2024-04-15")
    assert (qqq["lot_id"], qqq["proceeds"], qqq["term"]) == ("QQQ-A", "12599.00", "long")


def test_every_format_renders_the_example() -> None:
    """The README's commands work on the example for every format."""
    for fmt in ("table", "json", "csv", "txf"):
        result = tlh("tax", "report", *ARGS, "--year", "2022", "--format", fmt)
        assert result.exit_code == 0, (fmt, result.stderr)
        assert result.stdout
