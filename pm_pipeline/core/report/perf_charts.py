"""The performance workload's latency chart: per query the source's and the target's median with its
95% interval, as inline SVG (no library, no script), on a logarithmic scale so a 0.2 ms lookup and
an 800 ms scan share one chart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

_ROW = 16
_LABEL = 170
_PLOT = 380
_COLORS = {"source": "#2c7fb8", "target": "#d95f0e"}


def _x(ms: float, low: float, high: float) -> float:
    span = math.log10(high) - math.log10(low)
    return _LABEL + _PLOT * (math.log10(max(ms, low)) - math.log10(low)) / span


def latency_chart(queries: Sequence[Mapping[str, Any]]) -> Markup:
    """Median and interval per side and query (``PerfResult.to_json()['queries']``); empty when no
    query has figures."""
    rows = [q for q in queries if q.get("source") and q.get("target")]
    if not rows:
        return Markup("")
    values = [
        v
        for q in rows
        for side in ("source", "target")
        for v in (*q[side]["p50_ci_ms"], q[side]["p50_ms"])
        if v > 0
    ]
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    high = high * 10 if high <= low else high
    height = 40 + len(rows) * (2 * _ROW + 8)
    width = _LABEL + _PLOT + 20
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'aria-label="latency per query: median and 95% interval, source and target">',
        '<text x="0" y="14" font-size="13" font-weight="bold">Median latency (ms, log scale) with 95% intervals</text>',
    ]
    for index, query in enumerate(rows):
        top = 28 + index * (2 * _ROW + 8)
        parts.append(
            f'<text x="0" y="{top + _ROW + 4}" font-size="12">{escape(str(query["query"])[:26])}</text>'
        )
        for offset, side in enumerate(("source", "target")):
            figures = query[side]
            y = top + offset * _ROW + _ROW / 2
            x_low, x_high = (_x(v, low, high) for v in figures["p50_ci_ms"])
            x_mid = _x(figures["p50_ms"], low, high)
            color = _COLORS[side]
            parts.append(
                f'<line x1="{x_low:.1f}" y1="{y:.1f}" x2="{x_high:.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="2"/>'
                f'<circle cx="{x_mid:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>'
                f'<text x="{x_high + 6:.1f}" y="{y + 4:.1f}" font-size="10">{side} {figures["p50_ms"]:,.2f}</text>'
            )
    axis = height - 6
    for power in range(round(math.log10(low)), round(math.log10(high)) + 1):
        x = _x(10**power, low, high)
        parts.append(f'<text x="{x:.1f}" y="{axis}" font-size="9" text-anchor="middle">{10**power:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
