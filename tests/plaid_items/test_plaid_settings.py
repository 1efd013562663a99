"""`[plaid]` and `[[plaid.items]]`: every problem names its key; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.settings import ConfigError, load_settings

CREDENTIALS = {"TLH_PLAID__CLIENT_ID": "client-id-0001", "TLH_PLAID__SECRET": "secret-0000001"}


def problems(tmp_path: Path, toml: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "tlh.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env if env is not None else CREDENTIALS)
    return str(caught.value)


def test_items_need_the_credentials(tmp_path: Path) -> None:
    """Linked Items without [plaid] client_id cannot be synced: the error names the key."""
    toml = '[[plaid.items]]\naccount = "spouse-ira"\naccess_token = "access-sandbox-1"\n'

    message = problems(tmp_path, toml, env={})

    assert "plaid" in message
    assert "client_id" in message
    assert "access-sandbox-1" not in message


def test_an_item_needs_an_access_token(tmp_path: Path) -> None:
    """An item without a token is an error naming the item and access_token."""
    message = problems(tmp_path, '[[plaid.items]]\naccount = "spouse-ira"\n')

    assert "plaid.items[0]" in message
    assert "access_token" in message


def test_an_unknown_item_key_is_named(tmp_path: Path) -> None:
    """A misspelt key of an item is refused by name."""
    toml = (
        '[[plaid.items]]\naccount = "a"\naccess_token = "access-sandbox-1"\nacount_type = "ira"\n'
    )

    assert "plaid.items[0].acount_type" in problems(tmp_path, toml)


def test_an_account_linked_twice_is_refused(tmp_path: Path) -> None:
    """Two items feeding one account would import one history twice."""
    item = '[[plaid.items]]\naccount = "a"\naccess_token = "access-sandbox-{}"\n'

    message = problems(tmp_path, item.format(1) + item.format(2))

    assert "plaid.items" in message
    assert "linked twice" in message


def test_the_access_token_file_is_read_and_redacted(tmp_path: Path) -> None:
    """access_token_file holds the token; it joins the secrets the log redactor scrubs."""
    token = tmp_path / "plaid-spouse.token"
    token.write_text("access-production-secret-1\n")
    path = tmp_path / "tlh.toml"
    path.write_text(f'[[plaid.items]]\naccount = "spouse-ira"\naccess_token_file = "{token}"\n')

    settings = load_settings(path, env=CREDENTIALS)

    assert settings.plaid.items[0].token() == "access-production-secret-1"
    assert "access-production-secret-1" in settings.secret_values()
    assert "secret-0000001" in settings.secret_values()


def test_an_unreadable_token_file_names_the_key(tmp_path: Path) -> None:
    """A token file that is missing is an error naming access_token_file."""
    toml = '[[plaid.items]]\naccount = "a"\naccess_token_file = "/nonexistent/plaid.token"\n'

    message = problems(tmp_path, toml)

    assert "plaid.items[0]" in message
    assert "access_token_file" in message


def test_sync_minutes_is_bounded(tmp_path: Path) -> None:
    """The sync interval is at least 5 minutes (Plaid rate-limits investments calls)."""
    assert "plaid.sync_minutes" in problems(tmp_path, "[plaid]\nsync_minutes = 1\n")
