"""What the end-to-end benchmarks share: the fake broker's child process and percentiles.

Each end-to-end benchmark runs its fake broker in a child process (so that the fake's CPU does
not share the daemon's event loop), driven by JSON commands, one per line, on its stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


class Child:
    """The fake's process and its command pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc, self.stdin, self.stdout = proc, proc.stdin, proc.stdout

    @classmethod
    async def start(cls, script: str) -> Child:
        """Run `script --serve` with this interpreter."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            "--serve",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        return cls(proc)

    async def hello(self) -> dict[str, Any]:
        """Return the first line the fake writes (where it listens)."""
        line = await self.stdout.readline()
        if not line:
            raise RuntimeError("the fake's process ended")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ask(self, **cmd: Any) -> dict[str, Any]:
        """Send one command and return the fake's reply."""
        self.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.stdin.drain()
        return await self.hello()

    async def close(self) -> None:
        """End the fake's command loop, and so its process."""
        self.stdin.close()
        await self.proc.wait()


def percentile(values: list[float], q: float) -> float:
    """Return the `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
