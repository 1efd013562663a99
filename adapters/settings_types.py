"""Building blocks of settings models, shared by the daemon's and each adapter's sections.

Each adapter owns its settings model (`adapters.alpaca.settings`, `adapters.ib.settings`);
the daemon's `Settings` composes them. This module holds what every section uses: the strict
base model (an unknown key is an error naming it, values are frozen) and bounded value types
(every number finite and within what the daemon can use, every secret long enough to be
redacted from the logs).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

# A secret shorter than this is refused: it cannot be told apart from ordinary text in a log.
MIN_SECRET_LENGTH = 8
MAX_SECONDS = 86_400.0


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"must be at least {MIN_SECRET_LENGTH} characters (a shorter secret cannot be kept "
            "out of the logs)"
        )
    return value


Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Host = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
]
Secret = Annotated[SecretStr, AfterValidator(_long_enough)]


class Section(BaseModel):
    """A settings section: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """Return `value` if it is a URL of one of `schemes` with a host; raise ValueError if not."""
    if value is None:
        return value
    if not value.startswith(schemes):
        raise ValueError(f"must start with {' or '.join(schemes)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("is not a valid URL (a host is needed, and no spaces)")
    return value
