"""Model files that cannot run code: arrays in an .npz read with ``allow_pickle=False``, vocabularies and
settings in JSON, and a card (JSON) with the sha256 of both that is checked before a byte of the model is read.

    save_model(model, settings, folder, stem)  ->  stem.npz, stem.json
    read_model(npz, meta)                     ->  (LinearModel, settings); ModelLoadError if malformed
    check_card(npz, meta, card)               ->  ModelLoadError unless both hashes and numpy's major version match

The same arrays always give the same bytes (fixed zip timestamps, sorted names), so retraining on the same data
reproduces a shipped model bit for bit.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from csqa.textmodel.errors import ModelLoadError
from csqa.textmodel.linear import CHAR, CONTEXT, LEXICON, TEXT, WORD, Block, Head, LinearModel

MODEL_FORMAT = 3


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed, so the same arrays give the same bytes


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz numpy reads with allow_pickle=False, byte-for-byte the same for the same arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def model_files(model: LinearModel, settings: dict) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays for the .npz, JSON-able meta) of a model."""
    arrays: dict[str, np.ndarray] = {}
    blocks = []
    for i, b in enumerate(model.blocks):
        arrays[f"idf_{i}"] = b.idf
        block = {"name": b.name, "field": b.field, "kind": b.kind, "ngram_range": list(b.ngram_range),
                 "sublinear_tf": b.sublinear_tf, "terms": b.terms}
        if b.lexicon is not None:
            block["lexicon"] = b.lexicon
        blocks.append(block)
    heads = []
    for name, h in model.heads.items():
        arrays[f"coef_{name}"] = h.coef.astype(np.float32)  # half the file; probabilities move by ~1e-7
        arrays[f"intercept_{name}"] = h.intercept
        heads.append({"name": name, "classes": h.classes})
    meta = {"format": MODEL_FORMAT, "settings": settings, "blocks": blocks, "heads": heads}
    return arrays, meta


def save_model(model: LinearModel, settings: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write <out_dir>/<stem>.npz and <stem>.json (each to a temporary name first, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{stem}.npz"
    meta_path = out_dir / f"{stem}.json"
    arrays, meta = model_files(model, settings)
    tmp_npz, tmp_meta = model_path.with_suffix(".npz.tmp"), meta_path.with_suffix(".json.tmp")
    _write_npz(tmp_npz, arrays)
    tmp_meta.write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp_npz.replace(model_path)
    tmp_meta.replace(meta_path)
    return model_path, meta_path


def read_model(model_path: Path, meta_path: Path) -> tuple[LinearModel, dict]:
    """The plain-array model; raises ModelLoadError for anything malformed (nothing is unpickled)."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(model_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {MODEL_FORMAT}")
        blocks = [Block(b["name"], b["field"], b["kind"], list(b["terms"]), arrays[f"idf_{i}"].astype(np.float64),
                        tuple(b["ngram_range"]), bool(b["sublinear_tf"]),
                        {str(k): str(v) for k, v in b["lexicon"].items()} if b.get("lexicon") is not None else None)
                  for i, b in enumerate(meta["blocks"])]
        heads = {h["name"]: Head(h["name"], list(h["classes"]), arrays[f"coef_{h['name']}"].astype(np.float64),
                                 arrays[f"intercept_{h['name']}"].astype(np.float64))
                 for h in meta["heads"]}
        n_features = sum(len(b.terms) for b in blocks)
        for b in blocks:
            if len(b.idf) != len(b.terms) or b.field not in (TEXT, CONTEXT) or b.kind not in (WORD, CHAR, LEXICON) \
                    or (b.kind == LEXICON) != (b.lexicon is not None):
                raise ValueError(f"block {b.name} is inconsistent")
        for h in heads.values():
            if h.coef.ndim != 2 or h.coef.shape[1] != n_features or h.coef.shape[0] != len(h.intercept):
                raise ValueError(f"head {h.name} does not fit the features")
        return LinearModel(blocks, heads), dict(meta["settings"])
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - one clear line for any malformed file
        raise ModelLoadError(f"模型文件 {model_path} 无法读取: {exc} / cannot read the model file") from exc


def check_card(model_path: Path, meta_path: Path, card: dict) -> None:
    """Raise ModelLoadError unless both files' hashes and numpy's major version match the card."""
    for path, key in ((model_path, "model_sha256"), (meta_path, "meta_sha256")):
        expected = card.get(key)
        if not expected:
            raise ModelLoadError(f"模型说明卡缺少 {key},拒绝加载 {path} / model card has no {key}; refusing to load")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelLoadError(
                f"模型文件 {path} 的 sha256 与说明卡不符 (文件 {actual[:12]}…, 说明卡 {expected[:12]}…): "
                "文件可能被篡改或损坏,拒绝加载。请用 `csqa train` 重新训练或恢复原文件 (或加 --no-model 不用模型打分)。 / "
                "model file hash does not match its card: tampered or corrupt; retrain with `csqa train` "
                "(or score with --no-model)."
            )
    want = str(card.get("libraries", {}).get("numpy", ""))
    if want.split(".")[0] != np.__version__.split(".")[0]:
        raise ModelLoadError(
            f"模型 {model_path} 由 numpy {want or '?'} 保存,当前为 {np.__version__},版本不兼容。请用 `csqa train` 重新训练。 / "
            f"model saved with numpy {want or '?'}, this environment has {np.__version__}: retrain with `csqa train`."
        )


def paths_of(model_path: Path) -> tuple[Path, Path]:
    """(meta, card) paths beside a model's .npz: stem.json and stem.card.json."""
    stem = model_path.name[: -len(".npz")]
    return model_path.with_name(stem + ".json"), model_path.with_name(stem + ".card.json")


def write_card(model_path: Path, card: dict) -> dict:
    """The card beside the model: `card` plus the hashes of both files (the model id is made of them)."""
    meta_path, card_path = paths_of(model_path)
    model_sha, meta_sha = sha256_file(model_path), sha256_file(meta_path)
    full = {"card_format": 2, "model_id": card.pop("id_prefix", "model") + "-"
            + hashlib.sha256((model_sha + meta_sha).encode()).hexdigest()[:12],
            "model_file": model_path.name, "model_sha256": model_sha, "meta_file": meta_path.name, "meta_sha256": meta_sha,
            **card, "model_format": MODEL_FORMAT}
    card_path.write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return full


def load_verified(model_path: Path, what: str, how_to_make: str) -> tuple[LinearModel, dict, dict]:
    """(model, settings, card) of a model file after its card is checked; ModelLoadError with one clear line
    for anything missing, tampered or malformed. `what` names the model for the messages (投诉分类模型 …),
    `how_to_make` the command that writes one."""
    if model_path.suffix != ".npz":
        raise ModelLoadError(f"{model_path} 不是 csqa 模型文件 (应为 .npz 或其所在目录) / not a csqa model file: give the .npz file or its folder")
    if not model_path.exists():
        raise ModelLoadError(f"找不到{what} {model_path}。请先运行 `{how_to_make}` 生成模型，或加 --no-model 不用模型打分。 / "
                             f"model file not found: {model_path}; run `{how_to_make}`, or score with --no-model.")
    meta_path, card_path = paths_of(model_path)
    for needed in (card_path, meta_path):
        if not needed.exists():
            raise ModelLoadError(f"找不到 {needed},无法校验模型,拒绝加载。 / {needed.name} missing; refusing to load an unverified model (model card).")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"模型说明卡 {card_path} 无法解析: {exc} / model card is not valid JSON") from exc
    check_card(model_path, meta_path, card)
    model, settings = read_model(model_path, meta_path)
    return model, settings, card
