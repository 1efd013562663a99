"""A fake IB Flex Web Service (version 3) on 127.0.0.1, for the real aiohttp client and `tlh`.

It answers as IB's service documents it
(https://www.interactivebrokers.com/campus/ibkr-api-page/flex-web-service/): ``SendRequest``
returns a ``<FlexStatementResponse>`` with a reference code, or an error code and message;
``GetStatement`` returns the statement, after answering 1019 ("Statement generation in
progress") `pending` times, or an error. Every request is recorded, to check the headers and
parameters the client sent. Without a User-Agent header it answers as IB does: an error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

TOKEN = "flex-token-7a1c9e52b0d4"  # a made-up token; tests check it is never shown
QUERY_ID = "987654"
REFERENCE = "3141592653"
TIMESTAMP = "06 December, 2026 08:30 AM EST"


@dataclass
class Request:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_url: str


@dataclass
class FakeFlex:
    """What the fake answers, and what it was asked."""

    statement: bytes = b""
    pending: int = 0  # GetStatement answers 1019 this many times first
    send_error: tuple[str, str] | None = None  # SendRequest fails with (code, message)
    get_error: tuple[str, str] | None = None  # GetStatement fails with (code, message)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/FlexWebService/SendRequest", self._send_request)
        app.router.add_get("/FlexWebService/GetStatement", self._get_statement)
        return app

    def _record(self, request: web.Request) -> web.Response | None:
        self.requests.append(
            Request(request.path, dict(request.query), dict(request.headers), str(request.rel_url))
        )
        if not request.headers.get("User-Agent"):
            return _fail("1020", "Invalid request or unable to validate request.")
        if request.query.get("v") != "3":
            return _fail("1020", "Invalid request or unable to validate request.")
        if request.query.get("t") != TOKEN:
            return _fail("1015", "Token is invalid.")
        return None

    async def _send_request(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        if self.send_error is not None:
            return _fail(*self.send_error)
        if request.query.get("q") != QUERY_ID:
            return _fail("1014", "Query is invalid.")
        body = (
            f'<FlexStatementResponse timestamp="{TIMESTAMP}">\n<Status>Success</Status>\n'
            f"<ReferenceCode>{REFERENCE}</ReferenceCode>\n"
            "<Url>https://gdcdyn.interactivebrokers.com/AccountManagement/FlexWebService/"
            "GetStatement</Url>\n</FlexStatementResponse>\n"
        )
        return web.Response(text=body, content_type="text/xml")

    async def _get_statement(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        if request.query.get("q") != REFERENCE:
            return _fail("1017", "Reference code is invalid.")
        if self.get_error is not None:
            return _fail(*self.get_error)
        if self.pending > 0:
            self.pending -= 1
            return _fail("1019", "Statement generation in progress. Please try again shortly.")
        return web.Response(body=self.statement, content_type="text/xml")


def _fail(code: str, message: str) -> web.Response:
    body = (
        f'<FlexStatementResponse timestamp="{TIMESTAMP}">\n<Status>Fail</Status>\n'
        f"<ErrorCode>{code}</ErrorCode>\n<ErrorMessage>{message}</ErrorMessage>\n"
        "</FlexStatementResponse>\n"
    )
    return web.Response(text=body, content_type="text/xml")


@contextmanager
def serving(fake: FakeFlex) -> Iterator[FakeFlex]:
    """Serve `fake` on 127.0.0.1 (a free port) from a thread; `fake.url` is its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app(), access_log=None)  # the server side logs no URLs
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        fake.url = f"http://127.0.0.1:{port}/FlexWebService"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the fake Flex Web Service did not start"
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
