"""`TextMemo(fn, size)`: `fn(text)` remembered per text, for a pure function of the text.

Bounded, in two generations: when the young one is full it becomes the old one (the previous old
one is dropped) and a text found in the old one moves back to the young one, so lines that keep
coming back (an agent's templates, the fixed explanations masked for every finding) stay while a
worker's memory stays the same however many conversations it scores. Every step is O(1)
amortized. The memo only spares repeating `fn`: `clear()` changes no result."""
from __future__ import annotations

from typing import Callable, Generic, Hashable, TypeVar

from csqa.core.memo import TEXTS_PER_MEMO

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class TextMemo(Generic[K, V]):
    __slots__ = ("fn", "size", "young", "old")

    def __init__(self, fn: Callable[[K], V], size: int = TEXTS_PER_MEMO):
        self.fn = fn
        self.size = size
        self.young: dict = {}
        self.old: dict = {}

    def __call__(self, key: K) -> V:
        value = self.young.get(key, _MISSING)
        if value is _MISSING:
            value = self.old.get(key, _MISSING)
            if value is _MISSING:
                value = self.fn(key)
            if len(self.young) >= self.size:
                self.old = self.young
                self.young = {}
            self.young[key] = value
        return value

    def clear(self) -> None:
        self.young = {}
        self.old = {}

    def keys(self) -> set:
        return set(self.young) | set(self.old)

    def __len__(self) -> int:
        return len(self.young) + len(self.old)
