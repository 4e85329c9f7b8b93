"""The recognizer registry (registry.yaml): one entry per kind of personal data, read into
`Recognizer` objects. Each entry declares everything about its kind — detection patterns with
their scores, validator, context words, contact cues, mask patterns, how a hidden value is shown
(`masking`) and the prefilters that spare running patterns on texts that cannot hold them."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .masking import STYLES
from .prefilter import Prefilter, parse_prefilter
from .validators import VALIDATORS

DEFAULT_RECOGNIZERS_PATH = Path(__file__).with_name("registry.yaml")
DEFAULT_EXPLANATION = "检测到疑似{name}「{masked}」{context_note}（置信度{score}），{reason}"


@dataclass(frozen=True)
class PatternSpec:
    name: str
    regex: "re.Pattern[str]"
    score: float
    validator: Optional[str] = None
    prefilter: Optional[Prefilter] = None   # this pattern only (on top of the recognizer's)


@dataclass(frozen=True)
class Recognizer:
    id: str
    name: str
    patterns: tuple[PatternSpec, ...]
    context: tuple[str, ...] = ()
    negative_context: tuple[str, ...] = ()
    validator: Optional[str] = None
    explanation: str = DEFAULT_EXPLANATION
    reason: str = ""
    anchors: tuple[str, ...] = ()
    requires: Optional["re.Pattern[str]"] = None    # scan only near its hits (part of the recognizer's rule)
    requires_window: tuple[int, int] = (80, 60)
    context_boost: float = 0.35
    negative_penalty: float = 0.4
    window_before: int = 12
    window_after: int = 6
    cues: tuple[str, ...] = ()                 # contact cues: what follows them is hidden (masking only)
    mask_patterns: tuple[PatternSpec, ...] = ()  # masking only: any checksum, any spelling
    masking: str = ""                          # how a hidden value is shown (masking.STYLES); "": by id
    prefilter: Optional[Prefilter] = None      # for every one of `patterns` (not the mask patterns)


_MACRO_RE = re.compile(r"<<([A-Z_]+)>>")


def _expand(regex: str, macros: dict[str, str], depth: int = 0) -> str:
    if depth > 10:
        raise ValueError("pii registry: macro recursion too deep")
    if not _MACRO_RE.search(regex):
        return regex

    def repl(m: "re.Match[str]") -> str:
        key = m.group(1)
        if key not in macros:
            raise ValueError(f"pii registry: unknown macro <<{key}>>")
        return _expand(macros[key], macros, depth + 1)

    return _MACRO_RE.sub(repl, regex)


def _check_validator(name: Optional[str], where: str) -> Optional[str]:
    if name is not None and name not in VALIDATORS:
        raise ValueError(f"pii registry: unknown validator {name!r} in {where}")
    return name


def _cue_alternation(words) -> str:
    """`<<CUES>>`: the recognizer's cue words as one group; an ASCII word must not end a longer
    word (vx in "avx"), it may begin one (vx in "vxabc123": the id follows without a space)."""
    alts = []
    for w in sorted(dict.fromkeys(words), key=lambda w: (-len(w), w)):
        alt = re.escape(w)
        if w[:1].isascii() and w[:1].isalpha():
            alt = "(?<![A-Za-z])" + alt
        alts.append(alt)
    return "(?:" + "|".join(alts) + ")" if alts else "(?!)"


def _patterns(items, rid: str, macros: dict[str, str], cues: tuple[str, ...], what: str) -> list[PatternSpec]:
    out = []
    for p in items or []:
        pname = p.get("name", rid)
        try:
            rx = re.compile(_expand(p["regex"], macros))
        except re.error as exc:
            raise ValueError(f"pii registry: bad {what}regex in {rid}/{pname}: {exc}") from exc
        out.append(PatternSpec(
            name=pname,
            regex=rx,
            score=float(p.get("score", 0.5)),
            validator=_check_validator(p.get("validator"), f"{rid}/{pname}"),
            prefilter=parse_prefilter(p.get("prefilter"), cues, f"{rid}/{pname}"),
        ))
    return out


def _recognizer(item: dict, defaults: dict, macros: dict[str, str]) -> Recognizer:
    rid = item["id"]
    cues = tuple(str(w) for w in item.get("cues") or ())
    patterns = _patterns(item.get("patterns"), rid, macros, cues, "")
    mask_patterns = _patterns(item.get("mask_patterns"), rid, {**macros, "CUES": _cue_alternation(cues)}, cues, "mask ")
    for p in mask_patterns:
        if p.validator is not None:
            raise ValueError(f"pii registry: {rid}/{p.name}: mask_patterns take no validator (masking errs toward privacy)")
    masking = item.get("masking", "")
    if masking and masking not in STYLES:
        raise ValueError(f"pii registry: {rid}: unknown masking {masking!r} (one of {', '.join(sorted(STYLES))})")
    neg = item.get("negative_context")
    requires = item.get("requires")
    try:
        requires_rx = re.compile(_expand(requires, macros)) if requires else None
    except re.error as exc:
        raise ValueError(f"pii registry: bad 'requires' regex in {rid}: {exc}") from exc
    window = item.get("requires_window") or (80, 60)
    return Recognizer(
        id=rid,
        name=item.get("name", rid),
        patterns=tuple(patterns),
        context=tuple(item.get("context") or ()),
        negative_context=tuple(neg) if neg is not None else tuple(defaults.get("negative_context") or ()),
        validator=_check_validator(item.get("validator"), rid),
        explanation=item.get("explanation") or defaults.get("explanation") or DEFAULT_EXPLANATION,
        reason=item.get("reason", ""),
        anchors=tuple(item.get("anchors") or ()),
        requires=requires_rx,
        requires_window=(int(window[0]), int(window[1])),
        context_boost=float(item.get("context_boost", defaults.get("context_boost", 0.35))),
        negative_penalty=float(item.get("negative_penalty", defaults.get("negative_penalty", 0.4))),
        window_before=int(item.get("window_before", defaults.get("window_before", 12))),
        window_after=int(item.get("window_after", defaults.get("window_after", 6))),
        cues=cues,
        mask_patterns=tuple(mask_patterns),
        masking=masking,
        prefilter=parse_prefilter(item.get("prefilter"), cues, rid),
    )


def parse_registry(data: dict) -> tuple[Recognizer, ...]:
    """The recognizers of a registry read from YAML (ValueError naming the entry when one is wrong)."""
    defaults = data.get("defaults") or {}
    macros = {k: str(v) for k, v in (data.get("macros") or {}).items()}
    out = []
    seen = set()
    for item in data.get("recognizers") or []:
        if item["id"] in seen:
            raise ValueError(f"pii registry: duplicate recognizer id {item['id']!r}")
        seen.add(item["id"])
        out.append(_recognizer(item, defaults, macros))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> tuple[Recognizer, ...]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return parse_registry(data)


_DEFAULT_RESOLVED = str(DEFAULT_RECOGNIZERS_PATH.resolve())


def load_recognizers(path: "str | Path | None" = None) -> tuple[Recognizer, ...]:
    """Load (and cache) a recognizer registry; default is the packaged registry.yaml."""
    if path is None:
        return _load_cached(_DEFAULT_RESOLVED)  # hot path: no filesystem call per message
    return _load_cached(str(Path(path).resolve()))


def style_of(rec: Recognizer) -> str:
    """How `rec`'s values are shown hidden: its own `masking`, else the packaged kind's of the same
    id (a custom recognizer named like one), else fully hidden."""
    return rec.masking or packaged_styles().get(rec.id, "hidden")


@functools.lru_cache(maxsize=1)
def packaged_styles() -> dict[str, str]:
    return {rec.id: rec.masking for rec in load_recognizers() if rec.masking}
