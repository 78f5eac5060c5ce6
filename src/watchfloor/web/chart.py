"""Small server-rendered SVG charts (lines, horizontal bars): no charting script, nothing for the CSP.

The chart is a list of primitives (polylines, labels) that the template writes out as SVG elements with
presentation attributes only (no `style` attribute, which the CSP would block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "BarChart", "Chart", "Series", "bar_chart", "line_chart"]

WIDTH, HEIGHT, PAD = 640, 220, 36
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, TEXT_ROOM = 18, 6, 260, 90


@dataclass(frozen=True, slots=True)
class Series:
    """One named line in SVG coordinates, its colour class and its last value.

    The points are also drawn as dots, so a range of a single day still shows.
    """

    name: str
    points: str
    css: str
    last: str
    dots: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template draws."""

    width: int
    height: int
    series: tuple[Series, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_max_label: str
    empty: bool


def line_chart(
    periods: Sequence[str],
    lines: Sequence[tuple[str, str, Sequence[float | None]]],
    unit: float = 60.0,
    unit_name: str = "min",
) -> Chart:
    """Lines over shared periods; values (seconds) are shown in `unit_name`; gaps (None) are skipped."""
    values = [v for _, _, vs in lines for v in vs if v is not None]
    if not periods or not values:
        return Chart(WIDTH, HEIGHT, (), (), "0", True)
    top = max(values) or 1.0
    span = max(len(periods) - 1, 1)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / span

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top

    series = []
    for name, css, vs in lines:
        dots = tuple((round(x(i), 1), round(y(v), 1)) for i, v in enumerate(vs) if v is not None)
        points = " ".join(f"{px},{py}" for px, py in dots)
        last = next((f"{v / unit:.1f} {unit_name}" for v in reversed(vs) if v is not None), "-")
        series.append(Series(name, points, css, last, dots))
    step = max(1, len(periods) // 6)
    labels = tuple((x(i), periods[i]) for i in range(0, len(periods), step))
    return Chart(WIDTH, HEIGHT, tuple(series), labels, f"{top / unit:.1f} {unit_name}", False)


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar: its label, width and top in SVG units, the value shown and a colour class."""

    label: str
    y: float
    width: float
    text: str
    css: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """Bars on a shared scale, and an optional marker line (a threshold) at `marker_x`."""

    width: int
    height: int
    left: int
    bars: tuple[Bar, ...]
    marker_x: float | None
    marker_label: str

    @property
    def empty(self) -> bool:
        """Nothing to draw."""
        return not self.bars


def bar_chart(
    items: Sequence[tuple[str, float, str, str]],
    top: float | None = None,
    marker: tuple[float, str] | None = None,
) -> BarChart:
    """Bars for (label, value, shown text, colour class) items, scaled to `top` (default: the largest)."""
    scale = top if top is not None else max((v for _, v, _, _ in items), default=0.0)
    span = WIDTH - LABEL_WIDTH - TEXT_ROOM
    bars = tuple(
        Bar(
            label if len(label) <= 40 else label[:39] + "…",
            PAD / 2 + i * (BAR_HEIGHT + BAR_GAP),
            round(span * value / scale, 1) if scale else 0.0,
            text,
            css,
        )
        for i, (label, value, text, css) in enumerate(items)
    )
    height = int(PAD + len(bars) * (BAR_HEIGHT + BAR_GAP))
    marker_x = None if marker is None or not scale else round(LABEL_WIDTH + span * marker[0] / scale, 1)
    return BarChart(WIDTH, height, LABEL_WIDTH, bars, marker_x, marker[1] if marker else "")
