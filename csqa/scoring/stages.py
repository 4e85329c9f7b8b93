"""The judging stages in their order, written once: text → complaints → checks → scorecard.

    judge = Judge.load(ScoreOptions())              # rulebook compiled, classifier loaded, segmenter ready
    convs, results = judge.run(messages)            # every conversation of an ingested frame, scored

Engines only decide where this runs (this process, forked workers, Spark executors); `csqa rules test`
judges each rulebook example with the same stages (csqa.scoring.examples), and the tests score with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from csqa.runtime.measure import Timer

if TYPE_CHECKING:
    import pandas as pd

    from csqa.checks.engine import CompiledRulebook, Evaluation
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


def prepare_rulebook(options: ScoreOptions, segmenter: Segmenter) -> tuple[LoadedRulebook, CompiledRulebook]:
    """The rulebook loaded and compiled; its phrases added to the segmenter so that they stay whole."""
    from csqa.checks.engine import CompiledRulebook
    from csqa.rulebook.loader import load_rulebook

    loaded = load_rulebook(options.rulebook)
    book = CompiledRulebook(loaded.rulebook, select=options.select or None, ignore=options.ignore or None,
                            models=options.use_model)
    segmenter.add_words(w for w in book.vocabulary() if len(w) >= 2)
    return loaded, book


def load_complaint_model(options: ScoreOptions):
    """The complaint classifier, or None with --no-model (complaint columns stay empty). A shipped model that
    is missing or cannot be loaded is an error (exit 2), never a silent run without complaint columns."""
    if not options.use_model:
        return None
    from csqa.complaints import load_classifier
    from csqa.complaints.errors import ModelLoadError
    from csqa.text.normalize import normalize_text
    from csqa.text.segment import default_segmenter

    try:
        classifier = load_classifier(options.model)
    except ModelLoadError as exc:
        if options.model is not None:
            raise
        raise ModelLoadError(
            f"内置的投诉分类模型无法使用：{exc} — 请重新安装 csqa，或用 --model PATH 指定模型，"
            f"或加 --no-model 不做投诉分类 (the shipped complaint model cannot be used: reinstall csqa, "
            f"pass --model PATH, or --no-model)") from None
    # the classifier's word features use the process-wide segmenter: load its dictionary now,
    # before the local engine forks, rather than once in every worker at its first message
    default_segmenter()
    normalize_text("預熱")  # and OpenCC's table of traditional characters (normalize, both stages)
    return classifier


def mask_function(enabled: bool):
    """What hides personal data in evidence and transcripts (None: shown as written)."""
    if not enabled:
        return None
    from csqa.checks.pii import mask_pii

    return mask_pii


class Judge:
    """The stages between an ingested frame and scored conversations, in their one order:

    1. text: messages → conversations (normalized, segmented; `csqa.text.conversations`);
    2. complaints: each customer message's verdict (`csqa.complaints.classify.classify_messages`);
    3. checks: the rulebook's rules on each conversation (`CompiledRulebook.evaluate`);
    4. scorecard: points, score and findings (`csqa.scoring.Scorecard`).
    """

    def __init__(self, book: CompiledRulebook, classifier=None, mask=None, segmenter: Segmenter | None = None,
                 evidence: bool = True):
        from csqa.scoring.scorecard import Scorecard

        if segmenter is None:
            from csqa.text.segment import default_segmenter

            segmenter = default_segmenter()
        self.book, self.classifier, self.mask, self.segmenter = book, classifier, mask, segmenter
        self.evidence = evidence
        self.scorecard = Scorecard(book, mask)
        self.loaded: LoadedRulebook | None = None

    @classmethod
    def load(cls, options: ScoreOptions, segmenter: Segmenter | None = None, evidence: bool = True) -> Judge:
        """A judge for these options: the rulebook compiled (its phrases added to `segmenter`, by default a
        fresh one, so that the complaint classifier's own segmenter never depends on a rulebook)."""
        from csqa.text.segment import Segmenter

        segmenter = segmenter or Segmenter()
        loaded, book = prepare_rulebook(options, segmenter)
        judge = cls(book, load_complaint_model(options), mask_function(options.mask), segmenter, evidence)
        judge.loaded = loaded
        return judge

    def conversations(self, messages: pd.DataFrame) -> list[Conversation]:
        from csqa.text.conversations import build_conversations

        return list(build_conversations(messages, self.segmenter))

    def classify(self, convs: list[Conversation]) -> None:
        from csqa.complaints.classify import classify_messages

        classify_messages(convs, self.classifier)
        self.book.prepare(convs)

    def evaluate(self, conv: Conversation) -> Evaluation:
        return self.book.evaluate(conv)

    def score(self, convs: list[Conversation], progress: Callable[[int], None] | None = None) -> list[ConversationResult]:
        results = []
        for conv in convs:
            results.append(self.scorecard.score(conv, self.evidence))
            if progress:
                progress(1)
        return results

    def run(self, messages: pd.DataFrame, timer: Timer | None = None, cpu: bool = False,
            progress: Callable[[int], None] | None = None) -> tuple[list[Conversation], list[ConversationResult]]:
        """Every stage on one frame. `timer` gets each stage's seconds: wall-clock with peak memory, or
        with `cpu` this process's CPU time (the workers': run.json's "score.* (cpu, all workers)")."""
        timer = timer if timer is not None else Timer()
        clock = time.process_time if cpu else time.perf_counter
        t0 = clock()
        convs = self.conversations(messages)
        t1 = clock()
        timer.add("normalize_segment", t1 - t0, rss=not cpu)
        self.classify(convs)
        t2 = clock()
        timer.add("classify", t2 - t1, rss=not cpu)
        results = self.score(convs, progress)
        timer.add("checks_score", clock() - t2, rss=not cpu)
        return convs, results


def score_frame(messages: pd.DataFrame, book: CompiledRulebook, classifier=None, mask=None,
                segmenter: Segmenter | None = None, timer: Timer | None = None,
                progress: Callable[[int], None] | None = None) -> list[ConversationResult]:
    """Score every conversation of an ingested messages frame."""
    return Judge(book, classifier, mask, segmenter).run(messages, timer, progress=progress)[1]
