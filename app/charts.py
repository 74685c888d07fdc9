"""Report charts as SVG drawn on the server: no script, no library, nothing fetched, so they
work on a clinic server with no internet and under the panel's CSP.

Accessible by construction: the <svg> is an image labelled by its own <title> and <desc>,
each bar and point carries a <title> with its label and value (a tooltip, and what a
screen reader reads), and the page puts the same numbers in a table beside it. Colours
are presentation attributes, not `style` (the CSP allows no inline style); the series
also differ in order and legend, not in colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from markupsafe import Markup, escape

from app.formatting import cell, number
from core.reports.model import Chart

PALETTE = ("#2a6df4", "#f29900", "#1e8e3e", "#9aa0a6", "#c5221f", "#8e24aa")
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, BOTTOM = 70, 16, 70
LEGEND_ROW = 20  # the legend wraps onto as many rows as its names need
MOST_LABELS = 14  # x-axis labels shown at most (every k-th beyond that)
LABEL_CHARS = 16
BAR_MAX = 48


def _nice_step(span: float) -> float:
    """A round step giving about four to eight ticks over `span`: 1, 2 or 5 × 10^k."""
    raw = span / 5
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _bounds(chart: Chart) -> tuple[float, float]:
    if chart.style == "stacked":
        columns = zip(*(s.values for s in chart.series), strict=True)
        sums = [sum(float(v) for v in col if v is not None) for col in columns]
        lo, hi = 0.0, max(sums, default=0.0)
    else:
        values = [float(v) for s in chart.series for v in s.values if v is not None]
        lo, hi = min([0.0, *values]), max([0.0, *values])
    if chart.unit == "percent" and lo >= 0:
        hi = max(hi, 100.0)  # a rate reads against the whole
    if hi == lo:
        hi = lo + 1
    return lo, hi


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def render(chart: Chart) -> Markup:
    """The chart as an inline <svg> element."""
    key = escape(chart.key)
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{key}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{key}-title" aria-describedby="{key}-desc">',
        f'<title id="{key}-title">{escape(chart.title)}</title>',
        f'<desc id="{key}-desc">{escape(chart.description)}</desc>',
    ]
    legend, top = _legend(chart)
    parts += legend
    has_values = any(v is not None for s in chart.series for v in s.values)
    if not chart.labels or not has_values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#6b7385" '
            'class="no-data">Нет данных за период</text></svg>'
        )
        return Markup("".join(parts))
    lo, hi = _bounds(chart)
    step = _nice_step(hi - lo)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - top - BOTTOM

    def y(value: float) -> float:
        return top + (hi - value) / (hi - lo) * plot_h

    places = 0 if step >= 1 else 1
    tick = lo
    while tick <= hi + step / 2:
        ty = y(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="{"#9aa0a6" if tick == 0 else "#e3e6ee"}"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#6b7385">{escape(number(Decimal(str(tick)), places))}</text>'
        )
        tick += step
    band = plot_w / len(chart.labels)
    parts += _x_labels(chart.labels, band, HEIGHT - BOTTOM)
    if chart.style == "line":
        parts += _lines(chart, band, y)
    else:
        parts += _bars(chart, band, y)
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(chart: Chart) -> tuple[list[str], float]:
    """The series' swatches and names, wrapped; and where the plot may begin below them."""
    out: list[str] = []
    x, y = float(LEFT), 14.0
    for i, series in enumerate(chart.series):
        width = 28 + 7.5 * len(series.name)  # an estimate: no fonts are measured here
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, y = float(LEFT), y + LEGEND_ROW
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16:.1f}" y="{y + 10}" font-size="13" fill="#1d2433">'
            f"{escape(series.name)}</text>"
        )
        x += width
    return out, y + LEGEND_ROW + 10


def _x_labels(labels: list[str], band: float, base: float) -> list[str]:
    every = max(math.ceil(len(labels) / MOST_LABELS), 1)
    slanted = any(len(label) > 6 for label in labels)
    out = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + band * (i + 0.5)
        turn = f' transform="rotate(-30 {x:.1f} {base + 16})"' if slanted else ""
        out.append(
            f'<text x="{x:.1f}" y="{base + 16}" font-size="12" fill="#6b7385" '
            f'text-anchor="{"end" if slanted else "middle"}"{turn}>{escape(_short(label))}</text>'
        )
    return out


def _tip(label: str, series: str, value: int | Decimal, unit: str) -> str:
    return f"<title>{escape(label)}: {escape(series)} — {escape(cell(value, unit))}</title>"


def _bars(chart: Chart, band: float, to_y: Callable[[float], float]) -> list[str]:
    out = []
    grouped = chart.style != "stacked"
    # A few bars stay bars, not slabs: at most BAR_MAX wide each.
    width = min(band * 0.7, BAR_MAX * (len(chart.series) if grouped else 1))
    each = width / len(chart.series) if grouped else width
    for i, label in enumerate(chart.labels):
        left = LEFT + band * i + (band - width) / 2
        below = 0.0
        for j, series in enumerate(chart.series):
            value = series.values[i]
            if value is None:
                continue
            v = float(value)
            if grouped:
                top, bottom = to_y(max(v, 0.0)), to_y(min(v, 0.0))
                x = left + each * j
            else:
                top, bottom = to_y(below + v), to_y(below)
                below += v
                x = left
            out.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(each - 1, 1):.1f}" '
                f'height="{max(bottom - top, 0):.1f}" fill="{PALETTE[j % len(PALETTE)]}" '
                f'class="bar">{_tip(label, series.name, value, chart.unit)}</rect>'
            )
    return out


def _lines(chart: Chart, band: float, to_y: Callable[[float], float]) -> list[str]:
    out = []
    for j, series in enumerate(chart.series):
        colour = PALETTE[j % len(PALETTE)]
        run: list[str] = []
        points = []
        for i, value in enumerate([*series.values, None]):
            if value is None:
                if len(run) > 1:
                    out.append(
                        f'<polyline points="{" ".join(run)}" fill="none" '
                        f'stroke="{colour}" stroke-width="2"/>'
                    )
                run = []
                continue
            x, py = LEFT + band * (i + 0.5), to_y(float(value))
            run.append(f"{x:.1f},{py:.1f}")
            points.append(
                f'<circle cx="{x:.1f}" cy="{py:.1f}" r="4" fill="{colour}" class="point">'
                f"{_tip(chart.labels[i], series.name, value, chart.unit)}</circle>"
            )
        out += points
    return out
