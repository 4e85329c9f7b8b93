"""The scoring pipeline as a straight line of stages.

ingest (I/O) → build_conversations → classify_complaints → score_conversation → tables → outputs (I/O)

Only `run_score` touches files; every stage between is a pure function of its input.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

# The stages are imported where they run: `Timer` and `peak_rss_mb` are wanted by processes that
# never score (the ingest child, the output jobs) and must stay cheap to import.
if TYPE_CHECKING:
    import pandas as pd

    from csqa.checks.engine import CompiledRulebook
    from csqa.core.records import Conversation, ConversationResult
    from csqa.rulebook.loader import LoadedRulebook
    from csqa.text.segment import Segmenter


@dataclass
class ScoreOptions:
    rulebook: str | None = None
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    model: str | None = None  # path of a complaint model, None = the shipped one
    use_model: bool = True
    mask: bool = True
    quiet: bool = False


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (0 where the OS does not say).

    On Linux the high-water mark of this process's own address space (VmHWM): getrusage's
    ru_maxrss would also carry, across exec, the peak of the process that spawned this one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class Timer:
    """Seconds per stage, and the process's peak RSS when each wall-clock stage ended."""

    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float, rss: bool = True) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds
        if rss:
            self.peak_rss[name] = peak_rss_mb()


def prepare_rulebook(options: ScoreOptions, segmenter: Segmenter) -> tuple[LoadedRulebook, CompiledRulebook]:
    from csqa.checks.engine import CompiledRulebook
    from csqa.rulebook.loader import load_rulebook

    loaded = load_rulebook(options.rulebook)
    book = CompiledRulebook(loaded.rulebook, select=options.select or None, ignore=options.ignore or None,
                            models=options.use_model)
    segmenter.add_words(w for w in book.vocabulary() if len(w) >= 2)
    return loaded, book


def load_complaint_model(options: ScoreOptions):
    """The complaint classifier, or None when scoring without one (complaint columns stay empty)."""
    if not options.use_model:
        return None
    from csqa.complaints import load_classifier
    from csqa.text.normalize import normalize_text
    from csqa.text.segment import default_segmenter

    classifier = load_classifier(options.model)
    # the classifier's word features use the process-wide segmenter: load its dictionary now,
    # before the local engine forks, rather than once in every worker at its first message
    default_segmenter()
    normalize_text("預熱")  # and OpenCC's table of traditional characters (normalize, both stages)
    return classifier


def classify_complaints(convs: list[Conversation], classifier) -> None:
    """Attach the classifier's verdict to every customer message (batched)."""
    from csqa.core.records import AGENT, CUSTOMER, ComplaintSignal

    if classifier is None:
        return
    # each customer message is judged with the agent turn before it (没有了 after 还有其他问题吗 is
    # an answer); each distinct (text, context) pair once: chats repeat their lines
    msgs, contexts = [], []
    for c in convs:
        before = ""
        for m in c.messages:
            if m.role == AGENT:
                before = m.clean
            elif m.role == CUSTOMER:
                msgs.append(m)
                contexts.append(before)
    if not msgs:
        return
    pairs = list(dict.fromkeys(zip((m.clean for m in msgs), contexts)))
    rows = classifier.verdicts([t for t, _ in pairs], [c for _, c in pairs])
    signals = {pair: ComplaintSignal(cat, sev, float(p), bool(flag)) for pair, (cat, sev, p, flag) in zip(pairs, rows)}
    for m, context in zip(msgs, contexts):
        m.complaint = signals[(m.clean, context)]


def mask_function(enabled: bool):
    if not enabled:
        return None
    from csqa.checks.pii import mask_pii

    return mask_pii


def score_frame(
    messages: pd.DataFrame,
    book: CompiledRulebook,
    classifier=None,
    mask=None,
    segmenter: Segmenter | None = None,
    timer: Timer | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ConversationResult]:
    """Score every conversation of an ingested messages frame (the local engine's unit of work)."""
    from csqa.scoring import Scorecard
    from csqa.text.conversations import build_conversations
    from csqa.text.segment import default_segmenter

    segmenter = segmenter or default_segmenter()
    timer = timer or Timer()
    t0 = time.perf_counter()
    convs = list(build_conversations(messages, segmenter))
    t1 = time.perf_counter()
    timer.add("normalize_segment", t1 - t0)
    classify_complaints(convs, classifier)
    book.prepare(convs)
    t2 = time.perf_counter()
    timer.add("classify", t2 - t1)
    scorecard = Scorecard(book, mask)
    results = []
    for conv in convs:
        results.append(scorecard.score(conv))
        if progress:
            progress(1)
    timer.add("checks_score", time.perf_counter() - t2)
    return results


__all__ = [
    "ScoreOptions",
    "Timer",
    "prepare_rulebook",
    "load_complaint_model",
    "classify_complaints",
    "score_frame",
    "mask_function",
]
