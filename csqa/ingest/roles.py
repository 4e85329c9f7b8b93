"""Map the values of a role column (客服, 买家, system…) to agent / customer / system."""
from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from csqa.core.errors import ConfigError
from .model import ROLES

_BUILTIN = {
    "agent": (
        "客服", "坐席", "座席", "商家", "卖家", "agent", "staff", "service",
        "人工客服", "在线客服", "客服人员", "售后客服", "售前客服",
    ),
    "customer": (
        "顾客", "买家", "用户", "客户", "customer", "user", "buyer", "访客",
        "visitor", "client", "消费者",
    ),
    "system": ("系统", "机器人", "system", "bot", "robot", "系统消息", "机器人客服", "智能客服"),
}


def normalize_role_value(value: object) -> str:
    """Case-, width- and space-insensitive key for a role value."""
    text = unicodedata.normalize("NFKC", "" if value is None else str(value))
    return "".join(text.split()).lower()


def build_role_table(role_map: dict[str, str] | None) -> dict[str, str]:
    table = {normalize_role_value(v): role for role, values in _BUILTIN.items() for v in values}
    for value, role in (role_map or {}).items():
        target = normalize_role_value(role)
        target = table.get(target, target) if target not in ROLES else target
        if target not in ROLES:
            raise ConfigError(
                f"角色映射「{value}={role}」无效：只能映射到 agent、customer 或 system "
                f"(role map target must be agent, customer or system)"
            )
        table[normalize_role_value(value)] = target
    return table


def map_roles(values: pd.Series, table: dict[str, str]) -> pd.Series:
    """Map raw role values to agent/customer/system; unknown values become ''.

    Only the distinct values are normalized, so a million rows cost a dict look-up each.
    """
    if isinstance(values.dtype, pd.StringDtype):  # text files: map the codes of the distinct values
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        mapped = np.array([table.get(normalize_role_value(u), "") for u in uniques.tolist()], dtype=object)
        return pd.Series(mapped[codes], index=values.index, dtype="str")
    uniques = pd.unique(values)
    lookup = {u: table.get(normalize_role_value(u), "") for u in uniques}
    return values.map(lookup).astype("str")
