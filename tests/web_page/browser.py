"""Debian's chromium, headless, as the status page's tests drive it (no Selenium, no CDP).

`chromium --headless --dump-dom URL` prints the DOM after the page loaded;
`--screenshot=FILE --window-size=W,H` writes a PNG of the viewport
(https://developer.chrome.com/docs/chromium/headless). Each run gets its own throw-away
profile, so runs never share state. Install it with `apt-get install -y chromium`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "apt-get install -y chromium"
TIMEOUT_SECONDS = 60
# Read once at import, as tests/conftest.py does: fixtures that clear TLH_* for config tests
# must not turn browser tests into skips.
_REQUIRE = os.environ.get("TLH_TEST_REQUIRE_SERVICES", "").strip() == "1"


def find_chromium(require: bool = _REQUIRE) -> str:
    """Return chromium's path; skip the test without it, or fail it in CI."""
    path = shutil.which("chromium")
    if path:
        return path
    message = f"browser tests need Debian's chromium on PATH ({INSTALL})"
    if require:
        pytest.fail(f"{message}; TLH_TEST_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Chromium:
    """The headless browser at `path`."""

    path: str

    async def dump_dom(self, url: str) -> str:
        """Return the DOM chromium built from `url`, serialised as HTML."""
        return (await self._run("--dump-dom", url)).decode()

    async def screenshot(self, url: str, out: Path, width: int = 1280, height: int = 2000) -> Path:
        """Write a PNG screenshot of `url` in a `width` x `height` window to `out`."""
        await self._run(f"--screenshot={out}", f"--window-size={width},{height}", url)
        return out

    async def _run(self, *args: str) -> bytes:
        # Run without blocking the event loop: the page under test is served from it.
        with tempfile.TemporaryDirectory(prefix="tlh-chromium-") as profile:
            proc = await asyncio.create_subprocess_exec(
                self.path,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                f"--user-data-dir={profile}",
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise
        assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err.decode()[-2000:]}"
        return out
