"""Load and validate a rulebook YAML; errors name the file, the line and what is wrong."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from csqa.core.errors import RulebookError
from csqa.rulebook.schema import Rulebook

DEFAULT_RULEBOOK = Path(__file__).resolve().parent / "default.yaml"


@dataclass(frozen=True)
class LoadedRulebook:
    rulebook: Rulebook
    path: str
    sha256: str


def _to_python(node, path: tuple, lines: dict):
    """Convert a composed YAML node to Python data, recording each path's line (1-based)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), lines) for i, item in enumerate(node.value)]
    return _SCALARS.construct_object(node)


_SCALARS = yaml.SafeLoader("")  # only its scalar constructors are used


_LOCATED = re.compile(r"^@([\w.]+): (.*)$", re.S)


def _line_for(loc: tuple, lines: dict) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _rule_label(data, loc) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        try:
            return f"规则 {data['rules'][loc[1]].get('code', '#' + str(loc[1] + 1))}: "
        except (KeyError, IndexError, AttributeError, TypeError):
            pass
    return ""


# libyaml's parser when PyYAML has it: composing the default rulebook costs ~0.17 s in pure Python,
# about a tenth of that in C (same nodes and line marks). A document it rejects is parsed again by
# the pure-Python parser, whose messages and marks are the ones users (and tests) know.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _compose(text: str):
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_rulebook(text: str, source: str = "<rulebook>") -> Rulebook:
    try:
        node = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark else ""
        raise RulebookError(f"{source}:{where} YAML 语法错误: {getattr(exc, 'problem', exc)}；请检查缩进和引号") from None
    if node is None:
        raise RulebookError(f"{source}: 规则库文件为空")
    lines: dict = {}
    data = _to_python(node, (), lines)
    if not isinstance(data, dict):
        raise RulebookError(f"{source}: 规则库顶层应是一个映射 (id, name, dimensions, rules…)")
    try:
        return Rulebook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            located = _LOCATED.match(msg)
            if located:  # a cross-field check that names its own location: "@rules.3.dimension: …"
                loc = tuple(int(p) if p.isdigit() else p for p in located.group(1).split("."))
                msg = located.group(2)
            # pydantic puts union/validator names into loc; keep only real keys
            real = tuple(p for p in loc if isinstance(p, int) or p in _known_keys(data, loc))
            line = _line_for(real, lines)
            if err["type"] == "missing" and loc and isinstance(loc[-1], str):
                real = real + (loc[-1],)
                msg = f"缺少必填字段 {loc[-1]!r}"
            field = ".".join(str(p) for p in real) or "(顶层)"
            problems.append(f"{source}:{line} {_rule_label(data, real)}{field}: {msg}")
        more = f"（另有 {len(exc.errors()) - 5} 处错误）" if len(exc.errors()) > 5 else ""
        raise RulebookError("规则库无效 — " + "; ".join(problems) + more) from None


def _known_keys(data, loc) -> set:
    keys: set = set()
    node = data
    for part in loc:
        if isinstance(node, dict):
            keys.update(node.keys())
            node = node.get(part) if part in node else None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    if isinstance(node, dict):
        keys.update(node.keys())
    return keys


def load_rulebook(path: str | Path | None = None) -> LoadedRulebook:
    """Load the default rulebook, or a shop's own with `path`."""
    p = Path(path) if path else DEFAULT_RULEBOOK
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RulebookError(f"{p}: 找不到规则库文件；请检查 --rulebook 的路径") from None
    except OSError as exc:
        raise RulebookError(f"{p}: 无法读取规则库 ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RulebookError(f"{p}: 规则库必须是 UTF-8 编码的 YAML 文件") from None
    rulebook = parse_rulebook(text, str(p))
    return LoadedRulebook(rulebook, str(p), hashlib.sha256(raw).hexdigest())
