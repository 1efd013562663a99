"""`POST /pause` (issue #10 §4): pause new orders from the loopback listener, safely.

The rules are in adapters/web/server.py's docstring: JSON only and no Origin header (no
cross-site request forgery), and no way to resume over HTTP.
"""

from __future__ import annotations

import aiohttp
from webkit import FakeView


async def test_a_json_post_pauses_new_orders(view: FakeView, client: aiohttp.ClientSession) -> None:
    """Issue #10 §4: `POST /pause` pauses through the daemon view, by "http", with the reason."""
    async with client.post("/pause", json={"reason": "going on holiday"}) as response:
        assert response.status == 200
        body = await response.json()
    assert view.pauses == [(True, "http", "going on holiday")]
    assert body == {
        "paused": True,
        "since": "2026-03-01T15:30:00+00:00",
        "by": "http",
        "reason": "going on holiday",
    }


async def test_a_pause_that_could_not_be_stored_is_an_error_saying_so(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """`DaemonView.set_paused` (daemon/observation.py): a pause applies before it is stored, so
    a database failure leaves new orders paused until a restart; the answer is a 500 that
    says exactly that, not a bare server error."""
    view.pause_error = OSError("disk I/O error")
    async with client.post("/pause", json={"reason": "db down"}) as response:
        assert response.status == 500
        body = await response.json()
    assert view.pauses == [(True, "http", "db down")]
    assert "paused in the running daemon" in body["error"]
    assert "disk I/O error" in body["error"]


async def test_an_empty_json_post_pauses_without_a_reason(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """`curl -X POST -H 'Content-Type: application/json' .../pause` is enough."""
    headers = {"Content-Type": "application/json"}
    async with client.post("/pause", headers=headers) as response:
        assert response.status == 200
    assert view.pauses == [(True, "http", "")]


async def test_a_form_post_is_refused(view: FakeView, client: aiohttp.ClientSession) -> None:
    """OWASP CSRF cheat sheet: an HTML form on any site can POST a urlencoded form to the
    loopback listener; that content type is refused (415) and nothing is paused."""
    async with client.post("/pause", data={"reason": "csrf"}) as response:
        assert response.status == 415
        assert "application/json" in (await response.json())["error"]
    assert view.pauses == []


async def test_a_browser_post_is_refused(view: FakeView, client: aiohttp.ClientSession) -> None:
    """Fetch standard (§3.2.5 "Origin" header: sent on every POST): a request from a web page,
    even one whose name was re-pointed at 127.0.0.1, carries an Origin and is refused (403)."""
    headers = {"Origin": "http://127.0.0.1:9877"}
    async with client.post("/pause", json={}, headers=headers) as response:
        assert response.status == 403
    assert view.pauses == []


async def test_a_bad_body_is_refused_naming_the_key(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Developers' guide: bad input gets a clear error naming the key; `{"paused": false}` is
    not a way to resume."""
    async with client.post("/pause", json={"paused": False}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "unknown key: paused"
    assert view.pauses == []


async def test_there_is_no_resume_over_http(view: FakeView, client: aiohttp.ClientSession) -> None:
    """Issue #10 §4 and adapters/web/server.py: resuming is the operator's (`tlh resume`); the
    listener offers no route that lets orders leave again."""
    async with client.post("/resume", json={}) as response:
        assert response.status == 404
    async with client.delete("/pause") as response:
        assert response.status == 405
    async with client.post("/pause?paused=false", json={}) as response:
        assert response.status == 200
    assert view.pauses == [(True, "http", "")]
