"""An SVG chart of forecast volume (bars) against agents required (line) per interval.

Hand-written SVG: no plotting dependency, and the supervisor console can inline it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 28, 40


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return float(m * exp)
    return float(10 * exp)


def staffing_svg(
    starts: Sequence[datetime],
    volume: Sequence[float],
    agents: Sequence[int],
    title: str = "Forecast volume and agents required",
) -> str:
    n = len(starts)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    vmax = _nice_max(max(volume, default=0.0))
    amax = _nice_max(float(max(agents, default=0)))
    bar_w = plot_w / max(n, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        "<style>text{font:11px sans-serif;fill:#333}.v{fill:#9ecae1}.a{fill:none;"
        "stroke:#d62728;stroke-width:1.5}.g{stroke:#ddd}</style>",
        f'<text x="{LEFT}" y="16">{escape(title)}</text>',
    ]
    for k in range(5):
        y = TOP + plot_h * k / 4
        parts.append(
            f'<line class="g" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{vmax * (4 - k) / 4:g}</text>'
        )
        parts.append(f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}">{amax * (4 - k) / 4:g}</text>')
    for i, v in enumerate(volume):
        h = plot_h * v / vmax
        x = LEFT + i * bar_w
        parts.append(
            f'<rect class="v" x="{x:.2f}" y="{TOP + plot_h - h:.2f}" '
            f'width="{max(bar_w - 0.5, 0.5):.2f}" height="{h:.2f}"/>'
        )
    points = []
    for i, a in enumerate(agents):
        y = TOP + plot_h - plot_h * a / amax
        points.append(f"{LEFT + i * bar_w:.2f},{y:.2f} {LEFT + (i + 1) * bar_w:.2f},{y:.2f}")
    if points:
        parts.append(f'<polyline class="a" points="{" ".join(points)}"/>')
    last_day = None
    for i, st in enumerate(starts):
        if st.date() != last_day:
            last_day = st.date()
            x = LEFT + i * bar_w
            parts.append(
                f'<line class="g" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}"/>'
            )
            parts.append(f'<text x="{x + 2:.1f}" y="{HEIGHT - 22}">{st:%a %d %b}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}">bars: volume per interval (left)</text>')
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" fill="#d62728">'
        "line: agents after shrinkage (right)</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
