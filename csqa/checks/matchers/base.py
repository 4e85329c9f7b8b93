"""What every matcher gives: spans of a message's normalized text, `(start, end, matched text)`."""
from __future__ import annotations

from typing import Protocol

Span = tuple[int, int, str]


class TextMatcher(Protocol):
    """A matcher whose spans are a pure function of the message text (all but the phrase matcher,
    which reads the conversation's shared phrase hits). `spans` is memoized per text by each matcher."""

    costly: bool  # tried only after the cheap matchers found nothing (a model, exemplar similarity)

    def spans(self, text: str) -> tuple[Span, ...]: ...


def outermost(spans, text: str | None = None) -> list[Span]:
    """Merge overlapping spans (你自己没看清楚 ⊃ 自己没看清楚; 你脑子 ∩ 脑子有问题): one finding per place."""
    if len(spans) == 1:
        return [spans[0]]
    ordered = sorted(set(spans), key=lambda sp: (sp[0], -(sp[1] - sp[0])))
    out: list[Span] = []
    for sp in ordered:
        if out and sp[0] < out[-1][1]:
            last = out[-1]
            if sp[1] > last[1]:
                merged_text = text[last[0]: sp[1]] if text is not None else last[2] + sp[2][last[1] - sp[0]:]
                out[-1] = (last[0], sp[1], merged_text)
            continue
        out.append(sp)
    return out
