"""Text stage: normalization (width, HTML, emoji, masks, 繁→简) and segmentation (jieba + domain dictionary)."""

from csqa.text.normalize import NormalizedText, normalize, normalize_text
from csqa.text.segment import Segmenter, default_segmenter, segment

__all__ = ["NormalizedText", "normalize", "normalize_text", "Segmenter", "default_segmenter", "segment"]
