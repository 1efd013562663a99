"""Download a Flex statement through IB's Flex Web Service, version 3.

Two steps (https://www.interactivebrokers.com/campus/ibkr-api-page/flex-web-service/):
``GET {base}/SendRequest?t=TOKEN&q=QUERY_ID&v=3`` answers a ``<FlexStatementResponse>`` with a
``<ReferenceCode>``; ``GET {base}/GetStatement?t=TOKEN&q=REFERENCE_CODE&v=3`` answers the
statement (``<FlexQueryResponse>``), or a ``<FlexStatementResponse>`` with an error code. While
IB is still generating it (1019, and 1009 "heavy load", 1018 "too many requests") the request
is repeated, waiting longer each time, for at most `max_wait` seconds. Any other error ends
the download with IB's code and message (`FlexServiceError`).

IB requires a User-Agent header. The statement is always fetched from the configured base URL
(``[ib] flex_url``), never from the ``<Url>`` the first answer names, so the token only ever
goes to the address the user configured. The token travels only as the ``t`` parameter and
appears in no log line and no error message: errors name the base URL and the step, never the
request's URL.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from xml.parsers import expat

import aiohttp
import structlog

VERSION = "3"
RETRY_CODES = frozenset({"1009", "1018", "1019"})  # heavy load, throttled, still generating
MAX_STATEMENT_BYTES = 256 * 1024 * 1024
log = structlog.get_logger("tlh.ib.flex")


def user_agent() -> str:
    """Return the User-Agent IB requires: technology and version (e.g. ``tlh/0.1.0``)."""
    try:
        version = metadata.version("tlh")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"tlh/{version} Python-aiohttp/{aiohttp.__version__}"


class FlexServiceError(Exception):
    """The Flex Web Service refused, failed or could not be reached; the message says which,
    with IB's error code and message when it gave them (never the token)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait for a statement IB is still generating."""

    first_wait: float = 2.0  # seconds before the first GetStatement
    growth: float = 1.5
    longest_wait: float = 15.0
    max_wait: float = 180.0  # seconds in all, then give up

    def waits(self) -> list[float]:
        """Return the pauses before each GetStatement attempt, within `max_wait` in all."""
        waits, wait, total = [], self.first_wait, 0.0
        while total + wait <= self.max_wait:
            waits.append(wait)
            total += wait
            wait = min(wait * self.growth, self.longest_wait)
        return waits or [0.0]


async def fetch_statement(
    base_url: str,
    token: str,
    query_id: str,
    *,
    retry: RetryPolicy | None = None,
    request_seconds: float = 60.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> bytes:
    """Return the XML of Flex query `query_id` from the service at `base_url`.

    Raise `FlexServiceError` for an error code (with IB's message), an answer that is not the
    service's, a statement still not ready after the retry policy's wait, or a network failure.
    """
    try:
        return await _fetch(
            base_url.rstrip("/"), token, query_id, retry or RetryPolicy(), request_seconds, sleep
        )
    except FlexServiceError as exc:
        if token and token in str(exc):  # an answer that echoed it: never show it
            raise FlexServiceError(str(exc).replace(token, "***"), exc.code) from None
        raise


async def _fetch(
    base: str,
    token: str,
    query_id: str,
    retry: RetryPolicy,
    request_seconds: float,
    sleep: Callable[[float], Awaitable[object]],
) -> bytes:
    started = time.monotonic()
    code, message = "", ""
    session_timeout = aiohttp.ClientTimeout(total=request_seconds)
    headers = {"User-Agent": user_agent()}
    async with aiohttp.ClientSession(timeout=session_timeout, headers=headers) as session:
        log.info("flex_request", service=base, query_id=query_id)
        answer = await _get(session, base, "SendRequest", token, query_id)
        reference = _reference_code(answer, base)
        for attempt, wait in enumerate(retry.waits(), start=1):
            await sleep(wait)
            body = await _get(session, base, "GetStatement", token, reference)
            if _root_tag(body) == "FlexQueryResponse":
                log.info(
                    "flex_statement",
                    service=base,
                    bytes=len(body),
                    attempts=attempt,
                    seconds=round(time.monotonic() - started, 1),
                )
                return body
            code, message = _error_of(body, base, "GetStatement")
            if code not in RETRY_CODES:
                raise FlexServiceError(_describe(base, "GetStatement", code, message), code)
            log.info("flex_statement_pending", service=base, code=code, attempt=attempt)
    raise FlexServiceError(
        f"Flex Web Service at {base}: the statement was still not ready after "
        f"{retry.max_wait:g} seconds (last answer: {code} {message})",
        code,
    )


async def _get(
    session: aiohttp.ClientSession, base: str, step: str, token: str, query: str
) -> bytes:
    params = {"t": token, "q": query, "v": VERSION}
    try:
        async with session.get(f"{base}/{step}", params=params, allow_redirects=False) as resp:
            if resp.status != 200:
                raise FlexServiceError(
                    f"Flex Web Service at {base}: {step} answered HTTP {resp.status} {resp.reason}"
                )
            body = await resp.content.read(MAX_STATEMENT_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The exception's text may hold the request URL, and with it the token.
        raise FlexServiceError(
            f"cannot reach the Flex Web Service at {base} ({step}): {type(exc).__name__}"
        ) from None
    if len(body) > MAX_STATEMENT_BYTES:
        raise FlexServiceError(f"Flex Web Service at {base}: {step} answered more than 256 MiB")
    return body


class _RootFound(Exception):
    """Stops the parser at the root element."""


def _root_tag(body: bytes) -> str | None:
    """Return the root element's name of an XML answer, reading only up to it."""
    found: list[str] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        found.append(tag)
        raise _RootFound

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    try:
        parser.Parse(body, True)
    except _RootFound:
        pass
    except expat.ExpatError:
        return None
    return found[0] if found else None


def _parse_response(body: bytes, base: str, step: str) -> dict[str, str]:
    """Return the fields of a `<FlexStatementResponse>` (Status, ReferenceCode, ErrorCode ...)."""
    if _root_tag(body) != "FlexStatementResponse" or b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise FlexServiceError(f"Flex Web Service at {base}: {step} answered no Flex response")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise FlexServiceError(
            f"Flex Web Service at {base}: {step} answered malformed XML"
        ) from None
    return {child.tag: (child.text or "").strip() for child in root}


def _reference_code(body: bytes, base: str) -> str:
    fields = _parse_response(body, base, "SendRequest")
    if fields.get("Status") == "Success" and fields.get("ReferenceCode"):
        return fields["ReferenceCode"]
    code, message = _error_of(body, base, "SendRequest")
    raise FlexServiceError(_describe(base, "SendRequest", code, message), code)


def _error_of(body: bytes, base: str, step: str) -> tuple[str, str]:
    fields = _parse_response(body, base, step)
    return fields.get("ErrorCode", "?"), fields.get("ErrorMessage", "(no message)")


def _describe(base: str, step: str, code: str, message: str) -> str:
    return f"Flex Web Service at {base} refused {step}: error {code}: {message}"
