"""The loopback HTTP listener (aiohttp): `/metrics`, `/healthz`, `/readyz`, `/`, `POST /pause`.

One aiohttp site in the daemon's event loop, bound to exactly `[metrics] host` (127.0.0.1 by
default), reading the daemon only through its `DaemonView` (issue #10 §1, §2, §4, §5):

* `GET /metrics`: the Prometheus text format from `adapters.web.metrics.DaemonCollector`;
* `GET /healthz`, `GET /readyz`: `view.liveness()` / `view.readiness()` as JSON, 200 when every
  check passes, 503 naming the failed checks otherwise (the Docker health check uses them);
* `GET /`: the read-only status page (`adapters.web.status_page`);
* `POST /pause`: pause new orders (`by="http"`); the body is optional JSON ``{"reason": "..."}``.

Nothing on the listener asks who is calling, so it may only ever make trading safer. `POST /pause`
stops new orders, the fail-safe direction: the worst a caller can do is stop the harvesting.
There is deliberately no resume over HTTP: resuming lets orders leave again, which only the
operator may do (`tlh resume`, or the MQTT switch when `[mqtt] allow_commands` says so).
A web page the operator visits must not pause either (cross-site request forgery): `POST /pause`
accepts only ``Content-Type: application/json``, which an HTML form cannot send and a script on
another origin can send only after a CORS preflight this listener never answers; and it refuses
any request carrying an ``Origin`` header, which browsers add to every POST (curl and scripts
send none). Wherever it is bound (0.0.0.0 in a container, whose port is published on the host's
127.0.0.1), the listener answers only requests addressed to a loopback name or address or to one
of `[metrics] allowed_hosts` (the ``Host`` header), so a page whose domain an attacker re-points
at 127.0.0.1 (DNS rebinding) cannot read the status page or the metrics either.

Every response carries `SECURITY_HEADERS`: the page loads nothing (its style and chart are
inline), may not be framed, is never sniffed as another type, and sends no referrer.

There is no access log: request lines say nothing an operator needs, and a log line per scrape
would drown the daemon's own.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from adapters.web import status_page
from adapters.web.metrics import SNAPSHOT_MAX_AGE, DaemonCollector
from adapters.web.settings import MetricsSettings
from daemon.observation import FRESH_SNAPSHOT_SECONDS, DaemonView, Health, PauseState

log = structlog.get_logger("tlh.web")
MAX_BODY = 4096
MAX_REASON = 200
LOOPBACK_NAMES = frozenset({"localhost"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(slots=True)
class WebServer:
    """The running listener: where it is bound, and how to stop it."""

    host: str
    port: int
    _runner: web.AppRunner

    async def close(self) -> None:
        """Stop listening and finish the requests in progress."""
        await self._runner.cleanup()


async def start_web(
    view: DaemonView,
    settings: MetricsSettings,
    *,
    port: int | None = None,
    snapshot_max_age: float = SNAPSHOT_MAX_AGE,
) -> WebServer:
    """Serve the routes on `settings.host` and `port` (default `settings.port`; 0 picks a free
    port, for tests) and return the running server. `/metrics` asks the view for a status
    snapshot at most `snapshot_max_age` seconds old (`adapters.web.metrics`), the page for one
    at most `FRESH_SNAPSHOT_SECONDS` old."""
    app = web.Application(
        client_max_size=MAX_BODY, middlewares=[_host_check(settings.allowed_hosts)]
    )
    app.on_response_prepare.append(_add_security_headers)
    app.router.add_get(
        "/metrics", _metrics_handler(DaemonCollector(view, max_age=snapshot_max_age))
    )
    app.router.add_get("/healthz", _health_handler(view.liveness))
    app.router.add_get("/readyz", _health_handler(view.readiness))
    app.router.add_get("/", _page_handler(view))
    app.router.add_post("/pause", _pause_handler(view))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port if port is None else port).start()
    except BaseException:
        await runner.cleanup()
        raise
    host, bound, *_ = runner.addresses[0]
    log.info("web_listening", host=host, port=bound)
    return WebServer(host=host, port=bound, _runner=runner)


def _metrics_handler(collector: DaemonCollector) -> Handler:
    registry = CollectorRegistry()
    registry.register(collector)
    ProcessCollector(registry=registry)
    prometheus = make_aiohttp_handler(registry)

    async def metrics(request: web.Request) -> web.StreamResponse:
        await collector.refresh()
        return await prometheus(request)

    return metrics


def _health_handler(check: Callable[[], Health]) -> Handler:
    async def health(request: web.Request) -> web.StreamResponse:
        verdict = check()
        return web.json_response(verdict.as_json(), status=200 if verdict.ok else 503)

    return health


def _page_handler(view: DaemonView) -> Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        snapshot = await view.snapshot(max_age=FRESH_SNAPSHOT_SECONDS)
        html = status_page.render_status_page(snapshot)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    return page


def _pause_handler(view: DaemonView) -> Handler:
    async def pause(request: web.Request) -> web.StreamResponse:
        if hdrs.ORIGIN in request.headers:
            return _error(403, "refused from a web page (an Origin header was sent)")
        if request.content_type != "application/json":
            return _error(415, "Content-Type must be application/json")
        try:
            reason = _reason(await request.text())
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            state = await view.set_paused(True, by="http", reason=reason)
        except Exception as exc:  # the database: the pause holds until the daemon restarts
            log.error("pause_over_http_not_stored", error=str(exc) or type(exc).__name__)
            return _error(
                500,
                "new orders are paused in the running daemon, but the pause could not be "
                f"stored and ends if it restarts: {str(exc) or type(exc).__name__}",
            )
        log.warning("paused_over_http", reason=reason)
        return web.json_response(_pause_json(state))

    return pause


def _reason(body: str) -> str:
    """Return the reason in a `POST /pause` body (empty, or a JSON object); raise ValueError."""
    if not body.strip():
        return ""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError('body must be a JSON object, e.g. {"reason": "..."}')
    unknown = sorted(set(data) - {"reason"})
    if unknown:
        raise ValueError(f"unknown key: {unknown[0]}")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.isprintable():
        raise ValueError(f"reason must be printable text of at most {MAX_REASON} characters")
    return reason


def _pause_json(state: PauseState) -> dict[str, object]:
    return {
        "paused": state.paused,
        "since": state.since.isoformat() if state.since else None,
        "by": state.by,
        "reason": state.reason,
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _host_check(allowed_hosts: tuple[str, ...]) -> Middleware:
    """Return the middleware answering 421 to a request addressed to a host that is neither a
    loopback name or address nor one of `allowed_hosts` (see the module docstring)."""
    allowed = frozenset(allowed_hosts)

    @web.middleware
    async def host_check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = _normal_host(request.url.host or "")
        if host not in allowed and not _is_loopback(host):
            return _error(421, "this listener answers loopback and allowed hosts only (Host)")
        return await handler(request)

    return host_check


async def _add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _normal_host(host: str) -> str:
    """Return `host` as `MetricsSettings.allowed_hosts` holds it: an IP address in its
    canonical form, a name lower-cased without a trailing dot."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host.lower().removesuffix(".")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
