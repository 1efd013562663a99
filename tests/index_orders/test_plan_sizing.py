"""The buys of a rebalance plan never spend more than the plan has (issue #12 §4–5: the sales'
proceeds plus the plan's cash), and a sale takes from each lot at most what it holds
(`daemon.plan_orders`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from daemon.plan_orders import PlannedBuy, PlanOrder, StoredPlan, per_lot, size_buys

quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(5000), places=3)
prices = st.decimals(min_value=Decimal("0.5"), max_value=Decimal(3000), places=2)
buys = st.lists(
    st.builds(PlannedBuy, st.sampled_from("ABCDEFGH"), quantities, prices), min_size=1, max_size=8
)
budgets = st.decimals(min_value=Decimal(0), max_value=Decimal(10_000_000), places=2)
steps = st.sampled_from([Decimal(1), Decimal("1e-9")])


@given(buys, budgets, steps)
def test_the_sized_buys_fit_the_budget_and_never_exceed_the_plan(
    planned: list[PlannedBuy], budget: Decimal, step: Decimal
) -> None:
    """Spend at the plan's prices stays within the budget; a plan the budget covers is
    bought as planned (to the broker's step); no buy grows beyond its plan; every quantity is
    a multiple of the step."""
    sized = size_buys(planned, budget, step)
    spend = sum((q * b.price for b, q in sized), Decimal(0))
    scaled = sum((b.quantity * b.price for b in planned), Decimal(0)) > budget
    assert [b for b, _ in sized] == planned
    assert all(Decimal(0) <= q <= b.quantity for b, q in sized)
    assert all(q % step == 0 for _, q in sized)
    assert spend <= budget
    if not scaled:
        assert all(b.quantity - q < step for b, q in sized)


def test_whole_shares_scaled_down_are_topped_up_while_the_budget_allows() -> None:
    """Half the money for 5 MSFT at $400 and 4 JNJ at $150: 2 MSFT and 2 JNJ after rounding
    down ($1,100), then one more JNJ fits within $1,300."""
    planned = [
        PlannedBuy("MSFT", Decimal(5), Decimal(400)),
        PlannedBuy("JNJ", Decimal(4), Decimal(150)),
    ]

    sized = size_buys(planned, Decimal(1300), Decimal(1))

    assert [(b.symbol, q) for b, q in sized] == [("MSFT", Decimal(2)), ("JNJ", Decimal(3))]


def test_a_sale_takes_from_each_lot_what_it_holds_and_leaves_the_rest_unsold() -> None:
    """Lots in the plan's order; a lot the ledger does not know takes the rest."""
    held = {"a": Decimal(10), "b": Decimal(3)}

    assert per_lot(Decimal(12), ("a", "b"), held) == [("a", Decimal(10)), ("b", Decimal(2))]
    assert per_lot(Decimal(20), ("a", "b"), held) == [("a", Decimal(10)), ("b", Decimal(3))]
    assert per_lot(Decimal(4), ("x",), held) == [("x", Decimal(4))]


def test_a_stored_plan_reads_back_as_it_was_written() -> None:
    """The repository state holds the plan as JSON with exact decimals."""
    plan = StoredPlan(
        "p1",
        "taxable",
        date(2024, 3, 4),
        [PlanOrder("tlh-xs-1", "AAPL", Decimal("1.5"), Decimal("180.01"), "a", ("a",), "1/2")],
        [PlannedBuy("MSFT", Decimal("0.123456789"), Decimal(400), "underweight")],
        Decimal("12.34"),
        sized=[PlanOrder("tlh-xb-1", "MSFT", Decimal(1), Decimal(400))],
        done=True,
    )

    assert StoredPlan.loads(plan.dumps()) == plan
