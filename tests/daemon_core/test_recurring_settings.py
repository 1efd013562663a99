"""`[[recurring]] account, symbol, schedule` (issue #11 §3): what the configuration accepts.

The guide: "Bad input: a clear one-line error naming the file, line and field (or key), exit
code 2, no traceback". The schedule is a crontab expression (`strategies.recurring`); the
symbol is normalised as every symbol setting is; the account need not be in `[accounts]`, since
an imported account carries its own type (`tlh import --type`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import daemon.cli
import daemon.cli.config  # registers `tlh config check`
from daemon.settings import load_settings

WriteConfig = Callable[[str], Path]
GOOD = '[[recurring]]\naccount = "spouse-ira"\nsymbol = "VTI"\nschedule = "0 0 25 3,6,9,12 *"\n'

BAD: list[tuple[str, str, str]] = [
    ('schedule = "quarterly"', "recurring[1].schedule", "5 fields"),
    ('schedule = "0 0 32 * *"', "recurring[1].schedule", "day of month: 32 is out of range"),
    ('schedule = "0 0 30 2 *"', "recurring[1].schedule", "falls on no date"),
    ('schedule = "0 0 15 * mon"', "recurring[1].schedule", "restricts both"),
    ('schedule = ""', "recurring[1].schedule", "at least 1 character"),
    ('symbol = "VT I"', "recurring[1].symbol", "is not a ticker symbol"),
    ("symbol = 5", "recurring[1].symbol", "must be a string"),
    ('account = ""', "recurring[1].account", "at least 1 character"),
    ("slack_days = 16", "recurring[1].slack_days", "less than or equal to 15"),
    ('until = "someday"', "recurring[1].until", "valid date"),
    ('day = "15"', "recurring[1].day", "unknown key"),
]


def _second(line: str) -> str:
    """Return the config with a second `[[recurring]]` whose `line` replaces its own key."""
    fields = {"account": '"ira"', "symbol": '"VXUS"', "schedule": '"0 0 15 * *"'}
    key = line.split("=", 1)[0].strip()
    fields.pop(key, None)
    body = "".join(f"{k} = {v}\n" for k, v in fields.items())
    return f"{GOOD}\n[[recurring]]\n{body}{line}\n"


@pytest.mark.parametrize(("line", "key", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_recurring_purchase_exits_2_naming_the_key(
    write_config: WriteConfig, line: str, key: str, message: str
) -> None:
    """`tlh config check`: exit 2, one line naming the file and `recurring[N].key`, and what is
    wrong; no traceback."""
    path = write_config(_second(line))

    result = CliRunner().invoke(daemon.cli.app, ["config", "check", "--config", str(path)])

    assert result.exit_code == 2, result.output
    [shown] = result.output.strip().splitlines()
    assert shown.startswith(f"{path}: {key}: "), shown
    assert message in shown
    assert "Traceback" not in result.output


def test_a_recurring_purchase_is_read_as_the_guards_planned_buys(
    write_config: WriteConfig,
) -> None:
    """The symbol is normalised (" vxus " is VXUS), `until` is a TOML date, `slack_days`
    defaults to 3, and each purchase carries its key for the guard's messages."""
    path = write_config(
        GOOD + '\n[[recurring]]\naccount = "ira"\nsymbol = " vxus "\nschedule = "@monthly"\n'
        "slack_days = 5\nuntil = 2027-06-30\n"
    )

    drip, plan = load_settings(path).recurring_purchases()

    assert (drip.account, drip.symbol, drip.slack_days, drip.until) == (
        "spouse-ira",
        "VTI",
        3,
        None,
    )
    assert drip.next_date(date(2026, 12, 7)) == date(2026, 12, 25)
    assert (plan.symbol, plan.slack_days, plan.until, plan.where) == (
        "VXUS",
        5,
        date(2027, 6, 30),
        "recurring[1]",
    )
    assert plan.next_date(date(2027, 7, 1)) is None
