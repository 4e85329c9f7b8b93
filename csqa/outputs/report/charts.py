"""Inline SVG charts generated in Python: no JavaScript, no network, every label escaped.

Each function returns `markupsafe.Markup` (an <svg> element) to drop into the template.
Labels may come from data (agent ids, check names): they pass through `escape`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

BLUE, RED, AMBER, GREEN, GREY = "#3b6fd6", "#d64545", "#e0a030", "#2f9e5b", "#9aa4b2"
FONT = 'font-family="PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif"'


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    head = (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" {FONT} font-size="11">')
    return Markup(head + f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")


def _text(x: float, y: float, s, anchor: str = "middle", fill: str = "#333", size: int | None = None,
          weight: str | None = None) -> str:
    extra = (f' font-size="{size}"' if size else "") + (f' font-weight="{weight}"' if weight else "")
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>{escape(s)}</text>'


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


@dataclass(frozen=True)
class Bin:
    label: str
    count: int
    color: str = BLUE
    tip: str = ""


def histogram(bins: Sequence[Bin], label: str, width: int = 460, height: int = 190,
              marker: tuple[float, str] | None = None, unit: str = "会话") -> Markup:
    """Vertical bars with their counts; `marker` = (bin position, text) draws a dashed line
    at that position (e.g. (8, '合格线 80') between the 8th and 9th bin)."""
    if not bins or not any(b.count for b in bins):
        return _svg(width, 40, [_text(width / 2, 24, "无数据", fill=GREY)], label)
    left, right, top, bottom = 8, 8, 18, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    bw = plot_w / len(bins)
    peak = max(b.count for b in bins) or 1
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#bbb"/>']
    for i, b in enumerate(bins):
        h = plot_h * b.count / peak
        x = left + i * bw
        tip = b.tip or f"{b.label}: {b.count} {unit}"
        body.append(f'<g><title>{escape(tip)}</title><rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" '
                    f'width="{max(bw - 4, 1):.1f}" height="{max(h, 0.5):.1f}" fill="{b.color}" rx="2"/></g>')
        if b.count:
            body.append(_text(x + bw / 2, top + plot_h - h - 4, b.count, size=10))
        body.append(_text(x + bw / 2, top + plot_h + 14, b.label, fill="#555", size=10))
    if marker is not None:
        pos, text = marker
        mx = left + pos * bw
        body.append(f'<line x1="{mx:.1f}" y1="{top - 6}" x2="{mx:.1f}" y2="{top + plot_h}" stroke="{RED}" '
                    f'stroke-dasharray="4 3"/>')
        body.append(_text(mx + 3, top + plot_h + 28, text, anchor="middle", fill=RED, size=10))
    return _svg(width, height, body, label)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # bar length in units of `scale`
    text: str  # shown right of the bar, e.g. '35% (12/34)'
    color: str = BLUE
    ref: float | None = None  # a reference tick (e.g. the team's rate)
    tip: str = ""
    href: str = ""


def hbars(bars: Sequence[Bar], label: str, scale: float = 1.0, width: int = 520, label_w: int = 130,
          text_w: int = 120, row_h: int = 22, ref_label: str = "") -> Markup:
    """Horizontal bars with a label on the left and value text (with n) on the right."""
    if not bars:
        return _svg(width, 30, [_text(width / 2, 20, "无数据", fill=GREY)], label)
    top = 6 + (14 if ref_label else 0)
    height = top + row_h * len(bars) + 6
    plot_w = width - label_w - text_w - 10
    scale = scale or 1.0
    body = []
    if ref_label:
        body.append(f'<line x1="{width - text_w - 150}" y1="8" x2="{width - text_w - 150}" y2="16" stroke="#222" stroke-width="2"/>')
        body.append(_text(width - text_w - 144, 16, ref_label, anchor="start", fill="#555", size=10))
    for i, b in enumerate(bars):
        y = top + i * row_h
        w = max(0.0, min(1.0, b.value / scale)) * plot_w
        name = _text(label_w - 6, y + row_h / 2 + 4, b.label, anchor="end", fill="#333")
        if b.href:
            name = f'<a href="{escape(b.href)}">{name}</a>'
        tip = b.tip or f"{b.label}: {b.text}"
        body.append(f'<g><title>{escape(tip)}</title>{name}'
                    f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="#f1f3f6" rx="2"/>'
                    f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}" fill="{b.color}" rx="2"/>'
                    + _text(label_w + plot_w + 6, y + row_h / 2 + 4, b.text, anchor="start", fill="#333") + "</g>")
        if b.ref is not None:
            rx = label_w + max(0.0, min(1.0, b.ref / scale)) * plot_w
            body.append(f'<line x1="{rx:.1f}" y1="{y + 1}" x2="{rx:.1f}" y2="{y + row_h - 1}" stroke="#222" stroke-width="2">'
                        f"<title>{escape(ref_label)}: {escape(_fmt(b.ref * 100) + '%' if scale == 1.0 else _fmt(b.ref))}</title></line>")
    return _svg(width, height, body, label)


@dataclass(frozen=True)
class Segment:
    value: float
    color: str
    tip: str


def stacked_hbars(rows: Sequence[tuple[str, Sequence[Segment], str]], label: str, total: float,
                  width: int = 520, label_w: int = 90, text_w: int = 120, row_h: int = 22,
                  legend: Sequence[tuple[str, str]] = ()) -> Markup:
    """One horizontal bar per row made of coloured segments (e.g. complaints by severity)."""
    if not rows or not total:
        return _svg(width, 30, [_text(width / 2, 20, "无数据", fill=GREY)], label)
    top = 22 if legend else 6
    height = top + row_h * len(rows) + 6
    plot_w = width - label_w - text_w - 10
    body = []
    lx = label_w
    for name, color in legend:
        body.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{color}" rx="2"/>')
        body.append(_text(lx + 14, 15, name, anchor="start", fill="#555", size=10))
        lx += 16 + 12 * len(name) + 10
    for i, (name, segments, text) in enumerate(rows):
        y = top + i * row_h
        body.append(_text(label_w - 6, y + row_h / 2 + 4, name, anchor="end"))
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="#f1f3f6" rx="2"/>')
        x = float(label_w)
        for seg in segments:
            w = plot_w * seg.value / total
            if w <= 0:
                continue
            body.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{seg.color}">'
                        f"<title>{escape(seg.tip)}</title></rect>")
            x += w
        body.append(_text(label_w + plot_w + 6, y + row_h / 2 + 4, text, anchor="start"))
    return _svg(width, height, body, label)


@dataclass(frozen=True)
class Point:
    x: str  # category label on the x axis (a day, a week)
    y: float | None
    n: int
    tip: str = ""


def line_chart(points: Sequence[Point], label: str, y_min: float = 0, y_max: float = 100, width: int = 520,
               height: int = 180, ref: tuple[float, str] | None = None, color: str = BLUE, y_fmt: str = "{:.0f}",
               second: Sequence[Point] | None = None, second_color: str = AMBER, second_label: str = "",
               first_label: str = "", show_n: bool = False) -> Markup:
    """A line over categorical x (days or weeks); each point's tooltip shows its value and n.
    Points with y None (no data that day) break the line. `ref` = (y, text) draws a dashed line."""
    if not points:
        return _svg(width, 40, [_text(width / 2, 24, "无数据", fill=GREY)], label)
    left, right, top, bottom = 34, 12, 20 if (second or first_label) else 12, 30 + (12 if show_n else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)
    step = plot_w / max(n - 1, 1)

    def px(i: int) -> float:
        return left + (i * step if n > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h - plot_h * (v - y_min) / ((y_max - y_min) or 1)

    body = []
    for t in (y_min, (y_min + y_max) / 2, y_max):
        body.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{width - right}" y2="{py(t):.1f}" stroke="#eee"/>')
        body.append(_text(left - 4, py(t) + 4, y_fmt.format(t), anchor="end", fill="#777", size=10))
    if ref is not None:
        body.append(f'<line x1="{left}" y1="{py(ref[0]):.1f}" x2="{width - right}" y2="{py(ref[0]):.1f}" '
                    f'stroke="{RED}" stroke-dasharray="4 3"/>')
        body.append(_text(width - right, py(ref[0]) - 3, ref[1], anchor="end", fill=RED, size=10))
    every = max(1, -(-n // 10))
    for i, p in enumerate(points):
        if i % every == 0 or i == n - 1:
            body.append(_text(px(i), top + plot_h + 16, p.x, fill="#555", size=10))
        if show_n and n <= 31 and (n <= 16 or i % 2 == 0):
            body.append(_text(px(i), top + plot_h + 28, f"n={p.n}" if p.n else "–", fill="#999", size=9))

    def series(pts: Sequence[Point], col: str) -> None:
        path, pen = [], False
        for i, p in enumerate(pts):
            if p.y is None:
                pen = False
                continue
            path.append(f"{'L' if pen else 'M'}{px(i):.1f},{py(p.y):.1f}")
            pen = True
        if path:
            body.append(f'<path d="{" ".join(path)}" fill="none" stroke="{col}" stroke-width="2"/>')
        for i, p in enumerate(pts):
            if p.y is None:
                continue
            r = 2.5 + min(p.n, 30) / 10
            tip = p.tip or f"{p.x}: {y_fmt.format(p.y)} (n={p.n})"
            body.append(f'<circle cx="{px(i):.1f}" cy="{py(p.y):.1f}" r="{r:.1f}" fill="{col}"><title>{escape(tip)}</title></circle>')

    series(points, color)
    if second:
        series(second, second_color)
    lx = left
    for name, col in ((first_label, color), (second_label, second_color if second else None)):
        if name and col:
            body.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{col}" rx="2"/>')
            body.append(_text(lx + 14, 13, name, anchor="start", fill="#555", size=10))
            lx += 24 + 12 * len(name)
    return _svg(width, height, body, label)
