"""Logging: one chain for structlog and stdlib records, and secrets never reach the output."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.logging import REDACTED, LogFormat, Redactor, configure_logging, get_logger

SECRET = "sk-live-7f3a9c1e5b2d4680"
DB_PASSWORD = "pg-Pa55word!x"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo configure_logging after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def _configure(fmt: LogFormat) -> io.StringIO:
    out = io.StringIO()
    configure_logging("INFO", fmt, secrets=[SECRET, DB_PASSWORD], stream=out, cache_loggers=False)
    return out


def _log_everything() -> None:
    log = get_logger("tlh.test")
    log.info("order_submitted", api_key=SECRET, headers={"Authorization": f"Bearer {SECRET}"})
    log.info("connecting", url=f"postgresql://tlh:{DB_PASSWORD}@db/tlh", note=f"key={SECRET}")
    try:
        raise RuntimeError(f"401 Unauthorized for key {SECRET}")
    except RuntimeError:
        log.exception("broker_call_failed")
    logging.getLogger("alpaca").warning("auth with %s", SECRET, extra={"secret_key": SECRET})

    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky({SECRET})"

    log.info("object", thing=Leaky())


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secret_never_appears_in_output(fmt: LogFormat) -> None:
    """Secrets are hidden by key, inside strings, in exceptions, in stdlib records and reprs."""
    out = _configure(fmt)

    _log_everything()

    text = out.getvalue()
    assert SECRET not in text
    assert DB_PASSWORD not in text
    assert "broker_call_failed" in text
    assert text.count(REDACTED) >= 7


def test_json_lines_for_structlog_and_stdlib() -> None:
    """In JSON mode every record, ours or a library's, is one JSON object per line."""
    out = _configure("json")
    structlog.contextvars.bind_contextvars(run_id="r-1")

    get_logger("tlh.test").info("harvest_run", symbol="VTI")
    logging.getLogger("apscheduler.jobstores").warning("library says %s", "hi")

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["harvest_run", "library says hi"]
    assert lines[0]["run_id"] == "r-1"  # merge_contextvars
    assert lines[1]["logger"] == "apscheduler.jobstores"
    assert lines[0]["timestamp"].endswith("Z")  # ISO 8601, UTC


def test_auto_format_is_json_when_not_a_terminal() -> None:
    """fmt=auto renders JSON when the stream is not a TTY (journald, Docker)."""
    out = _configure("auto")

    get_logger("tlh.test").info("started")

    assert json.loads(out.getvalue())["event"] == "started"


def test_redactor_handles_escaped_secrets() -> None:
    """The value scrub also catches a secret as JSON-escaped inside a rendered line."""
    tricky = 'pa"ss\\word'
    redactor = Redactor([tricky])

    rendered = json.dumps({"msg": f"x {tricky} y"})

    assert redactor.scrub_text(rendered) == json.dumps({"msg": "x *** y"})


def test_log_level_filters() -> None:
    """Records below the configured level are dropped."""
    out = io.StringIO()
    configure_logging("WARNING", "json", stream=out, cache_loggers=False)

    get_logger("tlh.test").info("quiet")
    get_logger("tlh.test").warning("loud")

    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == ["loud"]


# Issue #13 B.9: a secret's parts and encodings; B.10: by value and listed names, not resemblance.
SECRET_40 = "Zq7Rk2Xw9Lm4Tn8Vb3Hc6Jd1Fg5Sp0Ya2Ue7Io4K"


@pytest.mark.parametrize(
    "leak",
    [
        SECRET_40[20:],  # the tail a truncated websocket frame shows
        SECRET_40[:12],
        SECRET_40[-9:].encode().hex(),
        SECRET_40[-9:].encode().hex(" "),
        SECRET_40[-9:].encode().hex().upper(),
        "".join(f"\\x{b:02x}" for b in SECRET_40[5:15].encode()),
        base64.b64encode(b"{" + SECRET_40.encode()).decode()[4:30],
        base64.urlsafe_b64encode(SECRET_40.encode()).decode()[8:24],
        quote("k=" + SECRET_40[3:14] + "/", safe=""),
    ],
)
def test_a_run_of_a_secret_is_redacted_in_any_encoding(leak: str) -> None:
    """Any run of 8 characters of a secret, plain, hex, escaped, base64 or URL-encoded, goes."""
    redactor = Redactor([SECRET_40])

    scrubbed = redactor.scrub_text(f"frame [{leak}] end")

    assert REDACTED in scrubbed
    assert scrubbed.startswith("frame [")
    assert scrubbed.endswith("] end")
    assert SECRET_40[20:28] not in scrubbed


def test_ordinary_text_is_left_alone() -> None:
    """Text sharing fewer than 8 characters with a secret is not touched."""
    redactor = Redactor([SECRET_40, "s-but-long-enough"])
    text = f'mode: is "live", start {SECRET_40[:7]}, hex {SECRET_40[:3].encode().hex()}'

    assert redactor.scrub_text(text) == text


def test_a_short_secret_does_not_garble_messages() -> None:
    """B.10: TLH_ALPACA__SECRET_KEY=s once turned messages into `mode: i*** "live"`."""
    redactor = Redactor(["s"])

    assert redactor.scrub_text('mode: is "live"') == 'mode: is "live"'


def test_url_passwords_are_masked_whatever_their_length() -> None:
    """A database password may be short: it is masked where it stands, in the URL."""
    redactor = Redactor()

    text = redactor.scrub_text("connect postgresql+asyncpg://tlh:pw@db:5432/tlh failed")

    assert text == "connect postgresql+asyncpg://tlh:***@db:5432/tlh failed"


def test_keys_are_redacted_by_name_not_by_resemblance() -> None:
    """B.10: `authorizations` (a count) is shown; listed credential names are redacted."""
    out = _configure("json")

    get_logger("tlh.test").info(
        "alpaca_stream_authorized",
        authorizations=2,
        secret_key="x",
        headers={"APCA-API-SECRET-KEY": "y", "Authorization": "z"},
    )

    line = json.loads(out.getvalue())
    assert line["authorizations"] == 2
    assert line["secret_key"] == REDACTED
    assert line["headers"] == {"APCA-API-SECRET-KEY": REDACTED, "Authorization": REDACTED}


def test_library_debug_records_are_dropped_at_debug() -> None:
    """B.9: at DEBUG, tlh's own debug lines show; a library's (websocket frames) never do,
    even from a logger the library set to DEBUG itself."""
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out, cache_loggers=False)
    logging.getLogger("websockets.client").setLevel(logging.DEBUG)

    get_logger("tlh.test").debug("ours")
    logging.getLogger("websockets.client").debug("> TEXT '{\"secret\": ...}'")
    logging.getLogger("alpaca.common").debug("frame")
    logging.getLogger("websockets.client").info("connection open")

    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == [
        "ours",
        "connection open",
    ]


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=8),
    data=st.data(),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_no_run_of_8_characters_survives(
    secret: str, data: st.DataObject, before: str, after: str
) -> None:
    """Property (B.9): whatever surrounds it, a run of 8+ characters of a secret, as written
    or in hex, does not survive the scrub."""
    start = data.draw(st.integers(0, len(secret) - 8))
    end = data.draw(st.integers(start + 8, len(secret)))
    run = secret[start:end]
    redactor = Redactor([secret])

    for shown in (run, run.encode().hex(), run.encode().hex(" ")):
        scrubbed = redactor.scrub_text(before + shown + after)
        assert not any(shown[i : i + 16] in scrubbed for i in range(len(shown) - 15)), scrubbed
        assert run[:8] not in scrubbed
