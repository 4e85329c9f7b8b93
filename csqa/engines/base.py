"""What every engine shares: a prepared `Scorer` and the tables one chunk of conversations yields."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from csqa.results.tables import conversations_table, findings_table
from csqa.results.transcripts import chunk_transcripts, messages_table
from csqa.results.finding_ids import add_finding_ids
from csqa.runtime.collector import collector_paused
from csqa.runtime.measure import Timer, peak_rss_mb
from csqa.scoring.stages import Judge
from csqa.settings import ScoringSettings
from csqa.text.segment import Segmenter, available_backend


@dataclass
class ChunkOutput:
    conversations: pd.DataFrame
    findings: pd.DataFrame
    messages: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0  # of the process that scored it
    # set when the worker wrote messages and findings to spool parts itself (then both frames are empty):
    # {"messages": csqa.results.spool.WrittenPart, "findings": WrittenPart}
    written: dict | None = None


class Scorer:
    """A `Judge` (rulebook compiled, classifier loaded, segmenter warmed up) and the tables one chunk yields:
    ready to score frames wherever an engine runs it."""

    def __init__(self, setup: ScoringSettings):
        """setup: the run's `csqa.settings.ScoringSettings` (hashable: a Spark executor keeps one Scorer per setup)."""
        from csqa.text.conversations import build_conversations  # noqa: F401 - warm import before forking

        self.setup = setup
        # the checks get their own segmenter (dictionary + this rulebook's phrases); the complaint
        # classifier keeps the plain dictionary one, so its features never depend on a rulebook.
        # With masking, chunk_transcripts rebuilds the evidence of every finding from the masked
        # transcript (prepare_transcripts does the same): it is not worked out while scoring
        with collector_paused():  # ~10^6 objects that live for the run (csqa.runtime.collector)
            self.judge = Judge.load(setup, Segmenter(backend=available_backend(setup.segmenter)),
                                    evidence=not setup.mask)
        self.segmenter, self.loaded, self.book = self.judge.segmenter, self.judge.loaded, self.judge.book
        self.classifier, self.mask = self.judge.classifier, self.judge.mask

    def score_frame(self, messages: pd.DataFrame) -> ChunkOutput:
        """Score every conversation of an ingested-messages frame (all of each conversation's rows)."""
        timer = Timer()  # CPU seconds of this process per stage (run.json: "score.* (cpu, all workers)")
        convs, results = self.judge.run(messages, timer, cpu=True)
        t3 = time.process_time()
        # transcripts masked here, in the workers, with an offset map that moves each finding's
        # highlight onto the masked text (hl_start / hl_end). chunk_transcripts gives
        # prepare_transcripts(messages_table(messages), findings_table(results), mask), read off
        # the conversation objects and results as lists instead of the frames
        transcripts, findings = chunk_transcripts(messages, convs, results, self.setup.mask)
        # stable finding ids: (conversation, rule, message, occurrence, rulebook, model) (csqa.results.finding_ids)
        findings = add_finding_ids(findings, self.loaded.sha256, getattr(self.classifier, "sha256", None))
        out = ChunkOutput(conversations_table(results), findings, transcripts)
        timer.add("tables", time.process_time() - t3, rss=False)
        out.timings = timer.stages
        out.peak_rss_mb = peak_rss_mb()
        return out


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
