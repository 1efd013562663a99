"""Fixtures of the direct-index daemon tests: the stand-ins for parts still stubbed."""

from __future__ import annotations

import pytest
from stand_ins import use_stand_ins


@pytest.fixture(autouse=True)
def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the real target reader, risk model, ranking, optimiser and outbox where they are
    implemented; a thin stand-in where one is still a stub (`stand_ins`)."""
    use_stand_ins(monkeypatch)
