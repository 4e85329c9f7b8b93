"""The drill-down's transcript as HTML: each finding highlighted in place, every piece of chat text escaped.

`highlight_html` builds the highlighted message by escaping every piece separately: chat text
never reaches the page unescaped. The offsets are those of `csqa.results.transcripts`
(`hl_start` / `hl_end`: into the text as stored and shown, masked unless --no-mask).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    label: str  # the finding's number in the ledger
    title: str  # tooltip: rule, explanation, points
    css: str = "hl"


def highlight_html(text: str, marks: Iterable[Mark]) -> Markup:
    """The message text as HTML with each mark highlighted; every piece of text is escaped.

    Overlapping marks split the text at every boundary; a piece covered by several marks
    carries all their labels in its tooltip. The number of each mark follows its end.
    """
    text = text or ""
    marks = [m for m in marks if 0 <= m.start <= m.end <= len(text)]
    if not marks:
        return Markup(escape(text))
    bounds = sorted({0, len(text)} | {m.start for m in marks} | {m.end for m in marks})
    out: list[Markup] = []
    ends_at: dict[int, list[Mark]] = {}
    for m in marks:
        ends_at.setdefault(m.end, []).append(m)
    for m in ends_at.pop(0, []):  # empty marks at the very start
        out.append(Markup('<sup class="fn" title="{}">{}</sup>').format(m.title, m.label))
    for a, b in zip(bounds, bounds[1:] + [None]):
        if b is not None and a < b:
            piece = text[a:b]
            covering = [m for m in marks if m.start <= a and b <= m.end and m.start < m.end]
            if covering:
                worst = "hl-critical" if any(m.css == "hl-critical" for m in covering) else covering[0].css
                out.append(Markup('<mark class="{}" title="{}">{}</mark>').format(
                    worst, "\n".join(m.title for m in covering), piece))
            else:
                out.append(escape(piece))
        pos = b if b is not None else a
        for m in ends_at.pop(pos, []):
            out.append(Markup('<sup class="fn" title="{}">{}</sup>').format(m.title, m.label))
    return Markup("").join(out)


ROLE_ZH = {"agent": "客服", "customer": "顾客", "system": "系统"}


def role_zh(role: str) -> str:
    return ROLE_ZH.get(role, role)

