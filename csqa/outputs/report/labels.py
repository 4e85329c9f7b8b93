"""The report's words: Chinese names of checks, complaint categories and severities, and a share as a percentage.

Uses nothing of the report package: every other report module, and the review desk (`csqa.web.render`), may use it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from csqa.rulebook.schema import CHECK_NAMES_ZH

try:  # the complaint taxonomy ships with the classifier
    from csqa.complaints import CATEGORY_NAMES_ZH, SEVERITY_NAMES_ZH
except ImportError:  # pragma: no cover - only without the complaints package
    CATEGORY_NAMES_ZH = {"none": "非投诉", "product": "商品质量", "logistics": "物流配送", "service": "服务态度",
                         "payment": "支付退款", "system": "系统故障", "price": "价格促销", "other": "其他"}
    SEVERITY_NAMES_ZH = {"none": "无", "normal": "一般投诉", "serious": "重大投诉"}

SEVERITY_ZH = {"critical": "红线", "major": "重要", "minor": "一般", "bonus": "加分"}


def _pct(k, n, digits: int = 0) -> str:
    return f"{100 * k / n:.{digits}f}%" if n else "—"


def check_zh(check: str) -> str:
    return CHECK_NAMES_ZH.get(check, check)


def category_zh(code) -> str:
    if code is None or code is pd.NA or (isinstance(code, float) and np.isnan(code)) or code == "":
        return "未分类"
    return CATEGORY_NAMES_ZH.get(code, str(code))
