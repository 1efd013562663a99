"""The status page: server-rendered HTML (no script, no build step) from a `StatusSnapshot`.

One self-contained document: inline CSS, an inline SVG chart, no external asset, so it works
offline on a home server; it reloads itself every 15 seconds. Every value from the snapshot is
HTML-escaped (symbols, accounts and reasons come from the configuration and the broker). The
key numbers carry stable ids (`id="harvested-loss-ytd"`) and rows carry `data-` attributes
(`data-lot-id`; money cells `data-value`, the exact unrounded amount) for tests and scrapers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape

from adapters.web.loss_chart import render_loss_chart
from daemon.observation import ZERO, HarvestRecord, StatusSnapshot, WashWindow

REFRESH_SECONDS = 15
DASH = "—"
NUMERIC = frozenset(
    ("quantity", "basis", "price", "market value", "unrealized", "loss", "est. tax saved")
)

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;
color:#1b1f23;background:#fff}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.8rem 0 .5rem}
.muted{color:#57606a}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1rem 0}
dl.summary dt{font-weight:600}dl.summary dd{margin:0}
table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}
th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tfoot td{font-weight:600;border-top:2px solid #8c959f}
.loss{color:#b42318}.gain{color:#1a7f37}
.state{display:inline-block;padding:0 .5rem;border-radius:.6rem;font-weight:600}
.state-running{background:#dafbe1}.state-paused{background:#fff8c5}
.state-halted,.state-disconnected{background:#ffebe9}
.totals{display:flex;gap:2rem;flex-wrap:wrap}.totals div{font-size:1.1rem}
#loss-chart{width:100%;max-width:720px;height:auto}
#loss-chart .line{fill:none;stroke:#0969da;stroke-width:2}
#loss-chart .point{fill:#0969da}#loss-chart .grid{stroke:#eaeef2}
#loss-chart .axis{stroke:#57606a}#loss-chart text{font-size:12px;fill:#57606a}
"""


def money(value: Decimal) -> str:
    """Format dollars like the CLI: thousands separated, two decimals ("1,234.56")."""
    return f"{value:,.2f}"


def render_status_page(snapshot: StatusSnapshot) -> str:
    """Return the whole HTML document of the status page for `snapshot`."""
    at = snapshot.at.isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>tlh · {escape(snapshot.state)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>tlh status</h1>
<p class="muted">As of <time id="as-of" datetime="{escape(at)}">{escape(at)}</time>
(trading date <span id="today">{snapshot.today.isoformat()}</span>); this page reloads every
{REFRESH_SECONDS} seconds.</p>
</header>
<main>
{_summary(snapshot)}
{_lots(snapshot)}
{_harvests(snapshot)}
{_wash_windows(snapshot.wash_windows)}
<section id="chart">
<h2>Harvested losses over time (cumulative, since the first harvest)</h2>
{render_loss_chart(snapshot.harvests, snapshot.today)}
</section>
</main>
</body>
</html>
"""


def _summary(s: StatusSnapshot) -> str:
    connection = {None: "unknown", True: "connected", False: "disconnected"}[s.connected]
    rows = [
        ("Mode", _span("mode", s.mode)),
        ("Live trading enabled", _span("live-trading-enabled", _yes(s.live_trading_enabled))),
        ("Orders may leave", _span("trading-enabled", _yes(s.trading_enabled))),
        ("Broker", _span("broker", s.broker)),
        ("Connection", _span("connection", connection)),
        (
            "State",
            f'<span id="state" class="state state-{escape(s.state)}"'
            f' data-state="{escape(s.state)}">{escape(s.state)}</span>',
        ),
    ]
    if s.pause.paused:
        since = s.pause.since.isoformat(timespec="seconds") if s.pause.since else DASH
        rows += [
            ("Paused by", _span("pause-by", s.pause.by or DASH)),
            ("Paused since", _span("pause-since", since)),
            ("Pause reason", _span("pause-reason", s.pause.reason or DASH)),
        ]
    halted = (
        "".join(f'<li data-symbol="{escape(sym)}">{escape(sym)}</li>' for sym in s.halted_symbols)
        if s.halted_symbols
        else ""
    )
    rows += [
        (
            "Halted symbols",
            f'<ul id="halted-symbols" data-count="{len(s.halted_symbols)}">{halted}</ul>'
            if halted
            else '<span id="halted-symbols" data-count="0">none</span>',
        ),
        ("Orders in flight", _span("orders-in-flight", str(s.orders_in_flight))),
        ("Journal entries", _span("journal-entries", str(s.journal_entries))),
    ]
    body = "\n".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="summary">\n<dl class="summary">\n{body}\n</dl>\n</section>'


def _lots(s: StatusSnapshot) -> str:
    lots = s.open_lots
    head = _head(
        "account",
        "symbol",
        "lot",
        "quantity",
        "acquired",
        "basis",
        "price",
        "market value",
        "unrealized",
    )
    rows = "\n".join(
        f'<tr data-lot-id="{escape(lot.lot_id)}" data-account="{escape(lot.account)}"'
        f' data-symbol="{escape(lot.symbol)}">'
        f"<td>{escape(lot.account)}</td><td>{escape(lot.symbol)}</td>"
        f"<td>{escape(lot.lot_id)}</td>"
        f'<td class="num" data-field="quantity" data-value="{lot.quantity}">{lot.quantity}</td>'
        f'<td data-field="acquired">{lot.acquired.isoformat()}</td>'
        f"{_money_cell('basis', lot.basis)}{_money_cell('price', lot.price)}"
        f"{_money_cell('market-value', lot.market_value)}"
        f"{_money_cell('unrealized', lot.unrealized, signed=True)}</tr>"
        for lot in lots
    )
    value = s.portfolio_value
    priced = [u for lot in lots if (u := lot.unrealized) is not None]
    net = sum(priced, ZERO) if priced else None
    foot = (
        f'<tr><td colspan="7">{len(lots)} open lot(s)</td>{_money_cell("market-value", value)}'
        f"{_money_cell('unrealized', net, signed=True)}</tr>"
    )
    totals = (
        '<div class="totals">'
        f'<div>Open lots: <span id="open-lots-count">{len(lots)}</span></div>'
        f"<div>Market value: {_money_span('portfolio-value', value)}</div>"
        f"<div>Unrealized loss: {_money_span('unrealized-loss', s.unrealized_loss)}</div>"
        "</div>"
    )
    return _table_section(
        "lots",
        "Open lots",
        totals,
        "open-lots",
        head,
        rows,
        foot,
        empty="No open lots.",
    )


def _harvests(s: StatusSnapshot) -> str:
    harvests: Sequence[HarvestRecord] = s.harvests_this_year
    head = _head("day", "account", "symbol", "quantity", "loss", "replacement", "est. tax saved")
    rows = "\n".join(
        f'<tr data-intent-id="{escape(h.intent_id)}" data-day="{h.day.isoformat()}"'
        f' data-symbol="{escape(h.symbol)}">'
        f"<td>{h.day.isoformat()}</td><td>{escape(h.account)}</td><td>{escape(h.symbol)}</td>"
        f'<td class="num" data-field="quantity" data-value="{h.quantity}">{h.quantity}</td>'
        f"{_money_cell('loss', h.loss)}"
        f'<td data-field="replacement">{escape(h.replacement or "cash")}</td>'
        f"{_money_cell('estimated-tax-saved', h.estimated_tax_saved)}</tr>"
        for h in reversed(harvests)
    )
    loss, saved = s.harvested_loss_ytd, s.estimated_tax_saved_ytd
    foot = (
        f'<tr><td colspan="4">{len(harvests)} harvest(s) in {s.today.year}</td>'
        f"{_money_cell('loss', loss)}<td></td>{_money_cell('estimated-tax-saved', saved)}</tr>"
    )
    totals = (
        '<div class="totals">'
        f"<div>Harvested loss YTD: {_money_span('harvested-loss-ytd', loss)}</div>"
        f"<div>Estimated tax saved YTD: {_money_span('estimated-tax-saved-ytd', saved)}</div>"
        f'<div>Harvests this year: <span id="harvests-ytd">{len(harvests)}</span></div>'
        f'<div>Harvests today: <span id="harvests-today">{s.harvests_today}</span></div>'
        "</div>"
    )
    return _table_section(
        "harvests",
        f"Harvests in {s.today.year}",
        totals,
        "harvests-table",
        head,
        rows,
        foot,
        empty=f"No harvests in {s.today.year} yet.",
    )


def _wash_windows(windows: Iterable[WashWindow]) -> str:
    ordered = sorted(windows, key=lambda w: (w.until, w.symbol, w.account))
    parts = [
        '<section id="wash-windows">',
        "<h2>Wash-sale calendar</h2>",
        # IRC §1091 and Rev. Rul. 2008-5: a purchase in any of the household's accounts, IRAs
        # included, washes a loss; the account column names where the trade was made.
        '<p class="note">Each lockout holds in every account of the household, IRAs included; '
        "the account is where the sale or purchase was made.</p>",
    ]
    for kind, title, since in (
        ("no_buy", "May not be bought until", "sold at a loss on"),
        ("no_loss_sale", "May not be sold at a loss until", "bought on"),
    ):
        rows = "\n".join(
            f'<tr data-symbol="{escape(w.symbol)}" data-account="{escape(w.account)}"'
            f' data-since="{w.since.isoformat()}" data-until="{w.until.isoformat()}">'
            f"<td>{escape(w.symbol)}</td><td>{escape(w.account)}</td>"
            f"<td>{w.since.isoformat()}</td><td>{w.until.isoformat()}</td></tr>"
            for w in ordered
            if w.kind == kind
        )
        table_id = kind.replace("_", "-")
        parts.append(f"<h3>{title}</h3>")
        parts.append(
            _table(table_id, _head("symbol", "traded in", since, "until"), rows, "")
            if rows
            else f'<p id="{table_id}-empty">Nothing.</p>'
        )
    parts.append("</section>")
    return "\n".join(parts)


def _table_section(
    section_id: str,
    title: str,
    totals: str,
    table_id: str,
    head: str,
    rows: str,
    foot: str,
    *,
    empty: str,
) -> str:
    table = _table(table_id, head, rows, foot) if rows else f'<p id="{table_id}-empty">{empty}</p>'
    return f'<section id="{section_id}">\n<h2>{title}</h2>\n{totals}\n{table}\n</section>'


def _table(table_id: str, head: str, rows: str, foot: str) -> str:
    tfoot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return f'<table id="{table_id}">\n{head}\n<tbody>\n{rows}\n</tbody>\n{tfoot}</table>'


def _head(*names: str) -> str:
    cells = (
        f'<th scope="col" class="num">{name}</th>'
        if name in NUMERIC
        else f'<th scope="col">{name}</th>'
        for name in names
    )
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def _money_cell(field: str, value: Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return f'<td class="num" data-field="{field}" data-value="">{DASH}</td>'
    tone = " loss" if signed and value < 0 else " gain" if signed and value > 0 else ""
    return f'<td class="num{tone}" data-field="{field}" data-value="{value}">{money(value)}</td>'


def _money_span(element_id: str, value: Decimal | None) -> str:
    if value is None:
        return f'<span id="{element_id}" data-value="">{DASH}</span> (a lot is unpriced)'
    return f'$<span id="{element_id}" data-value="{value}">{money(value)}</span>'


def _span(element_id: str, text: str) -> str:
    return f'<span id="{element_id}">{escape(text)}</span>'


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
