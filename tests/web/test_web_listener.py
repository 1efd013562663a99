"""The loopback listener itself (issue #10 §1, §5; developers' guide: services bind 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from pydantic import ValidationError
from webkit import SNAPSHOT, FakeView

from adapters.web import status_page
from adapters.web.server import SECURITY_HEADERS, WebServer, start_web
from adapters.web.settings import MetricsSettings
from daemon.observation import StatusSnapshot


def test_the_default_host_is_loopback() -> None:
    """Developers' guide ("services bind 127.0.0.1"); issue #10 §1 `host = "127.0.0.1"`."""
    assert MetricsSettings().host == "127.0.0.1"


async def test_the_listener_binds_the_configured_host(server: WebServer) -> None:
    """Issue #10 §1: the socket is bound to exactly `[metrics] host`, not to every interface."""
    assert server.host == "127.0.0.1"
    assert server.port > 0


async def test_a_given_host_is_bound_exactly(view: FakeView) -> None:
    """Issue #10 §1: `host = "::1"` binds the IPv6 loopback only."""
    try:
        web = await start_web(view, MetricsSettings(host="::1"), port=0)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert web.host == "::1"
        with pytest.raises(aiohttp.ClientConnectorError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"http://127.0.0.1:{web.port}/healthz")
    finally:
        await web.close()


async def test_the_status_page_is_html_of_the_snapshot(
    monkeypatch: pytest.MonkeyPatch, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §5: `GET /` serves `render_status_page(snapshot)` of the view's snapshot as
    UTF-8 HTML (the page itself is specified with its module, in a real browser)."""
    seen: list[StatusSnapshot] = []

    def render(snapshot: StatusSnapshot) -> str:
        seen.append(snapshot)
        return "<!doctype html><title>tlh</title><p>Récolte – 1 500 $</p>"

    monkeypatch.setattr(status_page, "render_status_page", render, raising=False)
    async with client.get("/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert await response.text() == render(SNAPSHOT)
    assert seen[0] is SNAPSHOT


async def test_a_foreign_host_name_is_refused(client: aiohttp.ClientSession) -> None:
    """DNS rebinding (https://en.wikipedia.org/wiki/DNS_rebinding): a page whose name now points
    at 127.0.0.1 sends its own name as Host; a loopback listener answers loopback names only."""
    async with client.get("/metrics", headers={"Host": "attacker.example:9877"}) as response:
        assert response.status == 421
    async with client.get("/healthz", headers={"Host": "localhost:9877"}) as response:
        assert response.status == 200


@pytest.mark.parametrize("bound", ["127.0.0.1", "0.0.0.0"])
async def test_a_foreign_host_name_is_refused_on_every_bound_address(
    view: FakeView, bound: str
) -> None:
    """DNS rebinding through a published port: bound to 0.0.0.0 in a container whose port is
    published on the host's 127.0.0.1 (deploy/tlh/tlh.toml), the listener still answers only
    loopback names and `[metrics] allowed_hosts` (issue #10 review)."""
    settings = MetricsSettings(host=bound, allowed_hosts=("tlh", "10.0.0.7"))
    web = await start_web(view, settings, port=0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{web.port}") as session:
            for host, status in (
                ("attacker.example:9877", 421),
                ("tlh.attacker.example", 421),
                ("10.0.0.8", 421),
                ("TLH:9877", 200),
                ("10.0.0.7:9877", 200),
                ("[::1]:9877", 200),
                ("localhost", 200),
            ):
                async with session.get("/metrics", headers={"Host": host}) as response:
                    assert (host, response.status) == (host, status)
    finally:
        await web.close()


@pytest.mark.parametrize("entry", ["tlh prom", "-tlh", "a..b", "http://tlh", "tlh:9877", ""])
def test_an_allowed_host_must_be_a_host_name_or_an_ip_address(entry: str) -> None:
    """Developers' guide ("nothing the configuration accepts is silently inert"): an entry of
    `[metrics] allowed_hosts` that no Host header could match is refused, naming it."""
    with pytest.raises(ValidationError, match="allowed_hosts"):
        MetricsSettings(allowed_hosts=(entry,))


@pytest.mark.parametrize("path", ["/", "/metrics", "/healthz", "/nowhere"])
async def test_every_response_carries_the_security_headers(
    client: aiohttp.ClientSession, path: str
) -> None:
    """OWASP Secure Headers (https://owasp.org/www-project-secure-headers/): a content
    security policy loading nothing from elsewhere and forbidding framing, no MIME sniffing, no
    referrer; on the page, the machine-read routes and errors alike."""
    async with client.get(path) as response:
        assert {k: response.headers.get(k) for k in SECURITY_HEADERS} == {
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }


async def test_requests_leave_no_access_log(
    caplog: pytest.LogCaptureFixture, client: aiohttp.ClientSession
) -> None:
    """Developers' guide (secrets never in logs) and adapters/web/server.py: no access log line
    is written for a request (aiohttp writes one per request to `aiohttp.access` by default)."""
    with caplog.at_level(logging.DEBUG, logger="aiohttp.access"):
        async with client.get("/metrics?token=s3cr3t-value") as response:
            assert response.status == 200
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]


@pytest.mark.timeout(10)  # a blocked loop deadlocks: the gate is opened by the loop's own timer
async def test_a_scrape_leaves_the_event_loop_running(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §1 "served from the daemon's process without blocking the event loop": while a
    scrape waits for the snapshot, the loop keeps servicing a timer, which lets it finish."""
    view.snapshot_gate = asyncio.Event()
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            view.snapshot_gate.set()  # type: ignore[union-attr]
        else:
            loop.call_later(0.01, tick)

    loop = asyncio.get_running_loop()
    loop.call_later(0.01, tick)
    async with asyncio.timeout(5), client.get("/metrics") as response:
        assert response.status == 200
    assert ticks == 3
