"""Spend per tenant per hour as an inline SVG, drawn on the server: stacked bars, one per hour, a
colour per tenant. Hand-written rather than a charting library because the page must work offline
with nothing to fetch and no script, and a bar chart is a few rectangles; each bar carries its
figures as data attributes and a <title> (the browser's tooltip, and what screen readers read)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from llmgateway.status.figures import TenantSpend
from llmgateway.status.money import usd

# Colour-blind-safe (Okabe-Ito), in the order tenants are listed.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_WIDTH, _HEIGHT = 760, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 10, 10, 30


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def tenant_name(tenant: str) -> str:
    """Calls refused before their key was read (no key, a bad key, an open breaker) have none."""
    return tenant or "(no tenant)"


def _hour_label(hour_ms: int) -> str:
    return datetime.fromtimestamp(hour_ms / 1000, tz=UTC).strftime("%H:00")


def spend_chart(hours: list[int], tenants: list[TenantSpend]) -> str:
    """The SVG element (no XML prolog: it sits inside the HTML page)."""
    totals = [sum(t.nano_usd_per_hour[i] for t in tenants) for i in range(len(hours))]
    peak = max(totals, default=0) or 1
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(len(hours), 1)
    label = f"Spend per tenant per hour over the last {len(hours)} hours (UTC)"
    parts = [
        f'<svg id="spend-chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_WIDTH - _RIGHT}" y2="{_TOP + plot_h}" class="axis"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" class="axis"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 10}" text-anchor="end" class="tick">{usd(peak)}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end" class="tick">$0</text>',
    ]
    for i, hour in enumerate(hours):
        x = _LEFT + i * slot
        if i % 6 == 0 or i == len(hours) - 1:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{_HEIGHT - 10}" text-anchor="middle" class="tick">'
                f"{_hour_label(hour)}</text>"
            )
        base = float(_TOP + plot_h)
        for index, tenant in enumerate(tenants):
            nano = tenant.nano_usd_per_hour[i]
            if nano <= 0:
                continue
            height = nano / peak * plot_h
            base -= height
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{base:.2f}" width="{max(slot - 2, 1):.1f}" height="{height:.2f}" '
                f'fill="{colour(index)}" data-tenant="{escape(tenant.tenant)}" data-hour="{hour}" '
                f'data-nano-usd="{nano}"><title>{escape(tenant_name(tenant.tenant))}, {_hour_label(hour)} UTC: '
                f"{usd(nano)}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)
