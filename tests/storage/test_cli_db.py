"""`tlh db upgrade`: creates the schema, is idempotent, and explains a bad URL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import daemon.cli.db  # noqa: F401  (registers `tlh db` on the app)
from adapters.storage.engine import create_engine
from adapters.storage.migrate import current_revision, head_revision
from daemon.cli import app

runner = CliRunner()


def _revision(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_engine(url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_upgrade_creates_the_schema_and_is_idempotent(db_url: str) -> None:
    """The first run applies the migrations and says so; the second changes nothing."""
    first = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])
    second = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])

    assert first.exit_code == 0, first.output
    assert f"to revision {head_revision()}" in first.output
    assert second.exit_code == 0, second.output
    assert f"already at revision {head_revision()}" in second.output
    assert _revision(db_url) == head_revision()


@pytest.mark.parametrize("bad", ["mysql://u@localhost/tlh", "not a url"])
def test_a_bad_url_exits_2_with_a_message(bad: str) -> None:
    """An unparsable URL or an unsupported backend is a usage error: exit status 2."""
    result = runner.invoke(app, ["db", "upgrade", "--database-url", bad])

    assert result.exit_code == 2
    assert "--database-url" in result.output
    assert "sqlite+aiosqlite" in result.output  # says what would work


def test_an_unreachable_database_exits_2_without_leaking_the_password(tmp_path: Path) -> None:
    """A database that cannot be opened is one line, exit 2, password masked (issue 13 §C.12)."""
    result = runner.invoke(
        app, ["db", "upgrade", "--database-url", "postgresql://tlh:s3cret@127.0.0.1:1/tlh"]
    )

    assert result.exit_code == 2
    assert "cannot open database" in result.output
    assert "s3cret" not in result.output


def test_the_url_defaults_to_the_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --database-url the configuration's database.url (TLH_DATABASE__URL) is used."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'configured.sqlite'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TLH_DATABASE__URL", url)

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert _revision(url) == head_revision()


def test_a_database_it_cannot_migrate_exits_2_in_one_line(tmp_path: Path) -> None:
    """A database stamped by a newer tlh (a revision this one does not know) is the operator's
    to fix, as every command reports those (daemon/cli/failures.py): one line, exit 2."""
    path = tmp_path / "newer.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")

    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])

    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"tlh: cannot upgrade database {url}: ")
