"""Structured logging: structlog and stdlib records through one chain, secrets redacted.

One stderr handler renders every record, ours and third-party (alpaca, ib_async, sqlalchemy,
apscheduler), as a console line on a terminal or one JSON object per line otherwise; stdout is
left to each command's own output (`--json`, reports), so it stays machine-readable.
Redaction happens twice: by key (any key that looks like a credential becomes ``***``) and by
value (the exact configured secret strings are replaced wherever they occur, including inside
exception text, URLs and the final rendered line).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from daemon.settings import SECRET_KEY_PATTERN

REDACTED = "***"
LogFormat = Literal["auto", "json", "console"]

# Secrets shorter than this are not scrubbed by value: they would garble every log line and
# are guessable anyway. Key-based redaction still applies to them.
MIN_SCRUBBED_SECRET_LEN = 4
_MAX_DEPTH = 8

# Third-party loggers that are chatty at INFO.
_QUIET_LOGGERS = {
    "apscheduler.executors": logging.WARNING,
    "apscheduler.scheduler": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "ib_async": logging.WARNING,
}


class Redactor:
    """A structlog processor that hides credentials by key name and by exact value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SCRUBBED_SECRET_LEN:
                continue
            # As written, as escaped inside a JSON string, and as escaped inside a repr().
            variants.update({secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]})
        self._secrets = sorted(variants, key=len, reverse=True)

    def scrub_text(self, text: str) -> str:
        """Return `text` with every known secret string replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Return a copy of `event_dict` with credentials redacted."""
        return {key: self._value(key, value, 0) for key, value in event_dict.items()}

    def _value(self, key: object, value: Any, depth: int) -> Any:
        if isinstance(key, str) and SECRET_KEY_PATTERN.search(key):
            return REDACTED
        if isinstance(value, str):
            return self.scrub_text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, Mapping):
            return {k: self._value(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._value(None, v, depth + 1) for v in value)
        return value


class _ScrubbedRenderer:
    """Wrap a renderer so that its output string is scrubbed as a last line of defence."""

    def __init__(self, renderer: Processor, redactor: Redactor) -> None:
        self._renderer = renderer
        self._redactor = redactor

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        rendered = self._renderer(logger, method_name, event_dict)
        text = rendered if isinstance(rendered, str) else str(rendered)
        return self._redactor.scrub_text(text)


def configure_logging(
    level: str | int = "INFO",
    fmt: LogFormat = "auto",
    secrets: Iterable[str] = (),
    *,
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Route structlog and stdlib logging to `stream` (default stderr) through one chain.

    `fmt` ``auto`` picks the console renderer when `stream` is a terminal and JSON otherwise.
    `secrets` are the exact strings to scrub (use `Settings.secret_values()`). Call this once
    at start-up, before modules that bind loggers at import time; pass
    ``cache_loggers=False`` in tests.
    """
    out = stream if stream is not None else sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not _isatty(out))
    redactor = Redactor(secrets)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if as_json:
        exceptions: Processor = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer: Processor = structlog.processors.JSONRenderer()
    else:
        # Plain-text tracebacks, so that the value scrub sees the whole exception text.
        exceptions = structlog.processors.format_exc_info
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(out))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exceptions,
            redactor,
            _ScrubbedRenderer(renderer, redactor),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logging.basicConfig(handlers=[handler], level=_level(level), force=True)
    for name, quiet in _QUIET_LOGGERS.items():
        # At DEBUG, let everything through; otherwise keep the chatty ones at `quiet`.
        logging.getLogger(name).setLevel(
            min(quiet, _level(level)) if _level(level) <= logging.DEBUG else quiet
        )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger named `name` (a module's ``__name__``)."""
    return structlog.stdlib.get_logger(name)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelNamesMapping().get(level.upper())
    if value is None:
        raise ValueError(f"unknown log level {level!r}")
    return value


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
