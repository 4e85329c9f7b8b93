"""Complaint classification (投诉识别): taxonomy, training, model card, safe loading, prediction.

    from csqa.complaints import load_classifier
    clf = load_classifier()                 # the shipped model in models/
    df = clf.predict(["快递一个星期还没到", "请问可以开发票吗"])
    # -> complaint_category, complaint_severity, complaint_probability, is_complaint
"""
from csqa.complaints.errors import ComplaintModelError, CorpusError, ModelLoadError
from csqa.complaints.model import (
    ComplaintClassifier,
    default_corpus_path,
    default_model_path,
    load_classifier,
    train,
)
from csqa.complaints.taxonomy import (
    CATEGORIES,
    CATEGORY_NAMES_ZH,
    CLASSES,
    COMPLAINT_CATEGORIES,
    SEVERITIES,
    SEVERITY_NAMES_ZH,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES_ZH",
    "CLASSES",
    "COMPLAINT_CATEGORIES",
    "ComplaintClassifier",
    "ComplaintModelError",
    "CorpusError",
    "ModelLoadError",
    "SEVERITIES",
    "SEVERITY_NAMES_ZH",
    "default_corpus_path",
    "default_model_path",
    "load_classifier",
    "train",
]
