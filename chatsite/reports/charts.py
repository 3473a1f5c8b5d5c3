"""Charts of the usage reports, drawn on the server as SVG (no script, nothing from elsewhere).

Labels come from users and providers: every text goes through format_html's escaping. Colours
are CSS classes (static/reports.css), so the admin's light and dark themes apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 720
BAR_HEIGHT = 18
LEFT = 180  # room for a bar's label in the bar chart


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: float) -> float:
    """The axis maximum: value rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def columns(
    points: Sequence[tuple[str, float | Decimal]],
    title: str,
    shown: Callable[[float | Decimal], str],
    chart_id: str,
) -> SafeString:
    """A column per point (a day), with the axis maximum, the first and last labels, and each
    point's label and value as its tooltip."""
    height, top, bottom, left = 200, 16, 24, 56
    plot_height = height - top - bottom
    plot_width = WIDTH - left - 8
    peak = _nice_ceiling(float(max((value for _, value in points), default=0)))
    step = plot_width / max(len(points), 1)
    bars = []
    for n, (label, value) in enumerate(points):
        bar = plot_height * float(value) / peak
        bars.append(
            format_html(
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
                _n(left + n * step + step * 0.1),
                _n(top + plot_height - bar),
                _n(max(step * 0.8, 0.5)),
                _n(bar),
                label,
                shown(value),
            )
        )
    first = points[0][0] if points else ""
    last = points[-1][0] if points else ""
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title">'
        '<title id="{id}-title">{title}</title>'
        '<line class="chart-axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>'
        '<line class="chart-grid" x1="{left}" y1="{top}" x2="{right}" y2="{top}"/>'
        '<text class="chart-label" x="{lx}" y="{ty}" text-anchor="end">{peak}</text>'
        '<text class="chart-label" x="{lx}" y="{base}" text-anchor="end">0</text>'
        "{bars}"
        '<text class="chart-label" x="{left}" y="{dy}">{first}</text>'
        '<text class="chart-label" x="{right}" y="{dy}" text-anchor="end">{last}</text>'
        "</svg>",
        id=chart_id,
        w=WIDTH,
        h=height,
        title=title,
        left=left,
        right=WIDTH - 8,
        top=top,
        base=top + plot_height,
        lx=left - 6,
        ty=top + 4,
        peak=shown(peak),
        bars=format_html_join("", "{}", ((bar,) for bar in bars)),
        dy=height - 6,
        first=first,
        last=last,
    )


def bars(
    points: Sequence[tuple[str, float | Decimal]],
    title: str,
    shown: Callable[[float | Decimal], str],
    chart_id: str,
) -> SafeString:
    """A horizontal bar per point (a user, group, model or provider), labelled with its name and value."""
    height = 8 + len(points) * (BAR_HEIGHT + 6)
    peak = float(max((value for _, value in points), default=0)) or 1
    room = WIDTH - LEFT - 110
    rows = []
    for n, (label, value) in enumerate(points):
        y = 4 + n * (BAR_HEIGHT + 6)
        length = room * float(value) / peak
        rows.append(
            format_html(
                '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
                '<text class="chart-label" x="{}" y="{}">{}</text>',
                LEFT - 6,
                y + BAR_HEIGHT - 5,
                label if len(label) <= 26 else label[:25] + "…",
                LEFT,
                y,
                _n(max(length, 0.5)),
                BAR_HEIGHT,
                label,
                shown(value),
                _n(LEFT + length + 6),
                y + BAR_HEIGHT - 5,
                shown(value),
            )
        )
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title">'
        '<title id="{id}-title">{title}</title>{rows}</svg>',
        id=chart_id,
        w=WIDTH,
        h=height,
        title=title,
        rows=format_html_join("", "{}", ((row,) for row in rows)),
    )
