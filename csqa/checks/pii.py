"""Personal-data (PII) recognizers for Chinese customer-service chats.

Presidio-style design: a registry of recognizers (``pii_recognizers.yaml``),
one entry per kind of personal data holding everything about it: regex
patterns with a base score, optional validators (GB 11643 ID checksum, Luhn),
context words that raise or lower the score, contact cues and mask patterns.

Two questions, two answers.  ``find_pii`` (detection: did an agent leak
personal data? the RED-003 finding) is strict: validated values scoring at
least min_score, non-overlapping.  ``mask_pii`` / ``mask_regions`` (masking:
what must a report hide?) err toward privacy: every mask-pattern match —
any checksum, any spacing, full-width or Chinese numerals, e-mails written
(at) / # / 艾特, anything after a contact cue — hidden as a partially masked
value in evidence, transcripts, reports and the store.

Scanning is fast because most texts cannot hold personal data: a pattern runs only
when its gate passes (a necessary condition derived from the regex at load time:
a long enough run of digits, required literals such as "@" or a QQ/WeChat cue), and
candidates are cached by text.  Results are exactly those of running every pattern
(tests/test_pii_gates.py compares both).

Public API::

    PiiMatch, Recognizer, load_recognizers(path=None),
    find_pii(text, kinds=None, min_score=0.5), mask_pii(text, kinds=None),
    mask_regions(text, kinds=None), may_need_masking(text)
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from csqa.core.memo import TEXTS_PER_MEMO

__all__ = [
    "PiiMatch",
    "Recognizer",
    "PatternSpec",
    "DEFAULT_RECOGNIZERS_PATH",
    "VALIDATORS",
    "load_recognizers",
    "find_pii",
    "mask_pii",
    "mask_regions",
    "may_need_masking",
    "mask_value",
    "id_card_checksum_ok",
    "id15_birthdate_ok",
    "luhn_ok",
]

DEFAULT_RECOGNIZERS_PATH = Path(__file__).with_name("pii_recognizers.yaml")


@dataclass(frozen=True)
class PiiMatch:
    kind: str          # recognizer id, e.g. "mobile"
    name: str          # Chinese name, e.g. "手机号"
    start: int         # offsets into the text passed to find_pii
    end: int
    text: str          # the raw matched value (never put it in reports; use mask_pii)
    score: float
    explanation: str   # Chinese, contains only the masked value


# --------------------------------------------------------------------------
# validators
# --------------------------------------------------------------------------

# GB/T 2260 province-level codes (first two digits of an ID number).
_PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def _valid_birth_date(year: int, month: int, day: int) -> bool:
    try:
        born = _dt.date(year, month, day)
    except ValueError:
        return False
    return _dt.date(1900, 1, 1) <= born <= _dt.date.today()


def id_card_checksum_ok(value: str) -> bool:
    """18-digit resident ID: province code, birth date and GB 11643 check digit."""
    s = value.replace(" ", "").upper()
    if len(s) != 18 or not s[:17].isdigit() or s[17] not in "0123456789X":
        return False
    if s[:2] not in _PROVINCE_CODES:
        return False
    if not _valid_birth_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11] == s[17]


def id15_birthdate_ok(value: str) -> bool:
    """Old 15-digit ID (no check digit): province code and 19YYMMDD birth date."""
    s = value.replace(" ", "")
    if len(s) != 15 or not s.isdigit() or s[:2] not in _PROVINCE_CODES:
        return False
    return _valid_birth_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))


def luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "id_card_checksum": id_card_checksum_ok,
    "id15_birthdate": id15_birthdate_ok,
    "luhn": luhn_ok,
}


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PatternSpec:
    name: str
    regex: "re.Pattern[str]"
    score: float
    validator: Optional[str] = None


@dataclass(frozen=True)
class Recognizer:
    id: str
    name: str
    patterns: tuple[PatternSpec, ...]
    context: tuple[str, ...] = ()
    negative_context: tuple[str, ...] = ()
    validator: Optional[str] = None
    explanation: str = "检测到疑似{name}「{masked}」{context_note}（置信度{score}），{reason}"
    reason: str = ""
    anchors: tuple[str, ...] = ()
    requires: Optional["re.Pattern[str]"] = None
    requires_window: tuple[int, int] = (80, 60)
    context_boost: float = 0.35
    negative_penalty: float = 0.4
    window_before: int = 12
    window_after: int = 6
    cues: tuple[str, ...] = ()                 # contact cues: what follows them is hidden (masking only)
    mask_patterns: tuple[PatternSpec, ...] = ()  # masking only: any checksum, any spelling


_MACRO_RE = re.compile(r"<<([A-Z_]+)>>")


def _expand(regex: str, macros: dict[str, str], depth: int = 0) -> str:
    if depth > 10:
        raise ValueError("pii_recognizers: macro recursion too deep")
    if not _MACRO_RE.search(regex):
        return regex

    def repl(m: "re.Match[str]") -> str:
        key = m.group(1)
        if key not in macros:
            raise ValueError(f"pii_recognizers: unknown macro <<{key}>>")
        return _expand(macros[key], macros, depth + 1)

    return _MACRO_RE.sub(repl, regex)


def _check_validator(name: Optional[str], where: str) -> Optional[str]:
    if name is not None and name not in VALIDATORS:
        raise ValueError(f"pii_recognizers: unknown validator {name!r} in {where}")
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


def _patterns(items, rid: str, macros: dict[str, str], what: str) -> list[PatternSpec]:
    out = []
    for p in items or []:
        pname = p.get("name", rid)
        try:
            rx = re.compile(_expand(p["regex"], macros))
        except re.error as exc:
            raise ValueError(f"pii_recognizers: bad {what}regex in {rid}/{pname}: {exc}") from exc
        out.append(PatternSpec(
            name=pname,
            regex=rx,
            score=float(p.get("score", 0.5)),
            validator=_check_validator(p.get("validator"), f"{rid}/{pname}"),
        ))
    return out


def _parse(data: dict) -> tuple[Recognizer, ...]:
    defaults = data.get("defaults") or {}
    macros = {k: str(v) for k, v in (data.get("macros") or {}).items()}
    default_negative = tuple(defaults.get("negative_context") or ())
    out = []
    seen = set()
    for item in data.get("recognizers") or []:
        rid = item["id"]
        if rid in seen:
            raise ValueError(f"pii_recognizers: duplicate recognizer id {rid!r}")
        seen.add(rid)
        patterns = _patterns(item.get("patterns"), rid, macros, "")
        cues = tuple(str(w) for w in item.get("cues") or ())
        mask_patterns = _patterns(item.get("mask_patterns"), rid, {**macros, "CUES": _cue_alternation(cues)}, "mask ")
        for p in mask_patterns:
            if p.validator is not None:
                raise ValueError(f"pii_recognizers: {rid}/{p.name}: mask_patterns take no validator (masking errs toward privacy)")
        neg = item.get("negative_context")
        requires = item.get("requires")
        try:
            requires_rx = re.compile(_expand(requires, macros)) if requires else None
        except re.error as exc:
            raise ValueError(f"pii_recognizers: bad 'requires' regex in {rid}: {exc}") from exc
        window = item.get("requires_window") or (80, 60)
        out.append(Recognizer(
            id=rid,
            name=item.get("name", rid),
            patterns=tuple(patterns),
            context=tuple(item.get("context") or ()),
            negative_context=tuple(neg) if neg is not None else default_negative,
            validator=_check_validator(item.get("validator"), rid),
            explanation=item.get("explanation") or defaults.get("explanation") or Recognizer.explanation,
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
        ))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> tuple[Recognizer, ...]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return _parse(data)


_DEFAULT_RESOLVED = str(Path(DEFAULT_RECOGNIZERS_PATH).resolve())


def load_recognizers(path: "str | Path | None" = None) -> tuple[Recognizer, ...]:
    """Load (and cache) a recognizer registry; default is the packaged YAML."""
    if path is None:
        return _load_cached(_DEFAULT_RESOLVED)  # hot path: no filesystem call per message
    return _load_cached(str(Path(path).resolve()))


# --------------------------------------------------------------------------
# scanning
# --------------------------------------------------------------------------

# Full-width ASCII (！..～) -> ASCII and ideographic space -> space.
# One char maps to one char, so offsets stay valid for the original text.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20


@dataclass
class _Candidate:
    rec: Recognizer
    start: int
    end: int
    score: float
    note: str
    keep_end: Optional[int]  # for addresses: keep text[start:keep_end] when masking


def _last_hit(window: str, words: Iterable[str]) -> tuple[int, str]:
    """End position of the last occurrence of any word in window (-1 if none)."""
    best, best_word = -1, ""
    low = window.lower()
    for w in words:
        i = low.rfind(w.lower())
        if i >= 0 and i + len(w) > best:
            best, best_word = i + len(w), w
    return best, best_word


def _first_hit(window: str, words: Iterable[str]) -> tuple[int, str]:
    best, best_word = len(window) + 1, ""
    low = window.lower()
    for w in words:
        i = low.find(w.lower())
        if 0 <= i < best:
            best, best_word = i, w
    return (best if best_word else -1), best_word


def _context_score(norm: str, start: int, end: int, rec: Recognizer, base: float) -> tuple[float, str]:
    """Nearest context word wins: positive raises, order-number words lower."""
    before = norm[max(0, start - rec.window_before):start]
    pos, pos_w = _last_hit(before, rec.context)
    neg, neg_w = _last_hit(before, rec.negative_context)
    if neg > pos:
        return base - rec.negative_penalty, f"（附近有“{neg_w}”，疑似单号，已降低置信度）"
    if pos >= 0:
        return base + rec.context_boost, f"（上下文提示：“{pos_w}”）"
    after = norm[end:end + rec.window_after]
    pos, pos_w = _first_hit(after, rec.context)
    neg, neg_w = _first_hit(after, rec.negative_context)
    if neg >= 0 and (pos < 0 or neg < pos):
        return base - rec.negative_penalty, f"（附近有“{neg_w}”，疑似单号，已降低置信度）"
    if pos >= 0:
        return base + rec.context_boost, f"（上下文提示：“{pos_w}”）"
    return base, ""


def _regions(norm: str, rec: Recognizer) -> list[tuple[int, int]]:
    """Slices of ``norm`` to scan: whole text, or merged windows around
    ``requires`` hits (keeps heavy patterns linear on long texts)."""
    if rec.requires is None:
        return [(0, len(norm))]
    before, after = rec.requires_window
    spans: list[tuple[int, int]] = []
    for m in rec.requires.finditer(norm):
        lo, hi = max(0, m.start() - before), min(len(norm), m.end() + after)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


# Every packaged recognizer needs a digit, an @ or a WeChat cue (a WeChat id may have no digit).
_MAY_HOLD_VALUE = re.compile(r"[0-9０-９@＠]|微信|[vVwW][xX]|[vV]信|薇信|威信")

# Characters that _FULLWIDTH changes: a text without any of them is its own normal form.
_NEEDS_NORMALIZING = re.compile("[\uff01-\uff5e\u3000]")
_DIGIT_RUNS = re.compile(r"\d+")
_DIGIT_CHAR = re.compile(r"\d")


# ---------------------------------------------------------------- prefilter (gates)
#
# Before a pattern's regex runs on a text, a cheap necessary condition ("gate") derived
# from the regex itself at load time is checked: the shortest run of consecutive digits
# every match must contain, and up to two sets of literal strings of which every match
# must contain at least one (e.g. "@" for e-mail, QQ/扣扣/企鹅 for QQ).  A gate never
# rejects a text the regex could match, so results are unchanged; it only skips regexes
# that cannot match (most texts hold a few short numbers and no cue word).

try:  # Python >= 3.11
    import re._constants as _sre_c
    import re._parser as _sre_p
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

_REPEATS = tuple(getattr(_sre_c, n) for n in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(_sre_c, n))
_ATOMIC = getattr(_sre_c, "ATOMIC_GROUP", None)
_IGNORECASE = int(_sre_c.SRE_FLAG_IGNORECASE)


def _is_digit_char(code: int) -> bool:
    return _DIGIT_CHAR.match(chr(code)) is not None


def _digit_atom(op, av, icase: bool) -> bool:
    """True if the single-character item (op, av) only ever matches a \\d character."""
    if op is _sre_c.LITERAL:
        return not icase and _is_digit_char(av)
    if op is _sre_c.IN:
        if not av:
            return False
        for iop, iav in av:
            if iop is _sre_c.CATEGORY and iav is _sre_c.CATEGORY_DIGIT:
                continue
            if icase:
                return False
            if iop is _sre_c.LITERAL and _is_digit_char(iav):
                continue
            if iop is _sre_c.RANGE and iav[1] - iav[0] <= 64 and all(
                    _is_digit_char(c) for c in range(iav[0], iav[1] + 1)):
                continue
            return False  # NEGATE, other categories, non-digit literals ...
        return True
    return False


def _all_digits(op, av, icase: bool) -> Optional[int]:
    """If the item consumes only \\d characters: the fewest it consumes, else None."""
    if _digit_atom(op, av, icase):
        return 1
    if op in _REPEATS:
        lo, _hi, sub = av
        k = _all_digits_seq(sub, icase)
        return None if k is None else lo * k
    if op is _sre_c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        return _all_digits_seq(sub, icase or bool(add_flags & _IGNORECASE))
    if op is _sre_c.BRANCH:
        ks = [_all_digits_seq(alt, icase) for alt in av[1]]
        return None if not ks or any(k is None for k in ks) else min(ks)
    return None


def _all_digits_seq(items, icase: bool) -> Optional[int]:
    total = 0
    for op, av in items:
        k = _all_digits(op, av, icase)
        if k is None:
            return None
        total += k
    return total if items else None


def _best(conds: list) -> list:
    """Most selective first: fewest alternatives, then longest shortest string."""
    return sorted(conds, key=lambda c: (len(c), -min(len(x) for x in c)))


def _need_seq(items, icase: bool) -> tuple[int, list]:
    """(digits, conds) every match of the item sequence must contain: a run of at least
    ``digits`` consecutive \\d characters, and for each frozenset in ``conds`` one of its
    strings.  Conservative: anything not understood yields no requirement."""
    cur = best = 0
    conds: list = []
    lit: list[str] = []
    for op, av in items:
        if op is _sre_c.LITERAL and not icase:
            lit.append(chr(av))
            if _is_digit_char(av):
                cur += 1
            else:
                best, cur = max(best, cur), 0
            continue
        if lit:
            conds.append(frozenset(["".join(lit)]))
            lit = []
        if _digit_atom(op, av, icase):
            cur += 1
            continue
        k = _all_digits(op, av, icase)
        if k is not None:
            cur += k  # e.g. \d{m,n} or (?:10|2\d): at least k more digits in the same run
            continue
        best, cur = max(best, cur), 0
        run, sub = _need_node(op, av, icase)
        best = max(best, run)
        conds.extend(sub)
    if lit:
        conds.append(frozenset(["".join(lit)]))
    return max(best, cur), conds


def _need_node(op, av, icase: bool) -> tuple[int, list]:
    if op is _sre_c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        return _need_seq(sub, icase or bool(add_flags & _IGNORECASE))
    if _ATOMIC is not None and op is _ATOMIC:
        return _need_seq(av, icase)
    if op in _REPEATS:
        lo, _hi, sub = av
        return _need_seq(sub, icase) if lo >= 1 else (0, [])
    if op is _sre_c.BRANCH:
        alts = [_need_seq(alt, icase) for alt in av[1]]
        run = min((r for r, _ in alts), default=0)
        if alts and all(c for _, c in alts):
            return run, [frozenset().union(*(_best(c)[0] for _, c in alts))]
        return run, []
    return 0, []  # assertions, back references, ANY, NOT_LITERAL, non-digit sets ...


def _digits_needed(items, icase: bool) -> int:
    """The fewest \\d characters any match of the item sequence consumes, wherever they sit.

    A weaker cousin of the run gate that catches what it cannot: the bank-card pattern
    "\\d{4}([ -])\\d{4}(\\1\\d{4}){2}" needs a run of only 4 digits but 16 digits in all, and
    most chat texts that have a 4-digit run (an order's tail, a year) hold far fewer.
    Conservative: an item not understood (assertions, back references, sets that are not
    all digits, conditionals) counts 0."""
    total = 0
    for op, av in items:
        if _digit_atom(op, av, icase):
            total += 1
        elif op in _REPEATS:
            lo, _hi, sub = av
            total += lo * _digits_needed(sub, icase)
        elif op is _sre_c.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            total += _digits_needed(sub, icase or bool(add_flags & _IGNORECASE))
        elif _ATOMIC is not None and op is _ATOMIC:
            total += _digits_needed(av, icase)
        elif op is _sre_c.BRANCH:
            total += min((_digits_needed(alt, icase) for alt in av[1]), default=0)
    return total


@dataclass(frozen=True)
class _Gate:
    """A necessary condition for a regex to match somewhere in a text."""

    digits: int = 0                                          # longest run of \d the text must have
    checks: tuple[Callable[[str], object], ...] = ()         # each must find something in the text
    total: int = 0                                           # \d characters the text must have in all
    words: tuple[frozenset, ...] = ()                        # every set of strings one of which a match holds

    def ok(self, norm: str, run: int, total: int | None = None) -> bool:
        """`run`: the text's longest run of \\d, `total`: its count of \\d (None: not known)."""
        if self.digits > run or (total is not None and self.total > total):
            return False
        for check in self.checks:
            if check(norm) is None:
                return False
        return True


def _gate(rx: "re.Pattern[str]") -> _Gate:
    """The gate of one compiled regex (no gate at all if its parse tree is not understood)."""
    try:
        if not isinstance(rx.pattern, str):
            return _Gate()
        parsed = _sre_p.parse(rx.pattern, rx.flags)
        state = getattr(parsed, "state", None)
        flags = rx.flags | (getattr(state, "flags", 0) or 0)
        icase = bool(flags & _IGNORECASE)
        run, conds = _need_seq(list(parsed), icase)
        total = max(run, _digits_needed(list(parsed), icase))  # (a run of `run` digits is `run` digits)
    except Exception:  # pragma: no cover - an unexpected parse tree: no gate, always scan
        return _Gate()
    usable = [c for c in conds if c and all(c)]
    checks = tuple(
        re.compile("|".join(re.escape(x) for x in sorted(c, key=lambda x: (-len(x), x)))).search
        for c in _best(usable)[:2]
    )
    return _Gate(run, checks, total, tuple(usable))


@dataclass(frozen=True)
class _PatternPlan:
    spec: PatternSpec
    digits: int
    checks: tuple[Callable[[str], object], ...]
    has_value: bool
    has_admin: bool
    total: int = 0  # \d characters a match holds at least (`_digits_needed`)
    words: tuple[frozenset, ...] = ()  # `_Gate.words`


@dataclass(frozen=True)
class _Plan:
    rec: Recognizer
    patterns: tuple[_PatternPlan, ...]
    min_digits: int                 # the smallest digit run any of its patterns needs
    requires_gate: Optional[_Gate]  # gate of the 'requires' regex (no hit: nothing to scan)
    min_total: int = 0              # the fewest \d characters any of its patterns needs


def _plan(rec: Recognizer) -> _Plan:
    """Per-recognizer data computed once and kept on the recognizer object."""
    plan = getattr(rec, "_csqa_plan", None)
    if plan is not None and plan.rec is rec:
        return plan
    pats = []
    for p in rec.patterns:
        g = _gate(p.regex)
        pats.append(_PatternPlan(p, g.digits, g.checks, "value" in p.regex.groupindex, "admin" in p.regex.groupindex,
                                 g.total, g.words))
    plan = _Plan(
        rec=rec,
        patterns=tuple(pats),
        min_digits=min((p.digits for p in pats), default=0),
        requires_gate=_gate(rec.requires) if rec.requires is not None else None,
        min_total=min((p.total for p in pats), default=0),
    )
    try:
        object.__setattr__(rec, "_csqa_plan", plan)
    except (AttributeError, TypeError):  # pragma: no cover - a recognizer without __dict__
        pass
    return plan


_default_plans_cache: list = [None, ()]  # [the loaded default recognizers, their plans]


def _plans(recognizers: Optional[Iterable[Recognizer]]) -> tuple[_Plan, ...]:
    if recognizers is None:
        recs = load_recognizers()
        if _default_plans_cache[0] is not recs:
            _default_plans_cache[1] = tuple(_plan(r) for r in recs)
            _default_plans_cache[0] = recs
            _clear_scan_cache()  # the registry was reloaded
        return _default_plans_cache[1]
    return tuple(_plan(r) for r in recognizers)


def _max_digit_run(norm: str) -> int:
    """Length of the longest run of \\d characters (what the gates' ``digits`` compare with)."""
    runs = _DIGIT_RUNS.findall(norm)
    return max(map(len, runs)) if runs else 0


def _digit_counts(norm: str) -> tuple[int, int]:
    """(longest run of \\d characters, number of \\d characters): what the gates compare with."""
    runs = _DIGIT_RUNS.findall(norm)
    if not runs:
        return 0, 0
    return max(map(len, runs)), len("".join(runs))


_FULLWIDTH_CHARS = {chr(k): chr(v) for k, v in _FULLWIDTH.items()}


def _normalize(text: str) -> str:
    """``text.translate(_FULLWIDTH)``, faster: replace only the full-width characters present."""
    found = _NEEDS_NORMALIZING.findall(text)
    if not found:
        return text
    for ch in set(found):  # each maps to an ASCII character: replacements cannot interact
        text = text.replace(ch, _FULLWIDTH_CHARS[ch])
    return text


# Candidates of the packaged recognizers by text, before the kinds / min_score filter and
# overlap resolution (which are cheap and redone per call).  The same texts come back: an
# agent's templates, a message scanned by the PII rule and then masked in the transcript,
# the fixed explanations masked for every finding.  The key is the text's full-width-folded
# form (`_normalize`), of which the candidates are a function: the PII rule scans a message's
# normalized text and the transcript masks its text as written, and for nearly every message
# (all but those with traditional characters or markup) both fold to the same key.  Bounded, in two generations: when the
# young one is full it becomes the old one (the previous old one is dropped), and a text found
# in the old one moves back to the young one.  Every step is O(1) amortized (evicting the
# oldest entry of one dict, ``next(iter(d))``, walks the dict's deleted slots: slow).
_SCAN_CACHE: dict = {}
_SCAN_CACHE_OLD: dict = {}
_SCAN_CACHE_MAX = TEXTS_PER_MEMO  # entries per generation (see csqa.core.memo)


def _clear_scan_cache() -> None:
    _SCAN_CACHE.clear()
    _SCAN_CACHE_OLD.clear()


def _remember(text: str, raw: tuple) -> None:
    if len(_SCAN_CACHE) >= _SCAN_CACHE_MAX:
        _SCAN_CACHE_OLD.clear()
        _SCAN_CACHE_OLD.update(_SCAN_CACHE)
        _SCAN_CACHE.clear()
    _SCAN_CACHE[text] = raw


def _scan(text: str, kinds: Optional[Iterable[str]], min_score: float,
          recognizers: Optional[Iterable[Recognizer]]) -> list[_Candidate]:
    if not text:
        return []
    wanted = set(kinds) if kinds is not None else None
    if recognizers is not None:
        return _resolve(_candidates(text, _plans(recognizers), wanted), wanted, min_score)
    if not _MAY_HOLD_VALUE.search(text):
        return []  # nothing any packaged recognizer could match (checked on 55k real messages)
    plans = _plans(None)  # (clears the cache when the registry was reloaded)
    norm = _normalize(text)
    raw = _SCAN_CACHE.get(norm)
    if raw is None:
        raw = _SCAN_CACHE_OLD.get(norm)
        if raw is None:
            raw = tuple(_norm_candidates(norm, plans, None))
        _remember(norm, raw)
    if not raw:
        return []
    return _resolve(raw, wanted, min_score)


def _resolve(raw: Iterable[_Candidate], wanted: Optional[set[str]], min_score: float) -> list[_Candidate]:
    """Keep the wanted kinds scoring at least min_score, then resolve overlaps: higher score
    first, then longer span, then earlier start (ties: recognizer order, then pattern order)."""
    cands = [c for c in raw if not c.score < min_score and (wanted is None or c.rec.id in wanted)]
    if len(cands) <= 1:
        return cands
    cands.sort(key=lambda c: (-c.score, -(c.end - c.start), c.start))
    chosen: list[_Candidate] = []
    for c in cands:
        if all(c.end <= o.start or c.start >= o.end for o in chosen):
            chosen.append(c)
    chosen.sort(key=lambda c: (c.start, c.end))
    return chosen


def _candidates(text: str, plans: tuple[_Plan, ...], wanted: Optional[set[str]]) -> list[_Candidate]:
    """Every candidate of the wanted recognizers, in recognizer / pattern / match order, any score."""
    return _norm_candidates(_normalize(text), plans, wanted)


def _norm_candidates(norm: str, plans: tuple[_Plan, ...], wanted: Optional[set[str]],
                     counts: Optional[tuple[int, int]] = None) -> list[_Candidate]:
    """`_candidates` of a text whose full-width-folded form (`_normalize`) is `norm`: the
    candidates are worked out on that form alone (offsets are the same, it folds character
    by character). `counts`: `_digit_counts(norm)` when known."""
    run, total = counts if counts is not None else _digit_counts(norm)
    cands: list[_Candidate] = []
    for plan in plans:
        if plan.min_digits > run or plan.min_total > total:
            continue
        rec = plan.rec
        if wanted is not None and rec.id not in wanted:
            continue
        regions = None
        if plan.requires_gate is not None:  # the 'requires' hits first: no hit, nothing to scan
            if not plan.requires_gate.ok(norm, run, total):
                continue
            regions = _regions(norm, rec)
            if not regions:
                continue
        live = None
        for pp in plan.patterns:  # gates: skip patterns that cannot match this text
            if pp.digits > run or pp.total > total:
                continue
            for check in pp.checks:
                if check(norm) is None:
                    break
            else:
                if live is None:
                    live = [pp]
                else:
                    live.append(pp)
        if live is None:
            continue
        if regions is None:
            regions = _regions(norm, rec)
            if not regions:
                continue
        whole = len(regions) == 1 and regions[0] == (0, len(norm))
        for pp in live:
            pat = pp.spec
            vname = pat.validator or rec.validator
            validator = VALIDATORS[vname] if vname else None
            has_value = pp.has_value
            has_admin = pp.has_admin
            if whole:
                matches: Iterable = pat.regex.finditer(norm)
            else:
                matches = (m for lo, hi in regions for m in pat.regex.finditer(norm, lo, hi))
            for m in matches:
                if has_value and m.group("value") is not None:
                    start, end = m.span("value")
                else:
                    start, end = m.span()
                if start == end:
                    continue
                if validator is not None and not validator(norm[start:end]):
                    continue
                keep_end = None
                if has_admin and m.group("admin"):
                    keep_end = m.end("admin")
                    # trim unrelated leading characters up to a province name
                    admin = norm[start:keep_end]
                    hits = [i for i in (admin.find(a) for a in rec.anchors) if i >= 0]
                    if hits and min(hits) > 0:
                        start += min(hits)
                    while keep_end > start and norm[keep_end - 1] == " ":
                        keep_end -= 1
                score, note = _context_score(norm, start, end, rec, pat.score)
                score = round(max(0.0, min(1.0, score)), 2)
                cands.append(_Candidate(rec, start, end, score, note, keep_end))
    return cands


# --------------------------------------------------------------------------
# masking
# --------------------------------------------------------------------------

_MOBILE_SPLIT = re.compile(r"^((?:\+|00)?86[ -]?)?(.*)$")
_LANDLINE_SPLIT = re.compile(r"^(\(0\d{2,3}\)[ ]?|0(?:10|2\d|[3-9]\d{2})[ -]?)(\d+)(.*)$")
# an e-mail written without "@": abc(at)qq.com, abc [at] qq dot com, abc#qq.com, abc艾特qq点com
_EMAIL_AT = re.compile(r"[ ]?(?:@|[(\[{【][ ]?(?:at|AT|At)[ ]?[)\]}】]|(?<=[ ])(?:at|AT)(?=[ ])|#|艾特|圈)[ ]?")


def mask_value(kind: str, value: str, keep_prefix: Optional[str] = None) -> str:
    """Partially mask one recognized value, keeping its shape recognisable (never more than
    the first three and last four digits of a long number, nothing of a short one)."""
    value = value.translate(_FULLWIDTH)
    digits = re.sub(r"\D", "", value)
    if kind == "mobile":
        m = _MOBILE_SPLIT.match(value)
        cc = (m.group(1) or "") if m else ""
        core = re.sub(r"\D", "", m.group(2)) if m else digits
        if len(core) != 11:
            if len(digits) < 11:  # (a number after a phone cue: show its end only)
                return "****" + (digits[-4:] if len(digits) >= 8 else "")
            core = digits[-11:]
        return f"{cc}{core[:3]}****{core[-4:]}"
    if kind == "landline":
        m = _LANDLINE_SPLIT.match(value)
        if m:
            local = m.group(2)
            return f"{m.group(1)}{'*' * max(len(local) - 4, 3)}{local[-4:]}{m.group(3)}"
        return "****" + (digits[-4:] if len(digits) >= 8 else "")
    if kind == "id_card":
        s = re.sub(r"[^0-9Xx]", "", value)
        if len(s) < 15:  # (a token after an ID cue)
            return s[:2] + "****" if len(s) >= 8 else "****"
        return s[:3] + "*" * max(len(s) - 7, 4) + s[-4:]
    if kind == "bank_card":
        return "****" + (digits[-4:] if len(digits) >= 8 else "")
    if kind == "email":
        local, at, domain = value.partition("@")
        if not at:
            m = _EMAIL_AT.search(value)
            if m is None:
                return "****"
            local, domain = value[:m.start()], value[m.end():]
        return f"{local[:1]}***@{domain}"
    if kind == "address":
        return (keep_prefix or "") + "****"
    if kind in ("qq", "wechat", "account"):
        return value[:2] + "****" if len(value) >= 6 else "****"
    return "****"


def _masked_for(text: str, c: _Candidate) -> str:
    keep = text[c.start:c.keep_end] if c.keep_end is not None else None
    return mask_value(c.rec.id, text[c.start:c.end], keep)


# --------------------------------------------------------------------------
# masking: what to hide
# --------------------------------------------------------------------------
#
# Detection (find_pii) decides whether an agent leaked personal data: validated values
# (ID checksum, Luhn) scoring at least min_score. Masking decides what to hide and errs
# toward privacy: every detection candidate whatever its score, and every match of the
# registry's mask_patterns (any checksum, any spacing, full-width or Chinese numerals,
# e-mails written (at) / # / 艾特, anything after a contact cue). `mask_regions` is the one
# decision; mask_pii and the transcripts' offset-keeping masking apply it.

# Chinese numerals as digits (phones read out digit by digit: 一三八…, 幺 for 1, the financial
# forms 壹贰…); folded only inside a run of at least five numerals, one character for one.
_CN_DIGITS = {"〇": "0", "零": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2", "三": "3", "叁": "3",
              "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7",
              "八": "8", "捌": "8", "九": "9", "玖": "9"}
_CN_TABLE = str.maketrans(_CN_DIGITS)
_NUMERAL = "[0-9" + "".join(_CN_DIGITS) + "]"
_NUMERAL_RUN = re.compile(_NUMERAL + r"(?:[ \t\u00a0.\-_·•/\\~—–]{0,3}" + _NUMERAL + "){4,}")


# The full-width characters whose folding can change what masking finds (digits, letters, @ #,
# and the separators a run of numerals may have): a text without them is tested as it is.
# (Full-width punctuation such as ，？！ is in nearly every Chinese text and changes nothing.)
_FOLDS_INTO_SOMETHING = re.compile("[０-９Ａ-Ｚａ-ｚ＠＃．－＿／＼～（［｛\u3000]")


def _fold_numerals(norm: str) -> str:
    """`norm` with the Chinese numerals of every run of five or more numerals as ASCII digits."""
    out = None
    for m in _NUMERAL_RUN.finditer(norm):
        run = m.group(0)
        folded = run.translate(_CN_TABLE)
        if folded != run:
            if out is None:
                out = list(norm)
            out[m.start():m.end()] = folded
    return norm if out is None else "".join(out)


def _hide_recognizer(rec: Recognizer) -> Recognizer:
    """What masking runs for one kind: its mask_patterns (no validator, no context scoring, no
    'requires'); a kind without mask_patterns (the address): its detection patterns without
    validators, every score."""
    import dataclasses

    if rec.mask_patterns:
        return dataclasses.replace(rec, patterns=rec.mask_patterns, validator=None, requires=None, context=(),
                                   negative_context=(), mask_patterns=())
    return dataclasses.replace(rec, patterns=tuple(dataclasses.replace(p, validator=None) for p in rec.patterns),
                               validator=None, mask_patterns=())


# Characters too frequent in chat text to gate anything on (a pattern that needs one of them
# and something rarer is gated on the rarer one; one that needs only such and digits, on the digits).
_COMMON_LITERALS = frozenset("。，、.,点的了是号道路街")


@dataclass(frozen=True)
class _HidePlans:
    """The masking scan of a registry, split by what lets a pattern match at all."""

    plans: tuple[_Plan, ...]            # every plan (what a text is scanned with when nothing is known)
    word_plans: tuple[tuple[_Plan, frozenset], ...] = ()  # patterns that need a cue word or an @ form (one a plan) …
    words: Optional[Callable] = None    # … the words of a text, found with one Aho-Corasick search for all
    digit_plans: tuple[_Plan, ...] = () # patterns that need a digit (and are not plain chains: the address)
    chain_plans: tuple[_Plan, ...] = ()  # patterns that need only digits (chains: phone, ID, card …) …
    chain_rx: Optional["re.Pattern[str]"] = None  # … and all of them as one alternation (no match: none matches)
    chain_digits: int = 0               # the fewest \d characters a chain holds
    gate: Optional[Callable] = None     # finds a digit, an @ or a WeChat cue: without it and without a word, nothing
    quick: Optional[Callable] = None    # `gate`, or a full-width character that folding changes, or a run of numerals
    has_word: Optional[Callable] = None  # finds one of the words (the first), None if there is none
    order: dict = field(default_factory=dict)  # kind → its place in the registry (ties between kinds)


def _hide_gates(plans: tuple[_Plan, ...]) -> _HidePlans:
    words: set[str] = set()
    by_word: list[_Plan] = []
    by_digit: list[_Plan] = []
    by_chain: list[_Plan] = []
    for plan in plans:
        d_pats, c_pats = [], []
        needs_digit = plan.requires_gate is not None and plan.requires_gate.digits > 0
        for pp in plan.patterns:
            needed = _rarest_words(pp)
            if needed is not None and not needed & _COMMON_LITERALS:
                words.update(needed)
                by_word.append((_Plan(plan.rec, (pp,), pp.digits, plan.requires_gate, pp.total), needed))
            elif pp.digits > 0 or pp.total > 0 or needs_digit:
                plain = plan.rec.requires is None and not pp.spec.regex.groups and not pp.spec.regex.flags & ~re.UNICODE
                (c_pats if plain else d_pats).append(pp)
            else:
                return _HidePlans(plans, order=_registry_order(plans))  # needs neither: every text scanned in full
        for pats, out in ((d_pats, by_digit), (c_pats, by_chain)):
            if pats:
                out.append(_Plan(plan.rec, tuple(pats), min(p.digits for p in pats), plan.requires_gate,
                                 min(p.total for p in pats)))
    find_words = has_word = None
    if words:
        import ahocorasick

        automaton = ahocorasick.Automaton()
        for w in words:
            automaton.add_word(w, w)
        automaton.make_automaton()

        def find_words(text: str, _iter=automaton.iter) -> frozenset:
            return frozenset(w for _, w in _iter(text))

        def has_word(text: str, _iter=automaton.iter):
            return next(_iter(text), None)
    chain_specs = [pp.spec for plan in by_chain for pp in plan.patterns]
    chain_rx = re.compile("|".join(f"(?:{spec.regex.pattern})" for spec in chain_specs)) if chain_specs else None
    chain_digits = min((plan.min_total for plan in by_chain), default=1 << 30)
    quick = re.compile("|".join([_MAY_HOLD_VALUE.pattern, _FOLDS_INTO_SOMETHING.pattern, _NUMERAL_RUN.pattern])).search
    return _HidePlans(plans, tuple(by_word), find_words, tuple(by_digit), tuple(by_chain), chain_rx, chain_digits,
                      _MAY_HOLD_VALUE.search, quick, has_word, _registry_order(plans))


def _registry_order(plans: tuple[_Plan, ...]) -> dict:
    order: dict = {}
    for plan in plans:
        order.setdefault(plan.rec.id, len(order))
    return order


def _rarest_words(pp: _PatternPlan) -> Optional[frozenset]:
    """Of the sets of strings every match of the pattern holds one of, the most telling: none
    made of digits only (the "1" of a mobile number says nothing a digit count does not), none
    holding a character frequent in any chat text if possible, then the fewest strings. None:
    the pattern needs no such word (a digit chain)."""
    usable = [w for w in pp.words if not any(x.isdigit() for x in w)]
    if not usable:
        return None
    usable.sort(key=lambda w: (bool(w & _COMMON_LITERALS), len(w)))
    return usable[0]


_default_hide_cache: list = [None, None]  # [the loaded default recognizers, their _HidePlans]


def _hide_plans(recognizers: Optional[Iterable[Recognizer]]) -> _HidePlans:
    if recognizers is None:
        recs = load_recognizers()
        if _default_hide_cache[0] is not recs:
            plans = tuple(_plan(_hide_recognizer(r)) for r in recs)
            _default_hide_cache[:] = [recs, _hide_gates(plans)]
        return _default_hide_cache[1]
    plans = tuple(_plan(_hide_recognizer(r)) for r in recognizers)
    return _HidePlans(plans, order=_registry_order(plans))  # (custom registries: plainly)


def may_need_masking(text: str) -> bool:
    """Cheap pre-check: False when `mask_pii` (packaged recognizers) certainly leaves `text` as it is."""
    if not text:
        return False
    hide = _hide_plans(None)
    if hide.quick is None:
        return True
    return hide.quick(text) is not None or (hide.has_word is not None and hide.has_word(text) is not None)


def mask_regions(text: str, kinds: "set[str] | None" = None, *,
                 recognizers: Optional[Iterable[Recognizer]] = None) -> list[tuple[int, int, str]]:
    """What masking hides in `text`: [(start, end, masked value)], sorted, not overlapping.

    Every match of the wanted kinds' mask patterns (for a kind without mask patterns, the
    address: its detection patterns, unvalidated, any score) on the text with full-width
    characters and runs of Chinese numerals folded; overlapping matches are hidden together
    (as the kind of the longest). The registry's mask patterns hide at least what its
    detection patterns find (tests/test_masking.py). No cache: its callers memoize by text.
    """
    if not text:
        return []
    hide = _hide_plans(recognizers)
    if hide.quick is not None and hide.quick(text) is None and (hide.has_word is None or hide.has_word(text) is None):
        return []  # most texts: no digit, no @, no cue word, nothing to fold (`_hide_candidates`' own test)
    wanted = set(kinds) if kinds is not None else None
    norm = _normalize(text)
    folded = _fold_numerals(norm)
    cands = _hide_candidates(folded, hide, wanted)
    if folded is not norm:  # (Chinese numerals next to a number: what the plain text shows counts too)
        cands += _hide_candidates(norm, hide, wanted)
    if not cands:
        return []
    return _cover(text, folded, cands, hide.order)


def _hide_candidates(norm: str, hide: _HidePlans, wanted: Optional[set[str]]) -> list[_Candidate]:
    if hide.gate is None:
        return _norm_candidates(norm, hide.plans, wanted)
    found = hide.words(norm) if hide.words is not None else frozenset()
    if not found and hide.gate(norm) is None:
        return []  # no digit, no @, no cue word: nothing to hide
    run, total = _digit_counts(norm)
    cands = []
    if found:  # the patterns whose word the text holds
        cands = _norm_candidates(norm, tuple(plan for plan, needs in hide.word_plans if needs & found), wanted,
                                 (run, total))
    if total:
        if hide.digit_plans:
            cands += _norm_candidates(norm, hide.digit_plans, wanted, (run, total))
        # the chains: one search of all of them first (a text with many digits seldom has one)
        if total >= hide.chain_digits and hide.chain_rx.search(norm) is not None:
            cands += _norm_candidates(norm, hide.chain_plans, wanted, (run, total))
    return cands


def _cover(text: str, folded: str, cands: list[_Candidate], order: dict) -> list[tuple[int, int, str]]:
    """Group overlapping candidates; each group is hidden as its longest member (then the higher
    score, the earlier start, the kind first in the registry, the one keeping an address's
    district), over the whole span the group covers."""
    cands.sort(key=lambda c: (c.start, -c.end))
    out: list[tuple[int, int, str]] = []
    group: list[_Candidate] = []
    hi = -1
    for c in cands + [None]:
        if c is not None and group and c.start < hi:
            group.append(c)
            hi = max(hi, c.end)
            continue
        if group:
            lo = group[0].start
            best = min(group, key=lambda g: (-(g.end - g.start), -g.score, g.start, order.get(g.rec.id, 0),
                                             -(g.keep_end if g.keep_end is not None else -1)))
            if best.start == lo and best.end == hi:
                keep = text[best.start:best.keep_end] if best.keep_end is not None else None
                out.append((lo, hi, mask_value(best.rec.id, folded[lo:hi], keep)))
            else:
                keep = text[lo:best.keep_end] if best.keep_end is not None and best.start == lo else None
                out.append((lo, hi, mask_value(best.rec.id, folded[lo:hi], keep)))
        if c is not None:
            group, hi = [c], c.end
    return out


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return ""


def find_pii(text: str, kinds: "set[str] | None" = None, min_score: float = 0.5, *,
             recognizers: Optional[Iterable[Recognizer]] = None) -> list[PiiMatch]:
    """Find personal data in ``text``.

    ``kinds`` restricts to recognizer ids (mobile, landline, id_card,
    bank_card, email, address, qq, wechat).  Results are sorted by start;
    overlaps are resolved by higher score, then longer span.
    """
    out = []
    for c in _scan(text, kinds, min_score, recognizers):
        masked = _masked_for(text, c)
        expl = c.rec.explanation.format_map(_SafeDict(
            name=c.rec.name, masked=masked, score=f"{c.score:.2f}",
            context_note=c.note, reason=c.rec.reason,
        ))
        out.append(PiiMatch(kind=c.rec.id, name=c.rec.name, start=c.start, end=c.end,
                            text=text[c.start:c.end], score=c.score, explanation=expl))
    return out


def mask_pii(text: str, kinds: "set[str] | None" = None, *,
             recognizers: Optional[Iterable[Recognizer]] = None) -> str:
    """Return ``text`` with everything that looks like personal data hidden (`mask_regions`):
    138****5678, 110***********123X, ****1234, a***@qq.com, 北京市朝阳区****, ab****.

    Errs toward privacy: whatever its checksum or score, in any spacing, full-width or
    Chinese-numeral form, e-mails written (at) / # / 艾特, and account-like strings after a
    contact cue (微信, vx, QQ, 加我, 卡号, 银行卡, 支付宝 …). Detection (`find_pii`, the
    RED-003 finding) stays strict: validated values only.
    """
    regions = mask_regions(text, kinds, recognizers=recognizers)
    if not regions:
        return text
    parts = []
    pos = 0
    for start, end, masked in regions:
        parts.append(text[pos:start])
        parts.append(masked)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
