"""Structured logging: structlog and stdlib records through one chain, secrets redacted.

One stderr handler renders every record, ours and third-party (alpaca, ib_async, sqlalchemy,
apscheduler), as a console line on a terminal or one JSON object per line otherwise; stdout is
left to each command's own output (`--json`, reports), so it stays machine-readable.
Redaction happens twice: by key (a field named in `daemon.settings.SECRET_KEY_NAMES` becomes
``***``) and by value: any run of 8 or more characters of a configured secret, as written or
encoded (JSON or repr escapes, URL-encoding, hex with or without separators, base64, repr'd
bytes), is replaced wherever it occurs, including inside exception text and the final rendered
line; so is the password of any URL (``scheme://user:***@host``). Secrets shorter than 8
characters are refused by the settings (a database password may be short: it is masked as a URL
password). Libraries log their wire traffic at DEBUG (the websocket frames hold the credentials):
only tlh's own loggers go below INFO, whatever the level asked for.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from adapters.settings_types import MIN_SECRET_LENGTH
from daemon.settings import is_secret_key

REDACTED = "***"
LogFormat = Literal["auto", "json", "console"]

# A run of this many characters of a secret (or their encoding) is redacted; a shorter
# secret is not scrubbed by value (it would garble ordinary words).
MIN_LEAK_LENGTH = MIN_SECRET_LENGTH
_B64_WINDOW = (MIN_LEAK_LENGTH * 4 + 2) // 3  # base64 characters fully set by 8 bytes
_MAX_DEPTH = 8
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/?#@\s]*:)[^@/?#\s]+(?=@)")

# Loggers that may go below INFO: tlh's own. A library's DEBUG output (websocket frames,
# HTTP headers) is dropped whatever the level asked for.
OWN_LOGGERS = ("tlh", "daemon", "adapters", "ledger", "strategies")

# Third-party loggers that are chatty at INFO.
_QUIET_LOGGERS = {
    "apscheduler.executors": logging.WARNING,
    "apscheduler.scheduler": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "ib_async": logging.WARNING,
}


def secret_fragments(secret: str) -> set[str]:
    """Return every text a run of `MIN_LEAK_LENGTH` characters of `secret` may be logged as.

    Each run as written, JSON- and repr-escaped, URL-encoded, as its bytes' repr and in hex
    (lower and upper case, bare, space- or colon-separated, or ``\\x``-escaped); and each run of
    base64 characters fully set by the secret's bytes, in the three byte alignments.
    """
    out: set[str] = set()
    n = MIN_LEAK_LENGTH
    for i in range(len(secret) - n + 1):
        part = secret[i : i + n]
        raw = part.encode()
        out |= {part, json.dumps(part)[1:-1], repr(part)[1:-1], repr(raw)[2:-1]}
        out |= {quote(part, safe=""), quote_plus(part, safe="")}
        for digits in (raw.hex(), raw.hex().upper()):
            pairs = [digits[j : j + 2] for j in range(0, len(digits), 2)]
            out |= {digits, " ".join(pairs), ":".join(pairs), "".join(f"\\x{p}" for p in pairs)}
    data = secret.encode()
    for k in range(3):
        aligned = data[k:][: (len(data) - k) // 3 * 3]
        for text in (base64.b64encode(aligned), base64.urlsafe_b64encode(aligned)):
            encoded = text.decode()
            out |= {encoded[j : j + _B64_WINDOW] for j in range(len(encoded) - _B64_WINDOW + 1)}
    return {f for f in out if f}


def _trie_pattern(words: Iterable[str]) -> str:
    """Return a regex matching any of `words`, longest first, as a trie (fast on many words)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


class Redactor:
    """A structlog processor that hides credentials by key name and by value (see the module)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        fragments: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_LEAK_LENGTH:
                fragments |= secret_fragments(secret)
        self._fragments = re.compile(_trie_pattern(fragments)) if fragments else None

    def scrub_text(self, text: str) -> str:
        """Return `text` with every run of a secret, and every URL password, as ``***``."""
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}", text)
        if self._fragments is None:
            return text
        spans: list[list[int]] = []
        pos = 0
        while match := self._fragments.search(text, pos):  # overlapping runs: from start + 1
            start, end = match.span()
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
            pos = start + 1
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
        return text

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Return a copy of `event_dict` with credentials redacted."""
        return {key: self._value(key, value, 0) for key, value in event_dict.items()}

    def _value(self, key: object, value: Any, depth: int) -> Any:
        if is_secret_key(key):
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
    handler.addFilter(_no_library_debug)
    logging.basicConfig(handlers=[handler], level=max(_level(level), logging.INFO), force=True)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(_level(level))
    for name, quiet in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, _level(level)))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )


def _no_library_debug(record: logging.LogRecord) -> bool:
    """Drop a library's record below INFO, even from a logger set to DEBUG by the library."""
    return record.levelno >= logging.INFO or record.name.split(".")[0] in OWN_LOGGERS


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
