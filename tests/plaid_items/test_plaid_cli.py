"""`tlh import --plaid` and `tlh plaid link`, run as the user runs them, against the fake Plaid.

The commands are the issue #11 contract; a failure is one line naming the account and Plaid's
error code, exit 2, with no secret on any stream, even at DEBUG.
"""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from pathlib import Path

from tests.fake_plaid.server import (
    CLIENT_ID,
    ECHOING_ACCESS_TOKEN,
    SECRET,
    FakePlaid,
    Transaction,
)
from tests.run_command.commandkit import TLH, tlh_env

from .plaidkit import TOKEN, hold, ira_item


def run(fake: FakePlaid, tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `tlh ARGS` with a tlh.toml linking the spouse's IRA, the token in a file."""
    token = tmp_path / "plaid-spouse.token"
    token.write_text(TOKEN + "\n")
    config = tmp_path / "tlh.toml"
    config.write_text(
        f'[plaid]\nurl = "{fake.url}"\n\n'
        f'[[plaid.items]]\naccount = "spouse-ira"\naccess_token_file = "{token}"\n'
    )
    env = tlh_env(url) | {
        "TLH_PLAID__CLIENT_ID": CLIENT_ID,
        "TLH_PLAID__SECRET": SECRET,
        "TLH_LOGGING__LEVEL": "DEBUG",
    }
    return subprocess.run(
        [str(TLH), *args, "--config", str(config)],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


def linked(fake: FakePlaid) -> None:
    """Link the spouse's IRA: 3 VTI bought a week ago, 5 held (2 from before the window)."""
    item = ira_item(fake)
    week_ago = date.today() - timedelta(days=7)
    item.transactions.append(
        Transaction("tx-ira-1", "acct-1", "sec-vti", week_ago, "buy", "buy", 3, 240.0)
    )
    hold(item, 5, 1100.0)


def test_import_plaid_dry_run_then_import_then_nothing_new(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """--dry-run prints the table and writes nothing; the import adds the purchase and the
    opening lot; importing again adds nothing."""
    linked(fake_plaid)

    dry = run(fake_plaid, tmp_path, sqlite_url, "import", "--plaid", "--dry-run")
    assert not (tmp_path / "tlh.sqlite").exists()  # the dry run wrote nothing
    done = run(fake_plaid, tmp_path, sqlite_url, "import", "--plaid", "--account", "spouse-ira")
    again = run(fake_plaid, tmp_path, sqlite_url, "import", "--plaid")

    assert dry.returncode == 0, dry.stderr
    assert "Would add (dry run): account spouse-ira" in dry.stdout
    assert "plaid:tx-ira-1" in dry.stdout
    assert "plaid:opening:spouse-ira:VTI" in dry.stdout
    assert done.returncode == 0, done.stderr
    assert "imported 2 journal entries into account spouse-ira" in done.stdout
    assert again.returncode == 0, again.stderr
    assert "imported 0 journal entries" in again.stdout
    assert "1 transaction(s) already in the journal" in again.stdout  # no gap: no opening


def test_a_plaid_error_exits_2_naming_the_account_and_code_without_secrets(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """INVALID_ACCESS_TOKEN, its message echoing the token (as a hostile server may): one
    line naming the account and the code, exit 2, nothing of the token or the credentials on
    stdout or stderr (logs at DEBUG included)."""
    linked(fake_plaid)
    fake_plaid.fail_next("/investments/transactions/get", ECHOING_ACCESS_TOKEN)

    result = run(fake_plaid, tmp_path, sqlite_url, "import", "--plaid")

    assert result.returncode == 2
    assert "spouse-ira" in result.stderr
    assert "INVALID_ACCESS_TOKEN" in result.stderr
    assert "[redacted]" in result.stderr  # the echo arrived, scrubbed
    for secret in (TOKEN, SECRET, CLIENT_ID):
        for part in (secret, secret[:12], secret[-12:]):
            assert part not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_account_without_an_item_is_refused(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """--account must name a linked item."""
    result = run(fake_plaid, tmp_path, sqlite_url, "import", "--plaid", "--account", "other")

    assert result.returncode == 2
    assert "'other'" in result.stderr
    assert "spouse-ira" in result.stderr


def test_plaid_link_sandbox_prints_the_access_token_once(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """--sandbox: /sandbox/public_token/create then /item/public_token/exchange; the access
    token goes to stdout alone, with instructions to store it as a secret file on stderr."""
    result = run(fake_plaid, tmp_path, sqlite_url, "plaid", "link", "--sandbox")

    assert result.returncode == 0, result.stderr
    (exchange,) = fake_plaid.calls("/item/public_token/exchange")
    access = result.stdout.strip()
    assert fake_plaid.items[access]  # the Item the fake created
    assert exchange["public_token"].startswith("public-sandbox-")
    assert "access_token_file" in result.stderr
    assert access not in result.stderr


def test_plaid_link_exchanges_a_public_token_from_link(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """--public-token: a token Link did not issue is Plaid's INVALID_PUBLIC_TOKEN, exit 2."""
    result = run(fake_plaid, tmp_path, sqlite_url, "plaid", "link", "--public-token", "public-x1")

    assert result.returncode == 2
    assert "INVALID_PUBLIC_TOKEN" in result.stderr
