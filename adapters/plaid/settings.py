"""`[plaid]` and `[[plaid.items]]`: Plaid credentials and the linked investment accounts.

Plaid gives holdings and transactions, not the broker's tax lots: it is the source of the
purchases the wash guard must see in the household's outside accounts, and of their positions.

Secrets: `client_id` and `secret` come from ``TLH_PLAID__CLIENT_ID`` / ``TLH_PLAID__SECRET``
(or secret files of those names); an Item's access token from `access_token_file` (a file
holding only the token, e.g. in the secrets directory) or, less safely, `access_token`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from adapters.settings_types import MIN_SECRET_LENGTH, Secret, Section, Text, check_url
from ledger.model import AccountType

HOSTS = {"sandbox": "https://sandbox.plaid.com", "production": "https://production.plaid.com"}


class PlaidItem(Section):
    """One linked Plaid Item (an institution login) and the tlh account it feeds.

    `type` overrides the tax treatment read from Plaid's account subtype; `account_id` picks
    one of the Item's investment accounts when it has several (default: all of them).
    """

    account: Text
    access_token: Secret | None = None
    access_token_file: Path | None = None
    type: AccountType | None = None
    account_id: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _token_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("access_token_file") is None:
            return data
        if data.get("access_token") is not None:
            raise ValueError("give access_token or access_token_file, not both")
        path = Path(str(data["access_token_file"])).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"access_token_file: cannot read {path}: {exc}") from None
        if len(token) < MIN_SECRET_LENGTH:
            raise ValueError(f"access_token_file: {path} holds no access token")
        return {**data, "access_token": token}

    @model_validator(mode="after")
    def _has_token(self) -> PlaidItem:
        if self.access_token is None:
            raise ValueError(
                f"item {self.account!r}: access_token is required (access_token_file = a file "
                "holding the token from `tlh plaid link`)"
            )
        return self

    def token(self) -> str:
        """Return the access token (never log it)."""
        assert self.access_token is not None  # checked on validation
        return self.access_token.get_secret_value()


class PlaidSettings(Section):
    """Plaid API credentials, environment, linked Items and the daemon's sync interval."""

    client_id: Secret | None = None
    secret: Secret | None = None
    environment: Literal["sandbox", "production"] = "sandbox"
    url: str | None = None  # override the environment's host (a local fake in tests)
    items: tuple[PlaidItem, ...] = ()
    # How often the running daemon syncs the Items while the market is open.
    sync_minutes: int = Field(default=60, ge=5, le=24 * 60)
    # How long one call may keep retrying PRODUCT_NOT_READY and rate limits, in total.
    retry_seconds: float = Field(default=120.0, gt=0, le=3600, allow_inf_nan=False)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return check_url(value, ("https://", "http://"))

    @field_validator("items")
    @classmethod
    def _one_item_per_account(cls, items: tuple[PlaidItem, ...]) -> tuple[PlaidItem, ...]:
        seen: set[str] = set()
        for item in items:
            if item.account in seen:
                raise ValueError(f"account {item.account!r} is linked twice")
            seen.add(item.account)
        return items

    @model_validator(mode="after")
    def _credentials(self) -> PlaidSettings:
        if self.items:
            for key in ("client_id", "secret"):
                if getattr(self, key) is None:
                    raise ValueError(
                        f"{key} is required when [[plaid.items]] are configured (set "
                        f"TLH_PLAID__{key.upper()} or a secret file of that name)"
                    )
        return self

    def host(self) -> str:
        """Return the API host: `url` when set, else the environment's."""
        return self.url or HOSTS[self.environment]

    def item(self, account: str) -> PlaidItem | None:
        """Return the Item linked to `account`, if any."""
        return next((i for i in self.items if i.account == account), None)

    def secret_values(self) -> tuple[str, ...]:
        """Return the credentials and access tokens, for the log redactor."""
        values: list[SecretStr | None] = [self.client_id, self.secret]
        values += [item.access_token for item in self.items]
        return tuple(v.get_secret_value() for v in values if v is not None)
