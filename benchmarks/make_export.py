"""Build a large chat export by resampling the real JD chats (../shared/data/jddc2019/chat_a.tsv).

Conversations get generated ids, agents and timestamps; masks such as [数字x], [订单x],
[姓名x], [地址x], [金额x] are filled with varying values so that copies are not identical
(a cache keyed on text must not make the benchmark look better than real traffic).
The output is written to benchmarks/data/ (gitignored), never to the repository.

python benchmarks/make_export.py 20000 -o benchmarks/data/jd_20k.csv
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realdata  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
CITIES = ["北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区", "杭州市西湖区", "成都市武侯区", "武汉市洪山区"]
MASK = re.compile(r"\[(数字|订单|姓名|地址|金额|电话|日期|时间|站点|链接|邮箱|组织机构)x\]")


def _fill(rng: random.Random):
    def replace(m: re.Match) -> str:
        kind = m.group(1)
        if kind == "数字":
            return str(rng.randint(1, 9999))
        if kind == "订单":
            return str(rng.randint(10**10, 10**11 - 1))
        if kind == "姓名":
            return rng.choice(SURNAMES) + rng.choice(GIVEN)
        if kind == "地址":
            return f"{rng.choice(CITIES)}{rng.randint(1, 300)}号"
        if kind == "金额":
            return f"{rng.randint(1, 3000)}.{rng.randint(0, 99):02d}元"
        if kind == "日期":
            return f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
        if kind == "时间":
            return f"{rng.randint(8, 22)}:{rng.randint(0, 59):02d}"
        return m.group(0)

    return replace


def sessions() -> list[list[tuple[str, str]]]:
    df = realdata.load_jddc()
    out = []
    for _, g in df.groupby("conversation_id", sort=False):
        out.append(list(zip(g["role"], g["text"])))
    return out


def write_export(n_conversations: int, path: Path, seed: int = 7) -> int:
    rng = random.Random(seed)
    pool = sessions()
    fill = _fill(rng)
    agents = [f"jd_{i:03d}" for i in range(60)]
    start = datetime(2026, 11, 1, 8, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["会话ID", "消息时间", "发送方", "客服账号", "内容"])
        for i in range(n_conversations):
            session = rng.choice(pool)
            agent = rng.choice(agents)
            t = start + timedelta(seconds=rng.randint(0, 30 * 86400))
            cid = f"C{i:08d}"
            for role, text in session:
                t += timedelta(seconds=rng.randint(3, 90))
                w.writerow([cid, t.strftime("%Y-%m-%d %H:%M:%S"), "客服" if role == "agent" else "顾客", agent,
                            MASK.sub(fill, text)])
                rows += 1
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("conversations", type=int)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    print(write_export(args.conversations, args.output), "rows")
