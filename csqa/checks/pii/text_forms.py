"""The forms of a text the recognizers read: full-width folded (detection and masking) and, for
masking, runs of Chinese numerals as digits. Each folds one character into one, so offsets into a
folded form are offsets into the text as written."""
from __future__ import annotations

import re

# Full-width ASCII (！..～) -> ASCII and ideographic space -> space.
FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
FULLWIDTH[0x3000] = 0x20
_FULLWIDTH_CHARS = {chr(k): chr(v) for k, v in FULLWIDTH.items()}
# Characters that FULLWIDTH changes: a text without any of them is its own folded form.
_NEEDS_FOLDING = re.compile("[\uff01-\uff5e\u3000]")

# Chinese numerals as digits (phones read out digit by digit: 一三八…, 幺 for 1, the financial
# forms 壹贰…); folded only inside a run of at least five numerals, one character for one.
CN_DIGITS = {"〇": "0", "零": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2", "三": "3", "叁": "3",
             "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7",
             "八": "8", "捌": "8", "九": "9", "玖": "9"}
_CN_TABLE = str.maketrans(CN_DIGITS)
_NUMERAL = "[0-9" + "".join(CN_DIGITS) + "]"
NUMERAL_RUN = re.compile(_NUMERAL + r"(?:[ \t\u00a0.\-_·•/\\~—–]{0,3}" + _NUMERAL + "){4,}")


def fold_fullwidth(text: str) -> str:
    """``text.translate(FULLWIDTH)``, faster: replaces only the full-width characters present."""
    found = _NEEDS_FOLDING.findall(text)
    if not found:
        return text
    for ch in set(found):  # each maps to an ASCII character: replacements cannot interact
        text = text.replace(ch, _FULLWIDTH_CHARS[ch])
    return text


def fold_numerals(norm: str) -> str:
    """`norm` with the Chinese numerals of every run of five or more numerals as ASCII digits
    (the same object when there is nothing to fold)."""
    out = None
    for m in NUMERAL_RUN.finditer(norm):
        run = m.group(0)
        folded = run.translate(_CN_TABLE)
        if folded != run:
            if out is None:
                out = list(norm)
            out[m.start():m.end()] = folded
    return norm if out is None else "".join(out)


def written_forms(char: str, numerals: bool = False) -> str:
    """Every character that folds into `char`: itself, its full-width form, the ideographic space
    for a space, and with `numerals` the Chinese numerals of a digit."""
    forms = [char]
    forms += [chr(k) for k, v in FULLWIDTH.items() if chr(v) == char]
    if numerals:
        forms += [k for k, v in CN_DIGITS.items() if v == char]
    return "".join(forms)
