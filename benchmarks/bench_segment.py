"""Segmenters side by side: accuracy on SIGHAN 2005 gold (../shared/data/icwb2), agreement
with the jieba reference on the real JD chats, and speed — measured in one run.

python benchmarks/bench_segment.py
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realdata  # noqa: E402

ICWB2 = realdata.DATA / "icwb2"


def gold_sentences(name: str) -> list[list[str]]:
    lines = (ICWB2 / f"{name}_test_gold.utf8").read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.strip()]


def spans(words) -> set[tuple[int, int]]:
    out, pos = set(), 0
    for w in words:
        out.add((pos, pos + len(w)))
        pos += len(w)
    return out


def f1(gold: list[list[str]], predicted: list[list[str]]) -> float:
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted):
        gs, ps = spans(g), spans([w for w in p if w.strip()])
        tp += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    precision, recall = tp / n_pred, tp / n_gold
    return 2 * precision * recall / (precision + recall)


def main() -> int:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from csqa.text.normalize import normalize_text
    from csqa.text.segment import Segmenter

    if not ICWB2.exists():
        print("../shared/data is absent: nothing to measure")
        return 0
    variants = []
    for backend in ("jieba", "rjieba"):
        for hmm in (True, False):
            variants.append((backend, hmm))
    chats = [normalize_text(t) for t in realdata.load_jddc()["text"]]
    mb = sum(len(t.encode("utf-8")) for t in chats) / 1e6
    print(f"{'segmenter':<22}{'PKU F1':>8}{'MSR F1':>8}{'chat MB/s':>11}{'msg/s':>9}{'same tokens as jieba(HMM off)':>32}")
    reference = None
    results = {}
    for backend, hmm in variants:
        seg = Segmenter(backend=backend, hmm=hmm, cache_size=0)
        scores = []
        for corpus in ("pku", "msr"):
            gold = gold_sentences(corpus)
            scores.append(f1(gold, [seg._cut("".join(words)) for words in gold]))
        t0 = time.perf_counter()
        toks = [seg._cut(t) for t in chats]
        dt = time.perf_counter() - t0
        results[(backend, hmm)] = toks
        if (backend, hmm) == ("jieba", False):
            reference = toks
        same = "" if reference is None else f"{sum(a == b for a, b in zip(reference, toks)) / len(toks):.2%}"
        print(f"{backend + (' HMM on' if hmm else ' HMM off'):<22}{scores[0]:>8.3f}{scores[1]:>8.3f}{mb / dt:>11.2f}{len(chats) / dt:>9.0f}{same:>32}")
    ref = results[("jieba", False)]
    for key, toks in results.items():
        agree = sum(a == b for a, b in zip(ref, toks)) / len(ref)
        print(f"agreement with jieba HMM off on {len(ref)} JD messages: {key[0]} HMM {'on' if key[1] else 'off'}: {agree:.2%}")
    print("(F1 with the csqa domain dictionary loaded; csqa uses HMM off: faster and more accurate on both gold sets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
