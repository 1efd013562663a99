"""Adversarial suite "secrets at DEBUG": `tlh run` at DEBUG against the fake Alpaca.

Issue #13 B.9: at DEBUG the websocket frame logging of the SDK wrote the last 20 of the 40
characters of the secret key, and its last bytes in hex. The guide's rule: secrets never reach
a log line at any level, in any part or encoding. The leak check below is written independently
of `daemon.logging`: any run of 8 characters of a credential, as written, in hex (bare or
byte-separated, either case) or in base64 (any byte alignment), fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alpacakit import hold, start_tlh_run, tlh_env
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(90)

# Made-up credentials in Alpaca's shapes (20 and 40 characters), with no long runs that
# ordinary log text could contain by chance.
KEY = "PKQ7ZX2M9RT4WB6YLC3N"
SECRET = "Zq7Rk2Xw9Lm4Tn8Vb3Hc6Jd1Fg5Sp0Ya2Ue7Io4K"
RUN = 8  # a run of this many characters of a credential is a leak


def leaked_forms(secret: str, run: int = RUN) -> Iterator[str]:
    """Yield each way a run of `run` characters of `secret` could show in a log line."""
    data = secret.encode()
    for i in range(len(data) - run + 1):
        part = data[i : i + run]
        yield part.decode()
        for digits in (part.hex(), part.hex().upper()):
            yield digits
            yield " ".join(digits[j : j + 2] for j in range(0, len(digits), 2))
    window = (run * 4 + 2) // 3
    for k in range(3):
        aligned = data[k:][: (len(data) - k) // 3 * 3]
        for text in (base64.b64encode(aligned), base64.urlsafe_b64encode(aligned)):
            encoded = text.decode()
            for j in range(len(encoded) - window + 1):
                yield encoded[j : j + window]


def leaks(output: str) -> list[str]:
    """Return the forms of KEY or SECRET found in `output`."""
    return sorted({f for s in (KEY, SECRET) for f in leaked_forms(s) if f in output})


def test_the_leak_check_sees_a_partial_secret_in_hex() -> None:
    """The check itself: the frame log of issue B.9 (a secret's tail, and bytes in hex)."""
    tail = SECRET[20:]
    frame = f"> BINARY 82 a6 ... {SECRET[-9:].encode().hex(' ')} [120 bytes]"

    assert leaks(f'< TEXT \'..."secret":"...{tail}"}}\' [96 bytes]')
    assert leaks(frame)
    assert leaks(base64.b64encode(b"x" + SECRET.encode()).decode())
    assert not leaks(f"mode paper {SECRET[:7]}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a fake Alpaca that accepts only KEY and SECRET, market open."""
    async with FakeAlpaca(key=KEY, secret=SECRET) as server:
        server.set_market_open(True)
        yield server


async def test_tlh_run_at_debug_logs_no_part_of_any_credential(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """`tlh run` at DEBUG authenticates its REST client and both streams, and no line of its
    output holds a run of 8 characters of the key or the secret, plain, hex or base64."""
    hold(fake, "VTI", "40", "200")
    env = tlh_env(
        fake,
        tmp_path,
        TLH_LOGGING__LEVEL="DEBUG",
        TLH_LOGGING__FORMAT="json",
        TLH_ALPACA__API_KEY=KEY,
        TLH_ALPACA__SECRET_KEY=SECRET,
        TLH_SUBSTITUTES='[{"symbols": ["VTI", "SCHB"]}]',
        PYTHONASYNCIODEBUG="1",
    )
    proc = await start_tlh_run(env, tmp_path)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while '"scheduler_started"' not in "".join(lines[-3:]):
                line = (await proc.stdout.readline()).decode()
                assert line, "tlh run ended early:\n" + "".join(lines)
                lines.append(line)
        await fake.wait_for_data_subscription("SCHB")
        await fake.publish_quote("VTI", 150, 150.02)
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        lines.append(rest.decode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    output = "".join(lines)
    assert proc.returncode == 0, output
    events = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    authorized = [e for e in events if e.get("event") == "alpaca_stream_authorized"]
    assert len(authorized) >= 2, output  # both streams sent the credentials
    assert leaks(output) == [], output
