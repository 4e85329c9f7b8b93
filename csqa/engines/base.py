"""What every engine shares: a prepared `Scorer` and the tables one chunk of conversations yields."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from csqa.pipeline import ScoreOptions, Timer, peak_rss_mb, classify_complaints, load_complaint_model, mask_function, prepare_rulebook
from csqa.report.tables import conversations_table, findings_table
from csqa.report.transcript import chunk_transcripts, messages_table
from csqa.review.ids import add_finding_ids
from csqa.scoring import score_conversation
from csqa.text.segment import Segmenter, available_backend



@dataclass(frozen=True)
class ScorerSetup:
    """Everything needed to rebuild a Scorer anywhere (a worker process, a Spark executor)."""

    rulebook: str | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    model: str | None = None
    use_model: bool = True
    mask: bool = True
    segmenter: str = "auto"


@dataclass
class ChunkOutput:
    conversations: pd.DataFrame
    findings: pd.DataFrame
    messages: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0  # of the process that scored it
    # set when the worker wrote messages and findings to spool parts itself (then both frames are empty):
    # {"messages": csqa.engines.spool.WrittenPart, "findings": WrittenPart}
    written: dict | None = None


class Scorer:
    """A rulebook compiled, a classifier loaded and a segmenter warmed up: ready to score frames."""

    def __init__(self, setup: ScorerSetup):
        from csqa.text.conversations import build_conversations  # noqa: F401 - warm import before forking

        self.setup = setup
        # the checks get their own segmenter (dictionary + this rulebook's phrases); the complaint
        # classifier keeps the plain dictionary one, so its features never depend on a rulebook
        self.segmenter = Segmenter(backend=available_backend(setup.segmenter))
        options = ScoreOptions(rulebook=setup.rulebook, select=list(setup.select), ignore=list(setup.ignore),
                               model=setup.model, use_model=setup.use_model, mask=setup.mask)
        self.loaded, self.book = prepare_rulebook(options, self.segmenter)
        self.classifier = _classifier(options)
        self.mask = mask_function(setup.mask)

    def score_frame(self, messages: pd.DataFrame) -> ChunkOutput:
        """Score every conversation of an ingested-messages frame (all of each conversation's rows)."""
        from csqa.text.conversations import build_conversations

        timer = Timer()  # CPU seconds of this process per stage (run.json: "score.* (cpu, all workers)")
        t0 = time.process_time()
        convs = list(build_conversations(messages, self.segmenter))
        t1 = time.process_time()
        classify_complaints(convs, self.classifier)
        self.book.prepare(convs)
        t2 = time.process_time()
        # with masking, chunk_transcripts rebuilds the evidence of every finding on a message
        # from the masked transcript (prepare_transcripts does the same): not worked out here
        evidence = not self.setup.mask
        results = [score_conversation(c, self.book, self.mask, evidence) for c in convs]
        t3 = time.process_time()
        # transcripts masked here, in the workers, with an offset map that moves each finding's
        # highlight onto the masked text (hl_start / hl_end). chunk_transcripts gives
        # prepare_transcripts(messages_table(messages), findings_table(results), mask), read off
        # the conversation objects and results as lists instead of the frames
        transcripts, findings = chunk_transcripts(messages, convs, results, self.setup.mask)
        # stable finding ids: (conversation, rule, message, occurrence, rulebook, model) (csqa.review.ids)
        findings = add_finding_ids(findings, self.loaded.sha256, getattr(self.classifier, "sha256", None))
        out = ChunkOutput(conversations_table(results), findings, transcripts)
        timer.add("normalize_segment", t1 - t0, rss=False)
        timer.add("classify", t2 - t1, rss=False)
        timer.add("checks_score", t3 - t2, rss=False)
        timer.add("tables", time.process_time() - t3, rss=False)
        out.timings = timer.stages
        out.peak_rss_mb = peak_rss_mb()
        return out


def _classifier(options: ScoreOptions):
    """The complaint classifier; None only with --no-model. A shipped model that is missing or
    cannot be loaded is an error (exit 2), never a silent run without complaint columns."""
    if not options.use_model:
        return None
    from csqa.complaints.errors import ModelLoadError

    try:
        return load_complaint_model(options)
    except ModelLoadError as exc:
        if options.model is not None:
            raise
        raise ModelLoadError(
            f"内置的投诉分类模型无法使用：{exc} — 请重新安装 csqa，或用 --model PATH 指定模型，"
            f"或加 --no-model 不做投诉分类 (the shipped complaint model cannot be used: reinstall csqa, "
            f"pass --model PATH, or --no-model)") from None


def concat_outputs(outputs: list[ChunkOutput]) -> ChunkOutput:
    if not outputs:
        empty = ChunkOutput(conversations_table([]), findings_table([]), messages_table(pd.DataFrame()))
        return empty
    timings: dict[str, float] = {}
    for o in outputs:
        for k, v in o.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return ChunkOutput(
        pd.concat([o.conversations for o in outputs], ignore_index=True),
        pd.concat([o.findings for o in outputs], ignore_index=True),
        pd.concat([o.messages for o in outputs], ignore_index=True),
        timings,
        max(o.peak_rss_mb for o in outputs),
    )
