"""A declared recurring purchase is a planned buy: the daemon does not harvest into it.

IRC §1091(a) disallows a loss when substantially identical stock is acquired "within a period
beginning 30 days before the date of such sale ... and ending 30 days after such date", in any
account of the household (an IRA's dividend reinvestment: Rev. Rul. 2008-5, a loss lost for
good; a spouse's purchase: Pub 550). Issue #11 §3: "Known recurring purchases ... can be
declared per account (`[[recurring]] account, symbol, schedule`); the guard treats the next
expected purchase as a planned buy". An expected date counts with its `slack_days` either side
(the real purchase moves with weekends and pay dates); a past one not in the journal is taken as
made (/work/shared/reference/wash-sale-rules.md, "Trigger"; `strategies.recurring.planned_buy`).

Household (guardkit): "me" holds 40 VTI at $200, quoted $180; today is Monday 2026-12-07.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from guardkit import IRA, ME, SPOUSE, TODAY, decide, household, plan, trade
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.engine import Ledger
from ledger.model import Action
from strategies.decision import Action as Act
from strategies.recurring import PlannedBuy, planned_buy

PROPERTY = settings(max_examples=300, deadline=None)


def _on(offset: int) -> str:
    """Return a yearly schedule falling `offset` days from today."""
    day = TODAY + timedelta(days=offset)
    return f"0 0 {day.day} {day.month} *"


def test_a_drip_expected_within_30_days_blocks_the_harvest_naming_it() -> None:
    """The spouse's quarterly dividend reinvestment of VTI is due on 2026-12-20, 13 days from
    now: a loss sale of VTI today would be washed by it, so the decision skips, naming the
    account, the symbol, the expected date and the configuration key."""
    decision = decide(household(), [plan("0 0 20 3,6,9,12 *")])

    assert decision.action is Act.SKIP
    assert decision.reason == (
        "wash_guard: recurring purchase of VTI in spouse (recurring[0]) expected on "
        "2026-12-20, within 30 days"
    )


def test_without_the_plan_the_same_position_is_harvested() -> None:
    """The control: the household alone harvests VTI into SCHB."""
    decision = decide(household())

    assert (decision.action, decision.replacement) == (Act.HARVEST, "SCHB")


def test_a_plan_of_a_declared_identical_symbol_in_an_ira_blocks() -> None:
    """`[[identical]]` VTI ~ VTSAX: the IRA's monthly VTSAX purchase (an automatic investment
    plan) on the 15th would wash a VTI loss, for good in an IRA (Rev. Rul. 2008-5)."""
    decision = decide(household(), [plan("0 0 15 * *", account=IRA, symbol="VTSAX")])

    assert decision.action is Act.SKIP
    assert "recurring purchase of VTSAX in ira (recurring[0]) expected on 2026-12-15" in (
        decision.reason
    )


@pytest.mark.parametrize(
    ("offset", "blocked"),
    [
        pytest.param(0, True, id="today"),
        pytest.param(30, True, id="30-days-after"),
        pytest.param(33, True, id="30-days-after-plus-slack"),
        pytest.param(34, False, id="beyond-the-slack-after"),
        pytest.param(-30, True, id="30-days-before"),
        pytest.param(-33, True, id="30-days-before-plus-slack"),
        pytest.param(-34, False, id="beyond-the-slack-before"),
    ],
)
def test_the_window_is_30_days_either_side_widened_by_the_slack(offset: int, blocked: bool) -> None:
    """§1091(a)'s 61-day period, plus `slack_days` (3) either side of the expected date: a
    purchase due 34 days away cannot fall within 30 days of a sale today, and does not block."""
    decision = decide(household(), [plan(_on(offset))])

    assert (decision.action is Act.SKIP) is blocked
    assert (decision.action is Act.HARVEST) is not blocked


def test_a_due_purchase_not_in_the_journal_is_taken_as_made() -> None:
    """The spouse's plan bought on 2026-11-20 (17 days ago) and the spouse's statement is not
    imported yet: the guard cannot know it was not made, so it counts it."""
    decision = decide(household(), [plan("0 0 20 11 *")])

    assert decision.action is Act.SKIP
    assert decision.reason.endswith(
        "expected on 2026-11-20, within 30 days, is not in the journal (taken as made)"
    )


def test_a_due_purchase_in_the_journal_is_the_ledgers_to_judge() -> None:
    """Once imported, the real purchase stands for the expected one: the spouse's plan bought
    VTI on 2026-11-21 (a day late, within the slack) and sold it at a gain on 2026-11-25, so
    no replacement shares are held and the ledger's own matching washes nothing
    (`Ledger.wash_replacements`): the harvest goes ahead."""
    ledger = household()
    ledger.apply(trade(ledger, date(2026, 11, 21), SPOUSE, Action.BUY, "VTI", "2", "175"))
    ledger.apply(trade(ledger, date(2026, 11, 25), SPOUSE, Action.SELL, "VTI", "2", "185"))

    decision = decide(ledger, [plan("0 0 20 11 *")])

    assert decision.action is Act.HARVEST


def test_an_imported_purchase_still_held_blocks_as_the_ledgers_replacement() -> None:
    """The same imported purchase, still held: the ledger finds it as a replacement and the
    reason names its lot, as for any purchase in the journal."""
    ledger = household()
    ledger.apply(trade(ledger, date(2026, 11, 21), SPOUSE, Action.BUY, "VTI", "2", "175"))

    decision = decide(ledger, [plan("0 0 20 11 *")])

    assert decision.action is Act.SKIP
    assert "in spouse bought 2026-11-21" in decision.reason
    assert "recurring" not in decision.reason


# A quarterly plan of "me" due 2027-04-01 (slack 3 days) and a purchase of it recorded on
# 2027-03-29, within the slack before the date; today is 2027-03-31.
_QUARTERLY = "0 0 1 1,4,7,10 *"
_RECORDED, _DUE, _EVE = date(2027, 3, 29), date(2027, 4, 1), date(2027, 3, 31)


def test_a_purchase_recorded_before_a_date_still_ahead_does_not_stand_for_it() -> None:
    """The 2027-03-29 purchase may be the plan's April buy made early, or a purchase before it:
    until the date passes the guard cannot tell, so the April purchase stays planned (§1091(a):
    an acquisition in the 30 days after a sale washes it; wash-sale-rules.md, "Trigger")."""
    quarterly = plan(_QUARTERLY, account=ME)

    found = planned_buy([quarterly], _EVE, 30, lambda account, symbol: _RECORDED)

    assert found == PlannedBuy(quarterly, _DUE)


def test_once_the_date_has_passed_the_recorded_purchase_stands_for_it() -> None:
    """The control: on 2027-04-02 the same purchase is the plan's April buy, and the ledger's
    own matching judges it (`Ledger.wash_replacements`)."""
    quarterly = plan(_QUARTERLY, account=ME)

    found = planned_buy([quarterly], _DUE + timedelta(days=1), 30, lambda a, s: _RECORDED)

    assert found is None


def test_the_lot_bought_just_before_a_planned_purchase_is_not_harvested_into_it() -> None:
    """Through the harvest decision: "me" holds only the 40 VTI bought at $200 on 2027-03-29,
    quoted at $180. The lot is not its own replacement (convention 2), so the ledger finds
    nothing to wash it; the plan's purchase due tomorrow would (IRC §1091(a)), and the decision
    skips naming it."""
    ledger = Ledger(identity=household().identity)
    ledger.apply(trade(ledger, _RECORDED, ME, Action.BUY, "VTI", "40", "200"))

    decision = decide(ledger, [plan(_QUARTERLY, account=ME)], today=_EVE)

    assert decision.action is Act.SKIP
    assert decision.reason == (
        "wash_guard: recurring purchase of VTI in me (recurring[0]) expected on "
        "2027-04-01, within 30 days"
    )


def test_a_plan_ended_by_until_no_longer_blocks() -> None:
    """`until = 2026-10-31`: the plan's last purchase was on 2026-10-20, 48 days ago; those
    of November and December are not made."""
    decision = decide(household(), [plan("0 0 20 * *", until=date(2026, 10, 31))])

    assert decision.action is Act.HARVEST


def test_a_plan_of_the_substitute_does_not_block_and_is_bought() -> None:
    """SCHB is not substantially identical to VTI: a recurring SCHB purchase washes no VTI
    loss, and SCHB is still the replacement (buying it washes nothing either)."""
    decision = decide(household(), [plan("0 0 15 * *", symbol="SCHB")])

    assert (decision.action, decision.replacement) == (Act.HARVEST, "SCHB")


@st.composite
def _schedules(draw: st.DrawFn) -> tuple[str, set[date]]:
    """Return a monthly-style or weekly schedule and its dates within a year of TODAY, computed
    from its parts (not by the code under test)."""
    span = [TODAY + timedelta(days=n) for n in range(-400, 400)]
    if draw(st.booleans()):
        day = draw(st.integers(1, 28))
        months = draw(st.sets(st.integers(1, 12), min_size=1))
        text = f"0 0 {day} {','.join(map(str, sorted(months)))} *"
        return text, {d for d in span if d.day == day and d.month in months}
    weekday = draw(st.integers(0, 6))  # crontab's: 0 is Sunday
    return f"0 0 * * {weekday}", {d for d in span if (d.weekday() + 1) % 7 == weekday}


@PROPERTY
@given(
    _schedules(),
    st.integers(-200, 200),
    st.integers(0, 7),
    st.sampled_from(["VTI", "VTSAX"]),
    st.sampled_from([ME, SPOUSE, IRA]),
)
def test_no_harvest_when_an_identical_recurring_purchase_falls_within_30_days(
    schedule: tuple[str, set[date]], shift: int, slack: int, symbol: str, account: str
) -> None:
    """Invariant (IRC §1091(a)): whatever the schedule, the day, the slack, the account and the
    identical symbol, no harvest is decided while a recurring purchase is due within 30 days
    either side of today; and one due nowhere within 30 days plus the slack does not block."""
    text, dates = schedule
    today = TODAY + timedelta(days=shift)
    gaps = {abs((d - today).days) for d in dates}

    decision = decide(
        household(),
        [plan(text, account=account, symbol=symbol, slack_days=slack)],
        today=today,
    )

    if min(gaps) <= 30:
        assert decision.action is Act.SKIP
        assert decision.reason.startswith(f"wash_guard: recurring purchase of {symbol} in")
    if min(gaps) > 30 + slack:
        assert decision.action is Act.HARVEST
