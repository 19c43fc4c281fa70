"""The status page as one HTML document: inline CSS, the chart as inline SVG, no script, nothing
to fetch (the server also forbids fetching with its Content-Security-Policy). Tables carry their
figures as data attributes (`data-figure` and the raw `data-value`), so a reader or a test takes
the number, not its formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from llmgateway.status.chart import colour, spend_chart, tenant_name
from llmgateway.status.figures import DeploymentFigures, KeyFigures, Percentiles, StatusFigures
from llmgateway.status.money import usd

BREAKER_STATES = {0: "closed", 1: "half-open", 2: "open"}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
p.when{color:#555;margin:0}p.note{color:#8a4b00}
table{border-collapse:collapse;margin:.3rem 0}caption{text-align:left;color:#555;padding:.2rem 0}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.text{text-align:left}thead th{background:#f3f3f3}
.breaker-closed{color:#0a6b2b}.breaker-half-open{color:#8a4b00;font-weight:600}
.breaker-open{color:#b00020;font-weight:700}.over{color:#b00020;font-weight:700}
.axis{stroke:#777}.tick{font-size:11px;fill:#555}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
"""


def _cell(figure: str, value: object, shown: str, css: str = "") -> str:
    raw = "" if value is None else str(value)
    klass = f' class="{css}"' if css else ""
    return f'<td data-figure="{figure}" data-value="{escape(raw)}"{klass}>{escape(shown)}</td>'


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def _latency_cells(prefix: str, figures: Percentiles) -> str:
    return _cell(f"{prefix}_p50_ms", figures.p50_ms, _ms(figures.p50_ms)) + _cell(
        f"{prefix}_p95_ms", figures.p95_ms, _ms(figures.p95_ms)
    )


def _deployment_row(d: DeploymentFigures) -> str:
    state = BREAKER_STATES.get(d.breaker_state, "unknown") if d.breaker_state is not None else "no calls yet"
    return (
        f'<tr data-deployment="{escape(d.deployment)}"><th scope="row">{escape(d.deployment)}</th>'
        f'<td class="text">{escape(d.provider)}</td><td class="text">{escape(d.model)}</td>'
        + _cell("breaker_state", d.breaker_state, state, f"breaker-{state.replace(' ', '-')}")
        + _cell("attempts", d.attempts, f"{d.attempts:,}")
        + _cell("failed_attempts", d.failed_attempts, f"{d.failed_attempts:,}")
        + _cell("error_rate", d.error_rate, _percent(d.error_rate))
        + _cell("calls_last_hour", d.calls_last_hour, f"{d.calls_last_hour:,}")
        + _cell("failed_calls_last_hour", d.failed_calls_last_hour, f"{d.failed_calls_last_hour:,}")
        + _latency_cells("latency", d.latency)
        + _latency_cells("ttft", d.ttft)
        + "</tr>"
    )


def _deployments(figures: StatusFigures) -> str:
    rows = "".join(_deployment_row(d) for d in figures.deployments)
    in_flight = "".join(
        f'<tr data-method="{escape(method)}"><th scope="row">{escape(method)}</th>'
        + _cell("in_flight", count, f"{count:,}")
        + "</tr>"
        for method, count in figures.in_flight.items()
    )
    return (
        "<h2>Deployments</h2>"
        '<table id="deployments"><caption>Breaker state and attempts since the server started '
        "(as in /metrics); calls, latency and time to first token of the last hour's calls (from the "
        "ledger; latency and TTFT of the calls that ended OK)</caption><thead><tr>"
        '<th scope="col">deployment</th><th scope="col">provider</th><th scope="col">model</th>'
        '<th scope="col">breaker</th><th scope="col">attempts</th><th scope="col">failed</th>'
        '<th scope="col">error rate</th><th scope="col">calls (1 h)</th><th scope="col">failed (1 h)</th>'
        '<th scope="col">latency p50</th><th scope="col">latency p95</th>'
        '<th scope="col">TTFT p50</th><th scope="col">TTFT p95</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        '<table id="in-flight"><caption>Calls in flight now, by method</caption><thead><tr>'
        '<th scope="col">method</th><th scope="col">in flight</th></tr></thead>'
        f"<tbody>{in_flight or '<tr><td colspan=2>none since the start</td></tr>'}</tbody></table>"
    )


def _tenants(figures: StatusFigures) -> str:
    rows = "".join(
        f'<tr data-tenant="{escape(t.tenant)}"><th scope="row">'
        f'<span class="swatch" style="background:{colour(index)}"></span>{escape(tenant_name(t.tenant))}</th>'
        + _cell("spend_last_day_nano_usd", t.total_nano_usd, usd(t.total_nano_usd))
        + "</tr>"
        for index, t in enumerate(figures.tenants)
    )
    return (
        "<h2>Spend per tenant, last 24 hours</h2>"
        + spend_chart(figures.hours, figures.tenants)
        + '<table id="tenants"><caption>Spend per tenant over the hours charted (from the ledger)</caption>'
        '<thead><tr><th scope="col">tenant</th><th scope="col">spend</th></tr></thead>'
        f"<tbody>{rows or '<tr><td colspan=2>no calls</td></tr>'}</tbody></table>"
    )


def _key_row(k: KeyFigures) -> str:
    used = k.budget_used
    budget = "none" if k.budget_usd is None else f"${k.budget_usd:,.2f} per {k.budget_period}"
    labels = ", ".join(f"{name}={value}" for name, value in sorted(k.labels.items()))
    return (
        f'<tr data-key="{escape(k.key_id)}"><th scope="row">{escape(k.key_id)}</th>'
        f'<td class="text">{escape(k.name)}</td><td class="text">{escape(k.tenant)}</td>'
        f'<td class="text">{"revoked" if k.revoked else "active"}</td>'
        f'<td class="text">{escape(labels)}</td><td class="text">{escape(", ".join(k.models))}</td>'
        + _cell("rpm", k.rpm, _limit(k.rpm))
        + _cell("tpm", k.tpm, _limit(k.tpm))
        + _cell("max_concurrent", k.max_concurrent, _limit(k.max_concurrent))
        + _cell("calls_last_day", k.last_day.calls, f"{k.last_day.calls:,}")
        + _cell("tokens_last_day", k.last_day.tokens, f"{k.last_day.tokens:,}")
        + _cell("spend_last_day_nano_usd", k.last_day.nano_usd, usd(k.last_day.nano_usd))
        + _cell("spend_this_period_nano_usd", k.this_period.nano_usd, usd(k.this_period.nano_usd))
        + f'<td class="text">{escape(budget)}</td>'
        + _cell("budget_used", used, _percent(used), "over" if used is not None and used >= 1 else "")
        + "</tr>"
    )


def _keys(figures: StatusFigures) -> str:
    rows = "".join(_key_row(k) for k in figures.keys)
    return (
        "<h2>Keys</h2>"
        '<table id="keys"><caption>Configured keys (ids, never secrets) with their limits; calls, '
        "tokens and spend of the last 24 hours and of the current budget period, UTC (from the "
        "ledger)</caption><thead><tr>"
        '<th scope="col">key id</th><th scope="col">name</th><th scope="col">tenant</th>'
        '<th scope="col">state</th><th scope="col">labels</th><th scope="col">models</th>'
        '<th scope="col">RPM</th><th scope="col">TPM</th><th scope="col">concurrent</th>'
        '<th scope="col">calls (24 h)</th><th scope="col">tokens (24 h)</th><th scope="col">spend (24 h)</th>'
        '<th scope="col">spend this period</th><th scope="col">budget</th><th scope="col">budget used</th>'
        f"</tr></thead><tbody>{rows or '<tr><td colspan=15>no keys configured</td></tr>'}</tbody></table>"
    )


def status_page(figures: StatusFigures, refresh_s: int) -> bytes:
    when = datetime.fromtimestamp(figures.now_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    refresh = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    ledger_note = {
        "ok": "",
        "off": '<p class="note" id="ledger-note">No ledger is configured: spend, latency and usage are not shown.</p>',
        "unavailable": '<p class="note" id="ledger-note">The ledger database could not be read: '
        "its figures are missing from this view.</p>",
    }[figures.ledger]
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{refresh}<title>llmgateway status</title><style>{_STYLE}</style></head><body>"
        f'<h1>llmgateway status</h1><p class="when">As of <time id="as-of" datetime="{figures.now_ms}">'
        f'{when}</time>. The same figures as JSON: <a href="status.json">status.json</a>.</p>'
        f"{ledger_note}<main>{_deployments(figures)}{_tenants(figures)}{_keys(figures)}</main></body></html>"
    )
    return document.encode()
