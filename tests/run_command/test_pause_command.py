"""`tlh pause` / `tlh resume` against a real `tlh run` on the same journal (issue #10 §4).

"stop and restart new orders without a restart of the daemon; the state survives a restart;
`tlh status` shows it." The commands write the state to the database; the running daemon
re-reads it every 2 s, logs `orders_paused` / `orders_resumed` and acknowledges it, and the
command says whether a running daemon did (`daemon/pause.py`, `daemon/cli/pause.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from commandkit import RunningDaemon, tlh

pytestmark = pytest.mark.timeout(120)
PAUSED_ACK = "paused: the running daemon stopped new orders"


@pytest.fixture
def daemon(db_url: str, tmp_path: Path) -> Iterator[RunningDaemon]:
    """Yield a running `tlh run` on `db_url`; it is stopped afterwards."""
    running = RunningDaemon.start(db_url, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_tlh_pause_reaches_the_running_daemon(
    db_url: str, tmp_path: Path, daemon: RunningDaemon
) -> None:
    """`tlh pause` from another process: the running daemon stops new orders (its log says
    who and why), and the command says the daemon acknowledged it."""
    result = tlh(db_url, tmp_path, "pause", "--reason", "moving money")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == PAUSED_ACK
    logged = daemon.wait_for("orders_paused")
    assert (logged["by"], logged["reason"]) == ("cli", "moving money")


def test_tlh_resume_reaches_the_running_daemon(
    db_url: str, tmp_path: Path, daemon: RunningDaemon
) -> None:
    """`tlh resume` restarts new orders in the running daemon, no restart needed."""
    assert tlh(db_url, tmp_path, "pause").returncode == 0

    result = tlh(db_url, tmp_path, "resume")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "resumed: the running daemon takes new orders again"
    assert daemon.wait_for("orders_resumed")["by"] == "cli"


def test_pausing_twice_says_it_was_already_paused(
    db_url: str, tmp_path: Path, daemon: RunningDaemon
) -> None:
    """`tlh pause` is idempotent: the second one exits 0 and names the pause in force."""
    assert tlh(db_url, tmp_path, "pause", "--reason", "first").returncode == 0

    again = tlh(db_url, tmp_path, "pause", "--reason", "second")

    assert again.returncode == 0, again.stdout + again.stderr
    first_line, ack = again.stdout.strip().splitlines()
    assert first_line.startswith("already paused since ")
    assert first_line.endswith(" by cli: first")
    assert ack == PAUSED_ACK


def test_pausing_again_after_the_daemon_exited_claims_no_acknowledgement(
    db_url: str, tmp_path: Path
) -> None:
    """#10 §4 review: the daemon that acknowledged the pause has exited; a second `tlh pause`
    must not report the old acknowledgement as a running daemon's."""
    daemon = RunningDaemon.start(db_url, tmp_path)
    try:
        assert tlh(db_url, tmp_path, "pause").stdout.strip() == PAUSED_ACK
    finally:
        daemon.stop()

    again = tlh(db_url, tmp_path, "pause")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip().splitlines()[1:] == [
        "paused: no running daemon acknowledged; it will start paused"
    ]


def test_tlh_status_shows_the_pause(db_url: str, tmp_path: Path, daemon: RunningDaemon) -> None:
    """`tlh status` shows whether new orders are paused, since when, by whom and why."""
    before = tlh(db_url, tmp_path, "status")
    assert tlh(db_url, tmp_path, "pause", "--reason", "audit").returncode == 0

    after = tlh(db_url, tmp_path, "status")

    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert row(before.stdout, "paused") == "no"
    shown = row(after.stdout, "paused")
    assert shown.startswith("yes since ")
    assert shown.endswith(" by cli: audit")


def test_a_daemon_restarted_while_paused_starts_paused(db_url: str, tmp_path: Path) -> None:
    """The state survives a restart: paused while no daemon runs, `tlh pause` says the daemon
    will start paused, and the next `tlh run` applies the pause before its engine starts
    (before any order can leave)."""
    RunningDaemon.start(db_url, tmp_path, "first.log").stop()

    result = tlh(db_url, tmp_path, "pause", "--reason", "away")
    restarted = RunningDaemon.start(db_url, tmp_path, "second.log")
    try:
        events = [e["event"] for e in restarted.events()]
    finally:
        restarted.stop()

    assert result.stdout.strip() == "paused: no running daemon acknowledged; it will start paused"
    assert events.index("orders_paused") < events.index("engine_started")


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_a_bad_configuration_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    """The guide: bad input names the key, exits 2, no traceback."""
    (tmp_path / "tlh.toml").write_text("[risk]\nkill_swich = true\n")

    result = tlh(f"sqlite+aiosqlite:///{tmp_path / 'tlh.sqlite'}", tmp_path, command)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "kill_swich" in result.stderr
    assert "Traceback" not in result.stderr


def row(table: str, label: str) -> str:
    """Return the value of the row `label` of a rich table printed by `tlh status`."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[0] == label:
            return cells[1]
    raise AssertionError(f"no row {label!r} in:\n{table}")
