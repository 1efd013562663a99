"""Recurring purchases (dividend reinvestment, automatic investment plans) as planned buys.

A `[[recurring]]` entry declares that an account buys a symbol on a schedule. The schedule is
a crontab(5) expression of five fields, ``minute hour day-of-month month day-of-week``, or one
of the nicknames ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``. Each field
is ``*`` or a comma-separated list of values and ranges (``a-b``), any of them with a step
(``*/n``, ``a-b/n``, ``a/n``); months may be named ``jan``-``dec``, weekdays ``sun``-``sat``, and
weekday numbers are crontab's: 0 and 7 are Sunday. Purchases happen on dates, so the minute and
hour are checked but play no part. Two forms are refused:

* a schedule restricting both the day of month and the day of week: crontab buys on either
  (``15 * mon`` is the 15th *and* every Monday), other schedulers on both; the reading is
  ambiguous, so it is left to the writer to say one;
* a schedule that falls on no date (``30 2`` is February 30th).

The fields are parsed here, not by APScheduler: its 3.x `CronTrigger.from_crontab` numbers
weekdays from Monday (its issue 286), so a crontab line would name other days there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ITEM = re.compile(r"(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>[0-9]+))?")
# Every (month, day) of a leap year: a schedule matching none of them never falls on a date.
_LEAP_YEAR = 2028


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_from: int = 0  # the number of the first name

    def value(self, token: str) -> int:
        if token in self.names:
            return self.names.index(token) + self.names_from
        if not token.isdigit():
            raise ValueError(f"{self.name}: {token!r} is not a number or a name")
        n = int(token)
        if not self.low <= n <= self.high:
            raise ValueError(f"{self.name}: {n} is out of range {self.low}-{self.high}")
        return n

    def parse(self, text: str) -> frozenset[int]:
        """Return the values `text` (one field of the expression) selects."""
        out: set[int] = set()
        for item in text.split(","):
            match = _ITEM.fullmatch(item)
            if match is None:
                raise ValueError(f"{self.name}: cannot read {item!r}")
            step = int(match["step"]) if match["step"] is not None else 1
            if step == 0:
                raise ValueError(f"{self.name}: a step must be at least 1 (got {item!r})")
            first, sep, last = match["range"].partition("-")
            if first == "*":
                low, high = self.low, self.high
            else:
                low = self.value(first)
                high = self.value(last) if sep else (self.high if match["step"] else low)
            if low > high:
                raise ValueError(f"{self.name}: the range {item!r} is backwards")
            out.update(range(low, high + 1, step))
        return frozenset(out)


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _WEEKDAYS, 0),
)
_ALL_DAYS = frozenset(range(1, 32))
_ALL_WEEKDAYS = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class Schedule:
    """The dates a crontab expression falls on (see the module's docstring)."""

    text: str
    months: frozenset[int]
    days: frozenset[int]  # of the month; every day when not restricted
    weekdays: frozenset[int]  # crontab numbers, 0 = Sunday; every day when not restricted

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Return the schedule `text` describes; raise ValueError saying what is wrong."""
        expression = NICKNAMES.get(text.strip().lower(), text.strip().lower())
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(
                "must be a crontab expression of 5 fields, minute hour day-of-month month "
                f'day-of-week, such as "0 0 15 * *" (got {len(fields)} fields)'
            )
        _minutes, _hours, days, months, weekdays = (
            f.parse(t) for f, t in zip(_FIELDS, fields, strict=True)
        )
        weekdays = frozenset(d % 7 for d in weekdays)
        if days != _ALL_DAYS and weekdays != _ALL_WEEKDAYS:
            raise ValueError(
                "restricts both the day of month and the day of week, which crontab reads as "
                "either and other schedulers as both: write one of them as *"
            )
        schedule = cls(text.strip(), months, days, weekdays)
        leap = date(_LEAP_YEAR, 1, 1)
        if not any(schedule.falls_on(leap + timedelta(days=n)) for n in range(366)):
            raise ValueError(f"falls on no date ({text.strip()!r})")
        return schedule

    def falls_on(self, day: date) -> bool:
        """Return whether the schedule buys on `day`."""
        return (
            day.month in self.months
            and day.day in self.days
            and (day.weekday() + 1) % 7 in self.weekdays
        )

    def dates(self, start: date, end: date) -> Iterator[date]:
        """Yield the dates from `start` to `end` (both included) the schedule falls on."""
        day = start
        while day <= end:
            if self.falls_on(day):
                yield day
            day += timedelta(days=1)


# Every schedule falls on a date at least once in 8 years (February 29th: 2096 to 2104).
_HORIZON = timedelta(days=8 * 366)


@dataclass(frozen=True, slots=True)
class Recurring:
    """A purchase `account` makes of `symbol` on `schedule`, give or take `slack_days` (a
    weekend or holiday moves it, a dividend's pay date moves), until `until` (included)."""

    account: str
    symbol: str
    schedule: Schedule
    slack_days: int = 3
    until: date | None = None
    where: str = "recurring"  # the configuration key, for messages

    def dates(self, start: date, end: date) -> Iterator[date]:
        """Yield the expected purchase dates from `start` to `end` (both included)."""
        last = end if self.until is None else min(end, self.until)
        return self.schedule.dates(start, last)

    def next_date(self, today: date) -> date | None:
        """Return the first expected purchase date on or after `today` (None: no more)."""
        return next(self.dates(today, today + _HORIZON), None)


LastBought = Callable[[str, str], date | None]
"""The last date `account` (first argument) bought anything identical to `symbol` (second),
from the journal."""


@dataclass(frozen=True, slots=True)
class PlannedBuy:
    """An expected recurring purchase that a sale today could be washed by."""

    plan: Recurring
    on: date

    def describe(self, today: date, window_days: int) -> str:
        """Return the reason a harvest today is refused because of this purchase."""
        plan = self.plan
        what = f"recurring purchase of {plan.symbol} in {plan.account} ({plan.where})"
        if self.on >= today:
            return f"{what} expected on {self.on}, within {window_days} days"
        return (
            f"{what} expected on {self.on}, within {window_days} days, is not in the journal "
            "(taken as made)"
        )


def planned_buy(
    plans: Iterable[Recurring],
    today: date,
    window_days: int,
    last_bought: LastBought,
) -> PlannedBuy | None:
    """Return the expected purchase of `plans` nearest to `today` that would wash a loss sale
    today, or None.

    IRC §1091(a) counts acquisitions from 30 days before the sale to 30 days after it. An
    expected date whose purchase (``slack_days`` either side) may fall in that window counts:

    * ahead of today, it is a planned buy: the sale would be washed when it is made;
    * on or behind today, the purchase was due. When the journal holds a purchase of anything
      identical in that account from that date on (less the slack), the import has caught up
      with it and the ledger's own matching judges what was really bought
      (`Ledger.wash_replacements`). Otherwise it is taken as made: an outside account's
      statement is imported late, and a plan enrolled in is a standing order to buy (§1091(a)
      counts a "contract or option so to acquire").

    A purchase in the journal never stands for an expected date still ahead: one made inside
    the slack before it may be the plan buying early, or the purchase before it (a lot the
    harvest may sell, which the coming purchase would wash); only the date passing tells.

    `plans` are those of a symbol substantially identical to the one sold.
    """
    found: list[tuple[int, bool, PlannedBuy]] = []
    for plan in plans:
        reach = timedelta(days=window_days + plan.slack_days)
        recorded = last_bought(plan.account, plan.symbol)
        for on in plan.dates(today - reach, today + reach):
            if (
                on <= today
                and recorded is not None
                and recorded >= on - timedelta(days=plan.slack_days)
            ):
                continue
            found.append((abs((on - today).days), on < today, PlannedBuy(plan, on)))
    if not found:
        return None
    return min(found, key=lambda f: (f[0], f[1]))[2]
