"""Errors raised by the ledger when a history cannot be applied."""

from __future__ import annotations


class LedgerError(ValueError):
    """Raise when a trade or event cannot be applied to the ledger.

    `field` names the offending input field (e.g. ``lot_id`` or ``quantity``) so that the
    importer can point the user at the file, line and field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownLotError(LedgerError):
    """Raise when a sale names a lot that does not exist or is already fully sold."""


class OversellError(LedgerError):
    """Raise when a sale is for more than is held."""
