"""Shared fixtures: an environment with no TLH_ variables, and a config file writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO_ROOT / "tlh.example.toml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own TLH_ variables and systemd credentials out of every test."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TLH_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Return a function that writes TOML text to tmp_path/tlh.toml and returns the path."""

    def write(text: str) -> Path:
        path = tmp_path / "tlh.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
