"""Regenerate notebooks/sample_shop_labels.csv: a small "shop export" for the retraining notebook.

Texts come from corpora/complaints/build_corpus.py with a *different* seed and never
repeat a row of the shipped corpus, so comparing the shipped model with a retrained
one on this file is fair. Labels are written the way a shop would: Chinese names.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "corpora" / "complaints"))

import build_corpus  # noqa: E402

from csqa.complaints.taxonomy import CATEGORY_NAMES_ZH, SEVERITY_NAMES_ZH  # noqa: E402


def main() -> None:
    shipped = set(pd.read_csv(REPO / "corpora" / "complaints" / "complaints.csv", dtype=str).text)
    rows = [r for r in build_corpus.build(seed=777) if r[0] not in shipped]
    d = pd.DataFrame(rows, columns=["text", "category", "severity", "style"])
    parts = [g.head(110 if c == "none" else 45) for c, g in d.groupby("category")]
    s = pd.concat(parts).sample(frac=1, random_state=42)
    out = pd.DataFrame({"买家留言": s.text, "投诉类别": s.category.map(CATEGORY_NAMES_ZH), "严重度": s.severity.map(SEVERITY_NAMES_ZH)})
    out.to_csv(HERE / "sample_shop_labels.csv", index=False, encoding="utf-8-sig")
    print(f"{len(out)} rows -> {HERE / 'sample_shop_labels.csv'}")


if __name__ == "__main__":
    main()
