"""How much each per-process memo of text results may hold.

Chats repeat their lines ("好的", "在吗", a shop's greeting), so workers remember results per
distinct text (normalization, tokens, phrase hits, PII scans, classifier verdicts…). Each such
memo is emptied (or forgets its oldest entries) past `TEXTS_PER_MEMO` texts, so a worker's
memory is the same whether it scores 10 thousand conversations or 10 million: at 200k
conversations, memos of 50–200k texts each made a worker 2.3× larger than at 20k
(benchmarks/bench_speed.py --sizes 20000,200000); lines frequent enough to matter come back
into a memo within a batch.
"""
TEXTS_PER_MEMO = 20_000
