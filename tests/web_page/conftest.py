"""Fixtures of the status page's tests: the headless browser."""

from __future__ import annotations

import pytest

from tests.web_page.browser import Chromium, find_chromium


@pytest.fixture
def chromium() -> Chromium:
    """Return Debian's headless chromium (skipped when absent; CI fails instead)."""
    return Chromium(find_chromium())
