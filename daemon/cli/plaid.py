"""`tlh plaid link` and the Plaid source of `tlh import --plaid`.

Plaid Link, which turns a user's bank login into an Item, runs in a browser (Plaid's Link
web or mobile SDK, on a page the user serves with a link token): tlh cannot show it. What it
does is the exchange around it: ``tlh plaid link --public-token TOKEN`` exchanges the public
token Link returned for an access token (``/item/public_token/exchange``); ``--sandbox``
creates a sandbox Item without a browser (``/sandbox/public_token/create``, institution
``ins_109508``) and exchanges its token. The access token is printed on stdout, once, for the
user to store as a secret file; it never reaches a log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer

from adapters.importers import InputError
from adapters.plaid.client import PlaidClient, PlaidError
from adapters.plaid.fetch import fetch_item
from adapters.plaid.history import ItemHistory
from adapters.plaid.settings import PlaidItem
from adapters.storage.engine import create_engine
from adapters.storage.migrate import current_revision
from adapters.storage.records import JournalRecord
from adapters.storage.repository import Repository
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail
from daemon.logging import configure_logging
from daemon.market_calendar import NEW_YORK
from daemon.settings import Settings

plaid_app = typer.Typer(help="Plaid investment accounts: link an Item.", no_args_is_help=True)
app.add_typer(plaid_app, name="plaid")


@plaid_app.command("link")
def link(
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Create a sandbox Item (no browser) and exchange its token."
        ),
    ] = False,
    public_token: Annotated[
        str | None,
        typer.Option(
            "--public-token",
            help="Exchange this public token, returned by Plaid Link in a browser.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Get an Item's access token: Plaid Link needs a browser; this does the exchange.

    Open Plaid Link (Plaid's Link SDK, with a link token for the investments product) in a
    browser, log in to the institution, and pass the public token it returns with
    --public-token. With --sandbox no browser is needed. Needs [plaid] client_id and secret.
    """
    if sandbox == (public_token is not None):
        fail("give exactly one of --sandbox or --public-token TOKEN (from Plaid Link)")
    settings = load_settings_or_exit(config)
    secrets = (*settings.secret_values(), *((public_token,) if public_token else ()))
    configure_logging(settings.logging.level, settings.logging.format, secrets)
    if sandbox and settings.plaid.environment != "sandbox":
        fail('--sandbox needs [plaid] environment = "sandbox"')
    try:
        client = PlaidClient(settings.plaid)
        access_token, item_id = asyncio.run(_exchange(client, public_token))
    except PlaidError as exc:
        fail(str(exc))
    typer.echo(access_token)
    typer.echo(
        f"Linked Item {item_id}. Store the access token above (the line alone) as a secret "
        "file readable only by tlh, e.g. /etc/tlh/secrets/plaid-ACCOUNT.token (chmod 600), "
        "and add to tlh.toml:\n"
        "  [[plaid.items]]\n"
        '  account = "ACCOUNT"\n'
        '  access_token_file = "/etc/tlh/secrets/plaid-ACCOUNT.token"\n'
        "Never put it in tlh.toml itself or in a shell history.",
        err=True,
    )


async def _exchange(client: PlaidClient, public_token: str | None) -> tuple[str, str]:
    token = public_token or await client.sandbox_public_token()
    return await client.exchange_public_token(token)


def plaid_items(settings: Settings, account: str | None) -> Sequence[PlaidItem]:
    """Return the Items `tlh import --plaid` imports: all, or the one linked to `account`."""
    items = settings.plaid.items
    if not items:
        fail("--plaid: no [[plaid.items]] in the configuration (see `tlh plaid link`)")
    if account is None:
        return items
    item = settings.plaid.item(account)
    if item is None:
        linked = ", ".join(i.account for i in items)
        fail(f"--account {account!r} has no [[plaid.items]] entry (linked: {linked})")
    return (item,)


def fetch_history(settings: Settings, item: PlaidItem) -> ItemHistory:
    """Fetch `item` for an import against the journal as it is; exit 2 on a Plaid failure."""
    today = datetime.now(NEW_YORK).date()
    try:
        journal = asyncio.run(_journal(settings.database.url))
        return asyncio.run(fetch_item(settings.plaid, item, today=today, journal=journal))
    except PlaidError as exc:
        fail(str(exc))
    except InputError as exc:
        fail(str(exc), bare=True)


async def _journal(url: str) -> Sequence[JournalRecord]:
    """Return the journal's records (none when the database does not exist yet)."""
    from daemon.cli.imports import _no_database_file

    if await asyncio.to_thread(_no_database_file, url):
        return []
    db = create_engine(url)
    try:
        if await current_revision(db) is None:
            return []
        return await Repository(db).load_journal()
    finally:
        await db.dispose()


def report_unexplained(history: ItemHistory) -> None:
    """Warn (stderr) about positions the journal holds more, or less, of than Plaid."""
    for symbol, extra in sorted(history.unexplained.items()):
        typer.echo(
            f"warning: account {history.account}: the journal holds {extra} {symbol} more than "
            "Plaid's holdings (a transfer out, or holdings Plaid has not updated yet)",
            err=True,
        )
    for symbol, extra in sorted(history.unposted.items()):
        typer.echo(
            f"warning: account {history.account}: Plaid holds {extra} {symbol} more than the "
            "journal (a purchase whose transaction has not posted yet, or a transfer in); "
            "nothing is added until its transaction posts",
            err=True,
        )
