"""Remembering results per distinct text: one wrapper for every pure text → result function.

Chats repeat their lines ("好的", "在吗", a shop's greeting), so the stages remember what they worked out
per distinct text (phrase hits, a matcher's spans, a model's probabilities, a masked snippet …). Every
such memo is a `Memo` around a pure function: the function is the plain computation, the memo only
spares repeating it. Each memo is emptied past `TEXTS_PER_MEMO` entries, so a worker's memory is the
same whether it scores 10 thousand conversations or 10 million: at 200k conversations, unbounded memos
of 50–200k texts each made a worker 2.3× larger than at 20k (benchmarks/bench_speed.py --sizes
20000,200000); lines frequent enough to matter come back into a memo within a batch.

`memos_off()` turns every memo into a plain call (no look-up, nothing kept): the equivalence test
(tests/test_memo_equivalence.py) scores real chats both ways and finds the same results.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Generic, Hashable, TypeVar

TEXTS_PER_MEMO = 20_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

class Memo(dict, Generic[K, V]):
    """`fn(key)`, remembered per key (at most `size` keys; emptied when full). `fn` must be pure.

    A dict of what was worked out: a call is a dict look-up (C speed; chats repeat lines, so most calls
    are hits), `__missing__` works out and keeps the rest."""

    __slots__ = ("fn", "size")
    enabled = True  # class-wide: False under `memos_off()`

    def __init__(self, fn: Callable[[K], V], size: int = TEXTS_PER_MEMO):
        super().__init__()
        self.fn = fn
        self.size = size

    def __missing__(self, key: K) -> V:
        value = self.fn(key)
        if Memo.enabled:
            if len(self) >= self.size:
                self.clear()
            self[key] = value
        return value

    __call__ = dict.__getitem__

    def __repr__(self) -> str:
        return f"Memo({getattr(self.fn, '__qualname__', self.fn)!r}, {len(self)}/{self.size})"


@contextmanager
def memos_off():
    """Within: every `Memo` computes afresh (what it holds is dropped on entry, nothing is kept)."""
    import gc

    for obj in gc.get_objects():
        if type(obj) is Memo:
            obj.clear()
    Memo.enabled = False
    try:
        yield
    finally:
        Memo.enabled = True
