"""`[[recurring]] schedule`: the dates a crontab expression falls on (`strategies.recurring`).

The contract is crontab(5)'s five fields (minute hour day-of-month month day-of-week, weekday
numbers 0 and 7 both Sunday, names jan-dec and sun-sat, ranges, lists, steps) and its nicknames;
tlh refuses what crontab and other schedulers read differently (both day fields restricted) and
what never happens (https://man7.org/linux/man-pages/man5/crontab.5.html).
"""

from __future__ import annotations

from datetime import date

import pytest

from strategies.recurring import Schedule


def _dates(text: str, start: str, end: str) -> list[str]:
    schedule = Schedule.parse(text)
    return [str(d) for d in schedule.dates(date.fromisoformat(start), date.fromisoformat(end))]


@pytest.mark.parametrize(
    ("text", "start", "end", "expected"),
    [
        pytest.param(
            "0 10 15 * *",
            "2026-11-01",
            "2027-01-31",
            ["2026-11-15", "2026-12-15", "2027-01-15"],
            id="monthly-on-the-15th",
        ),
        pytest.param(
            "0 0 25 3,6,9,12 *",
            "2026-01-01",
            "2026-12-31",
            ["2026-03-25", "2026-06-25", "2026-09-25", "2026-12-25"],
            id="quarterly-drip",
        ),
        pytest.param(
            "0 0 1 */3 *",
            "2026-01-01",
            "2026-12-31",
            ["2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"],
            id="step-of-months",
        ),
        pytest.param(
            "0 0 * * 1",
            "2026-12-01",
            "2026-12-14",
            ["2026-12-07", "2026-12-14"],
            id="weekday-1-is-monday",
        ),
        pytest.param(
            "0 0 * * 7",
            "2026-12-01",
            "2026-12-14",
            ["2026-12-06", "2026-12-13"],
            id="weekday-7-is-sunday",
        ),
        pytest.param(
            "0 0 * * SUN",
            "2026-12-01",
            "2026-12-14",
            ["2026-12-06", "2026-12-13"],
            id="weekday-by-name",
        ),
        pytest.param(
            "0 0 1,15 jan-feb *",
            "2027-01-01",
            "2027-03-31",
            ["2027-01-01", "2027-01-15", "2027-02-01", "2027-02-15"],
            id="twice-a-month-named-months",
        ),
        pytest.param(
            "@monthly", "2026-11-02", "2027-01-01", ["2026-12-01", "2027-01-01"], id="nickname"
        ),
        pytest.param(
            "0 0 31 * *",
            "2026-01-01",
            "2026-06-30",
            ["2026-01-31", "2026-03-31", "2026-05-31"],
            id="only-months-with-a-31st",
        ),
    ],
)
def test_a_schedule_falls_on_the_dates_crontab_would_run_it(
    text: str, start: str, end: str, expected: list[str]
) -> None:
    """crontab(5): the expression's dates, day by day; the time of day plays no part."""
    assert _dates(text, start, end) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0 15 *", "5 fields"),
        ("0 0 32 * *", "day of month: 32 is out of range 1-31"),
        ("0 0 15 13 *", "month: 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week: 8 is out of range 0-7"),
        ("0 0 * * funday", "day of week: 'funday' is not a number or a name"),
        ("0 0 20-10 * *", "backwards"),
        ("0 0 */0 * *", "a step must be at least 1"),
        ("0 0 1-7 * mon", "restricts both the day of month and the day of week"),
        ("0 0 30 2 *", "falls on no date"),
        ("0 99 1 * *", "hour: 99 is out of range 0-23"),
        ("monthly on the 15th", "5 fields"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(text: str, message: str) -> None:
    """A schedule is refused with a reason naming the field; one that crontab and other
    schedulers read differently, or that never falls on a date, is refused too."""
    with pytest.raises(ValueError, match=message):
        Schedule.parse(text)
