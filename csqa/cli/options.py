"""Option values shared by the commands: KEY=VALUE pairs and comma-separated rule codes."""
from __future__ import annotations

from csqa.core.errors import ConfigError


def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"{option} 需要 键=值 的形式，例如 {option} text=聊天内容 (收到: {item!r})")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def codes(values: tuple[str, ...]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]
