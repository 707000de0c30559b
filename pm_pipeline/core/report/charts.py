"""Inline SVG bar charts: no library, no script, identical in the offline HTML and in the PDFs."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

_BAR_HEIGHT = 18
_GAP = 6
_LABEL_WIDTH = 190
_BAR_WIDTH = 300
_MAX_LABEL = 28


def bar_chart(*, title: str, items: Sequence[tuple[str, int]], color: str = "#c0392b") -> Markup:
    """A horizontal bar chart of (label, count), largest first; empty when there is nothing to show."""
    rows = sorted(((label, count) for label, count in items if count > 0), key=lambda i: (-i[1], i[0]))
    if not rows:
        return Markup("")
    top = max(count for _, count in rows)
    height = 24 + len(rows) * (_BAR_HEIGHT + _GAP)
    width = _LABEL_WIDTH + _BAR_WIDTH + 80
    parts = [
        f'<svg class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, count) in enumerate(rows):
        y = 24 + index * (_BAR_HEIGHT + _GAP)
        length = max(2, round(_BAR_WIDTH * count / top))
        short = label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"
        parts.append(
            f'<text x="{_LABEL_WIDTH - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{length}" height="{_BAR_HEIGHT}" fill="{color}"/>'
            f'<text x="{_LABEL_WIDTH + length + 6}" y="{y + 13}" font-size="12">{count:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
