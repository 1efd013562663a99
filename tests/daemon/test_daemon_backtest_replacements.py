"""Issue #13 A.4 and A.7 in backtests: large harvests split, denials reported, no harvest into
a replacement that has no price yet.

Prices written by the test: 60 sessions from 2024-01-02; VTI at $170 for 10 sessions, then
down to $150; SCHB at $50 (from session `listed` on, when the test says so). Each close moves
a cent every other session: a bar that repeats the previous one is a stale quote
(daemon/backtest.py), as a live quote that stopped would be.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner, Result

from daemon.cli import _register, app
from tests.backtest.barkit import sessions

HOLDINGS = """date,account,action,symbol,quantity,price,fees,lot_id
2023-12-01,taxable,BUY,VTI,{quantity},170,0,VTI-1
"""


def _run(
    tmp_path: Path, *, risk: str = "", listed: int = 0, quantity: int = 100
) -> dict[str, object]:
    lines = ["date,symbol,close"]
    for n, day in enumerate(sessions()):
        cent = (n % 2) / 100
        lines.append(f"{day},VTI,{(170 if n < 10 else 150) + cent:.2f}")
        if n >= listed:
            lines.append(f"{day},SCHB,{50 + cent:.2f}")
    (tmp_path / "PRICES.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "HOLDINGS.csv").write_text(HOLDINGS.format(quantity=quantity))
    (tmp_path / "tlh.toml").write_text(
        '[accounts]\ntaxable = "taxable"\n\n[[substitutes]]\nsymbols = ["VTI", "SCHB"]\n' + risk
    )
    _register()
    result: Result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--prices",
            str(tmp_path / "PRICES.csv"),
            "--holdings",
            str(tmp_path / "HOLDINGS.csv"),
            "--config",
            str(tmp_path / "tlh.toml"),
            "--json",
            "--trades-out",
            str(tmp_path / "TRADES.csv"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    # The summary object (log lines before it are item 4c's, another change).
    summary: dict[str, object] = json.loads(result.stdout[result.stdout.index("{\n") :])
    return summary


def test_a_15000_position_is_harvested_with_the_default_limits(tmp_path: Path) -> None:
    """Issue A.7: "With the default `max_order_notional` of $10,000, a $15,000 position was
    never harvested all year ... the summary said 0 harvests". It is one harvest, in orders
    within the limit; nothing is denied."""
    summary = _run(tmp_path)

    assert summary["harvests"] == 1
    assert Decimal(str(summary["harvested_loss"])) > Decimal(1900)
    assert summary["risk_denials"] == 0
    assert summary["wash_sales_created"] == 0


def test_every_risk_denial_is_in_the_summary(tmp_path: Path) -> None:
    """Issue A.7: "report every risk denial in the summary". One VTI share ($150) is above a
    $100 `max_order_notional`: the harvest is denied, and the summary says by which limit."""
    summary = _run(tmp_path, risk="\n[risk]\nmax_order_notional = 100\n")

    assert summary["harvests"] == 0
    # The fall at session 10 is confirmed by three more quotes (`[prices] confirm_quotes`);
    # from session 13 on it is decided afresh each session (a new intent a day), denied each time.
    assert summary["risk_denials"] == 47
    assert summary["risk_denials_by_limit"] == {"max_order_notional": 47}


def test_a_replacement_listed_later_is_never_chosen_before_it_has_a_price(tmp_path: Path) -> None:
    """Issue A.4: "ABBV (listed 2013) was chosen as a replacement from 1999". SCHB has no price
    until session 30: VTI's loss (from session 10) is harvested only once SCHB is priced, and
    nothing sits in cash."""
    summary = _run(tmp_path, listed=30, quantity=50)

    assert summary["harvests"] == 1
    assert summary["trades"] == 3  # the sale, the replacement and its top-up
    rows = (tmp_path / "TRADES.csv").read_text().splitlines()[1:]
    assert {r.split(",")[0][:10] for r in rows} == {str(sessions()[30])}
