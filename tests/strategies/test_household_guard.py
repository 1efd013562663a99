"""The wash guard is household-wide, both ways, in the one decision function.

IRC §1091(a) looks at every acquisition by the taxpayer, Pub 550 adds the spouse's purchases
and Rev. Rul. 2008-5 the taxpayer's IRA: an imported outside account is just another account
of the ledger (issue #11 §3: "Purchases in any imported account block a harvest of anything
substantially identical for 30 days (and a harvest makes the guard refuse the replacement if
another account bought it)"). `decide_positions` is what the engine, `tlh harvest` and `tlh
doctor` decide with.

Household (guardkit): "me" holds 40 VTI at $200, quoted $180; today is 2026-12-07.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from guardkit import IRA, SPOUSE, TODAY, decide, household, trade

from ledger.model import Action
from strategies.decision import Action as Act


@pytest.mark.parametrize(
    ("account", "symbol"),
    [
        pytest.param(SPOUSE, "VTI", id="spouse-same-symbol"),
        pytest.param(IRA, "VTI", id="ira-same-symbol"),
        pytest.param(SPOUSE, "VTSAX", id="spouse-declared-identical"),
        pytest.param(IRA, "VTSAX", id="ira-declared-identical"),
    ],
)
def test_an_outside_accounts_purchase_blocks_the_harvest(account: str, symbol: str) -> None:
    """10 days ago another account of the household bought (and holds) VTI or VTSAX: a VTI
    loss sale in "me" today would be washed by it, so the decision skips and names the lot,
    its account and its date."""
    ledger = household()
    bought = TODAY - timedelta(days=10)
    ledger.apply(trade(ledger, bought, account, Action.BUY, symbol, "3", "182"))

    decision = decide(ledger)

    assert decision.action is Act.SKIP
    assert decision.reason.startswith("wash_guard: identical shares bought within 30 days")
    assert f"in {account} bought {bought}" in decision.reason


def test_an_outside_purchase_31_days_ago_no_longer_blocks() -> None:
    """The window is 30 days: the spouse's VTI bought 31 days ago washes no sale today."""
    ledger = household()
    ledger.apply(trade(ledger, TODAY - timedelta(days=31), SPOUSE, Action.BUY, "VTI", "3", "182"))

    assert decide(ledger).action is Act.HARVEST


@pytest.mark.parametrize("sold", ["SCHB", "SWTSX"])
def test_an_outside_accounts_loss_sale_refuses_the_replacement(sold: str) -> None:
    """The spouse sold SCHB (or SWTSX, declared identical to it) at a loss 10 days ago: buying
    SCHB as the replacement would wash the spouse's loss, so the harvest takes the next
    member, ITOT."""
    ledger = household()
    ledger.apply(trade(ledger, TODAY - timedelta(days=90), SPOUSE, Action.BUY, sold, "20", "55"))
    ledger.apply(trade(ledger, TODAY - timedelta(days=10), SPOUSE, Action.SELL, sold, "20", "50"))

    decision = decide(ledger)

    assert (decision.action, decision.replacement) == (Act.HARVEST, "ITOT")


def test_with_no_other_substitute_an_outside_loss_sale_means_no_harvest() -> None:
    """With VTI -> SCHB alone and the spouse's SCHB loss sale 10 days ago, no replacement may be
    bought: the decision skips and says why (allow_cash is off)."""
    ledger = household()
    ledger.apply(trade(ledger, TODAY - timedelta(days=90), SPOUSE, Action.BUY, "SCHB", "20", "55"))
    ledger.apply(trade(ledger, TODAY - timedelta(days=10), SPOUSE, Action.SELL, "SCHB", "20", "50"))

    decision = decide(ledger, substitutes=(("VTI", "SCHB"),))

    assert decision.action is Act.SKIP
    assert decision.reason.startswith("no_replacement: SCHB: identical security sold at a loss")
