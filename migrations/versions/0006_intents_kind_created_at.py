"""The outbox is searched by kind and age: an index on intents (kind, created_at).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20

Hand-written: the order manager's daily recovery reads the recent intents of a kind
(`Repository.intents_of_kind` with `since`); without the index each read walks every intent
ever stored in that status, a cost growing with the outbox's history.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the intents by kind and creation time."""
    op.create_index(op.f("ix_intents_kind_created_at"), "intents", ["kind", "created_at"])


def downgrade() -> None:
    """Drop the index of the intents by kind and creation time."""
    op.drop_index(op.f("ix_intents_kind_created_at"), table_name="intents")
