"""The classifier's word analyzer gives for a batch of texts what it gives for each text alone (it segments
the batch in one go)."""
from __future__ import annotations


def test_word_analyzer_batch_equals_per_text():
    """The word analyzer (tokens_many over a batch) gives the rows/ids of one text at a time."""
    import numpy as np

    from csqa.textmodel.linear import _WordAnalyzer

    sample = ["我要投诉你们", "好的", "", "订单123456号还没到", "退款退款退款!!", "好的", "[微笑]在吗？"]
    vocab = ["投诉", "你们", "好的", "退款", "退款 退款", "在吗", "[数字x]", "还 没", "没到"]
    index = {t: i for i, t in enumerate(vocab)}
    batch_rows, batch_ids = _WordAnalyzer(index)(sample)
    single = _WordAnalyzer(index)
    rows, ids = [], []
    for i, text in enumerate(sample):
        r, d = single([text])
        rows.append(r + i)
        ids.append(d)
    want = sorted(zip(np.concatenate(rows).tolist(), np.concatenate(ids).tolist()))
    assert sorted(zip(batch_rows.tolist(), batch_ids.tolist())) == want
    assert len(want) >= 5
