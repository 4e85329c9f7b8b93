"""Texts the equivalence tests share: the bundled sample's messages and texts built from the cues' own
vocabulary (so that the shortcuts' edge cases — a cue cut in two, a cue inside a longer word — occur)."""
from __future__ import annotations

import csv
import random

FRAGMENTS = [
    "加我", "微信", "vx", "ＶＸ", "wx:", "QQ", "qq号", "扣扣", "企鹅", "钉钉", "加", "添加", "群", "拉您进", "私聊", "私下",
    "扫码", "二维码", "好友", "我的", "手机号", "电话", "是", ":", "：", " ", "abc123def", "12345678", "[数字x]", "[电话x]",
    "打我", "私人", "个人", "支付宝", "转账", "转给我", "打款", "到我", "给我", "直接", "线下", "付款", "不走", "平台", "绕过",
    "平台外", "收款码", "给个", "红包", "打赏", "求", "小费", "不要", "陌生人", "官方", "风险", "，", "。", "您", "给您", "呼",
    "转", "钱", "本人", "们", "的", "一下", "您好", "感谢您的咨询", "祝您", "生活愉快", "再见", "是吗", "对吧", "您是说",
    "确认一下", "还有其他", "可以帮到您的吗", "?", "～", "亲", "😊", "[微笑]", "不行", "保证明天到", "好评返现5元",
]


def sample_texts(sample_csv) -> list[str]:
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        return [row[4] for row in list(csv.reader(fh))[1:]]


def mixed_texts(sample_csv, n: int = 4000, seed: int = 20261102) -> list[str]:
    """The sample's texts, then n texts of 1–8 fragments, half of them with a cut of a sample text inside."""
    rng = random.Random(seed)
    sample = sample_texts(sample_csv)
    out = list(sample)
    for _ in range(n):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.5:
            base = rng.choice(sample)
            parts.insert(rng.randint(0, len(parts)), base[: rng.randint(0, len(base))])
        out.append("".join(parts))
    return out
