"""Charts laid out on the server for inline SVG: (stacked) horizontal bars and columns; no script.

Each chart carries a text alternative (`summary`) for its `<title>`; pages show the same numbers
in a table next to it, so the chart is never the only way to read them.
"""

import math
from dataclasses import dataclass, field

from flask_babel import format_decimal

# Colours distinguishable from each other and at least 3:1 against white; the legend names them.
PALETTE = ("#00567a", "#b35900", "#a4161a", "#1b5e20", "#5b3d8a", "#6b6b6b")
PARTIAL_COLOR = "#6593a8"  # the first colour, lighter: still above 3:1 against white
WIDTH = 640
LABEL_WIDTH, VALUE_WIDTH, BAR_HEIGHT, BAR_GAP, LEGEND_HEIGHT = 220, 76, 22, 10, 26
LABEL_CHARS = 27
AXIS_LEFT, AXIS_BOTTOM, PLOT_TOP, PLOT_HEIGHT = 48, 40, 36, 180
MAX_AXIS_LABELS = 9


def number(value: float | int | None, unit: str = "") -> str:
    """Return a figure in the reader's language (decimal comma in ru/kk), or a dash when there is none."""
    if value is None:
        return "—"
    text = format_decimal(value, format="#,##0.#")
    return f"{text} {unit}" if unit else text


def short(label: str, limit: int = LABEL_CHARS) -> str:
    """Return the label cut to fit the chart's label column; the table keeps it whole."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


@dataclass
class Segment:
    series: str
    value: float
    x: float
    width: float
    color: str


@dataclass
class Bar:
    label: str
    short: str
    y: int
    total: float
    text: str
    segments: list[Segment]


@dataclass
class Column:
    label: str
    axis_label: str
    value: float
    text: str
    x: float
    y: float
    width: float
    height: float
    color: str


@dataclass
class LegendItem:
    label: str
    color: str
    x: float
    y: int


@dataclass
class Chart:
    """Everything a template needs to draw one chart, in SVG user units."""

    id: str
    title: str
    kind: str  # bars | columns
    summary: str
    width: int = WIDTH
    height: int = 0
    bars: list[Bar] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT
    axis_left: int = AXIS_LEFT
    plot_bottom: float = 0
    show_values: bool = True


def _legend(series: list[str]) -> tuple[list[LegendItem], int]:
    """Lay the legend out in rows across the chart's width; return the items and the height they take."""
    items, x, y = [], 0.0, 0
    for i, name in enumerate(series):
        width = 14 + 6 + len(name) * 7.5 + 18  # swatch, gap, text at 13px, space
        if x and x + width > WIDTH:
            x, y = 0.0, y + LEGEND_HEIGHT
        items.append(LegendItem(name, PALETTE[i % len(PALETTE)], x, y))
        x += width
    return items, (y + LEGEND_HEIGHT if items else 0)


def bars(chart_id, title, rows: list[tuple[str, list[float]]], series: list[str], unit="", top=None) -> Chart:
    """Lay out horizontal bars, one per row; with several series the bar is stacked and a legend shown.

    Bars are scaled to the largest total, or to `top` (100 for shares in per cent).
    """
    stacked = len(series) > 1
    top = top or max((sum(v or 0 for v in values) for _label, values in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    legend, offset = _legend(series) if stacked else ([], 0)
    laid_out, parts = [], []
    for i, (label, values) in enumerate(rows):
        x, segments = float(LABEL_WIDTH), []
        for j, value in enumerate(values):
            width = span * (value or 0) / top
            segments.append(Segment(series[j], value or 0, round(x, 1), round(width, 1), PALETTE[j % len(PALETTE)]))
            x += width
        total = sum(v or 0 for v in values)
        shown = None if all(v is None for v in values) else total
        laid_out.append(
            Bar(label, short(label), offset + i * (BAR_HEIGHT + BAR_GAP), total, number(shown, unit), segments)
        )
        if stacked:
            detail = ", ".join(f"{s.series} {number(s.value, unit)}" for s in segments)
            parts.append(f"{label}: {detail}")
        else:
            parts.append(f"{label} {number(shown, unit)}")
    return Chart(
        id=chart_id,
        title=title,
        kind="bars",
        summary=f"{title}: " + "; ".join(parts),
        height=max(offset + len(rows) * (BAR_HEIGHT + BAR_GAP), BAR_HEIGHT),
        bars=laid_out,
        legend=legend,
    )


def nice_step(top: float, ticks: int = 4) -> float:
    """Return a round step (1, 2 or 5 × 10ⁿ) that divides 0..top into at most `ticks` intervals."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def columns(chart_id, title, items: list[tuple[str, str, float]], unit="", partial=(), partial_label="") -> Chart:
    """Lay out a column chart from (full label, short axis label, value), with a value axis of round ticks.

    Columns whose index is in `partial` (a week cut by the period) are drawn lighter, named in a legend.
    """
    step = nice_step(max((v for _l, _a, v in items), default=0))
    top = step * max(1, math.ceil(max((v for _l, _a, v in items), default=0) / step))
    plot_width = WIDTH - AXIS_LEFT - 8
    slot = plot_width / max(len(items), 1)
    every = max(1, math.ceil(len(items) / MAX_AXIS_LABELS))
    bottom = PLOT_TOP + PLOT_HEIGHT
    laid_out = []
    for i, (label, axis_label, value) in enumerate(items):
        height = PLOT_HEIGHT * value / top
        laid_out.append(
            Column(
                label=label,
                axis_label=axis_label if i % every == 0 else "",
                value=value,
                text=number(value, unit),
                x=round(AXIS_LEFT + i * slot + slot * 0.15, 1),
                y=round(bottom - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                color=PARTIAL_COLOR if i in partial else PALETTE[0],
            )
        )
    ticks = [(round(bottom - PLOT_HEIGHT * k * step / top, 1), number(k * step)) for k in range(int(top / step) + 1)]
    return Chart(
        id=chart_id,
        title=title,
        kind="columns",
        summary=f"{title}: " + "; ".join(f"{c.label} {c.text}" for c in laid_out),
        height=bottom + AXIS_BOTTOM,
        columns=laid_out,
        ticks=ticks,
        plot_bottom=bottom,
        show_values=slot >= 28,
        legend=[LegendItem(partial_label, PARTIAL_COLOR, AXIS_LEFT, 0)] if partial else [],
    )
