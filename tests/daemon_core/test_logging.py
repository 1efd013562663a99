"""Logging: one chain for structlog and stdlib records, and secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

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
