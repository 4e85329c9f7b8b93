"""Detect the text encoding of an export (and hash it on the way), reading in bounded blocks.

Order: BOM (UTF-8, UTF-16, UTF-32, GB18030) -> strict UTF-8 over the whole file -> strict
GB18030 (a superset of GBK / GB2312) over the whole file -> charset-normalizer on a sample.
Whatever is chosen, a sample of the decoded text must look like text (few control characters),
otherwise the file is binary junk and an InputError says how to fix it.
"""
from __future__ import annotations

import codecs
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from csqa.core.errors import ConfigError, InputError

BLOCK = 1 << 20
SAMPLE_BYTES = 1 << 20
CHECK_BYTES = 64 * 1024

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"\x84\x31\x95\x33", "gb18030"),
)
# GBK and its subsets decode as GB18030, its superset.
_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "gb18030": "gb18030"}

UNDECODABLE = (
    "无法识别文件编码或格式：内容不像文本表格（可能是二进制文件或损坏的文件）；"
    "请另存为 UTF-8 CSV 或使用 --encoding 指定编码 "
    "(cannot detect the encoding or format: save as UTF-8 CSV or pass --encoding)"
)


@dataclass(frozen=True)
class TextInfo:
    encoding: str  # a Python codec name: utf-8, utf-8-sig, gb18030, utf-16, …
    sha256: str
    errors: str = "strict"  # "replace" for a UTF-8 file with a few damaged bytes
    warning: str = ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_encoding(name: str) -> str:
    """Python codec name for a user-given encoding; ConfigError if unknown."""
    try:
        codec = codecs.lookup(name.strip()).name
    except (LookupError, AttributeError):
        raise ConfigError(
            f"未知的编码「{name}」：可用 utf-8、gb18030、gbk、utf-16 等 (unknown encoding)"
        ) from None
    return _ALIASES.get(codec, codec)


def detect_text_encoding(path: Path, forced: str | None = None, name: str | None = None) -> TextInfo:
    """Encoding and sha256 of a text file; name is how the file is shown in errors."""
    name = name or str(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if forced:
        encoding = canonical_encoding(forced)
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        sha, error = _scan(path, encoding)
        if error is not None:
            raise InputError(
                name,
                f"无法用指定的编码 {forced} 解码文件（第 {error} 字节附近出错）；"
                f"请检查 --encoding，或去掉它让程序自动识别 (cannot decode with the given encoding)",
            )
        _check_looks_like_text(path, encoding, name)
        return TextInfo(encoding, sha)

    for bom, encoding in _BOMS:
        if head.startswith(bom):
            sha, error = _scan(path, encoding)
            if error is None:
                _check_looks_like_text(path, encoding, name)
                return TextInfo(encoding, sha)
            break  # a BOM but broken content: fall through to the other tries

    sha, error = _scan(path, "utf-8", reject_nul=True)
    if error is None:
        _check_looks_like_text(path, "utf-8", name)
        return TextInfo("utf-8", sha)
    if _mostly_utf8(path):
        # A UTF-8 export with a few broken bytes (a cut-off copy, a bad character): decoding it
        # as GB18030 would turn every message into mojibake; keep UTF-8 and mark the damage.
        _check_looks_like_text(path, "utf-8", name)
        return TextInfo(
            "utf-8",
            sha,
            errors="replace",
            warning=f"文件中有无法按 UTF-8 解码的字节（第 {error} 字节附近），已替换为 �；"
            f"请检查导出是否完整 (damaged UTF-8 bytes replaced)",
        )
    _, error = _scan(path, "gb18030", reject_nul=True)
    if error is None:
        _check_looks_like_text(path, "gb18030", name)
        return TextInfo("gb18030", sha)

    encoding = _charset_normalizer_guess(path)
    if encoding is None or _scan(path, encoding)[1] is not None:
        raise InputError(name, UNDECODABLE)
    _check_looks_like_text(path, encoding, name)
    return TextInfo(encoding, sha)


def _scan(path: Path, encoding: str, reject_nul: bool = False) -> tuple[str, int | None]:
    """Decode the whole file strictly in blocks; return (sha256, byte offset of the first error or None)."""
    if encoding in ("utf-8", "utf-8-sig"):
        found = _scan_utf8(path, reject_nul)
        if found is not None:
            return found
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    error: int | None = None
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
            if error is None:
                if reject_nul and b"\x00" in block:
                    error = offset + block.index(b"\x00")
                else:
                    try:
                        decoder.decode(block, final=False)
                    except UnicodeDecodeError as exc:
                        error = offset + exc.start
            offset += len(block)
        if error is None:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                error = offset
    return digest.hexdigest(), error


def _scan_utf8(path: Path, reject_nul: bool) -> tuple[str, None] | None:
    """`_scan` for UTF-8 when the file is valid: Arrow's validator instead of decoding to str (4x less CPU).

    None when anything is wrong (or pyarrow is missing): `_scan` then decodes as before, to find
    the offset of the first error. Arrow and Python accept exactly the same UTF-8 (RFC 3629: no
    surrogates, no overlong forms, nothing past U+10FFFF; tests/test_ingest_arrow.py).
    """
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - installed with csqa
        return None
    digest = hashlib.sha256()
    carry = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
            if reject_nul and b"\x00" in block:
                return None
            data = carry + block
            cut = len(data)
            # keep back a character cut by the block's end: from its lead byte on (at most 3 bytes)
            for back in range(1, min(4, len(data)) + 1):
                if data[-back] & 0xC0 != 0x80:
                    cut = len(data) - back
                    break
            if not _valid_utf8(pa, data[:cut]):
                return None
            carry = data[cut:]
    if carry and not _valid_utf8(pa, carry):
        return None
    return digest.hexdigest(), None


def _valid_utf8(pa, data: bytes) -> bool:
    try:
        pa.array([data], type=pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return True


def _mostly_utf8(path: Path) -> bool:
    """Many valid multi-byte UTF-8 characters and only a few broken ones in the first block."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if b"\x00" in sample:
        return False
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(sample, final=False)
    broken = text.count("\ufffd")
    valid = sum(1 for ch in text if ord(ch) > 127) - broken
    return valid >= 10 and valid >= 20 * broken


def _charset_normalizer_guess(path: Path) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with csqa
        return None
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    best = from_bytes(sample).best()
    if best is None:
        return None
    try:
        name = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def _check_looks_like_text(path: Path, encoding: str, name: str) -> None:
    with open(path, "rb") as fh:
        sample = fh.read(CHECK_BYTES)
    text = codecs.getincrementaldecoder(encoding)("replace").decode(sample, final=False)
    if not text:
        return
    bad = 0
    for ch in text:
        if ch in "\t\r\n":
            continue
        if ch == "\ufffd" or unicodedata.category(ch) in ("Cc", "Cs", "Co"):
            bad += 1
    if bad > max(2, len(text) // 200):
        raise InputError(name, UNDECODABLE)
