"""`[plaid]` and `[[plaid.items]]`: Plaid credentials and the linked investment accounts.

Plaid gives holdings and transactions, not the broker's tax lots: it is the source of the
purchases the wash guard must see in the household's outside accounts, and of their positions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from adapters.settings_types import Secret, Section, Text, check_url


class PlaidItem(Section):
    """One linked Plaid Item (an institution login) and the tlh account it feeds."""

    account: Text
    access_token: Secret


class PlaidSettings(Section):
    """Plaid API credentials, environment and linked Items."""

    client_id: Secret | None = None
    secret: Secret | None = None
    environment: Literal["sandbox", "production"] = "sandbox"
    url: str | None = None  # override the environment's host (a local fake in tests)
    items: tuple[PlaidItem, ...] = ()

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return check_url(value, ("https://", "http://"))
