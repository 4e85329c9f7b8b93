"""The settings of a run, typed and built once: from the command line's options (`ScoreSettings.from_options`)
plus what the rulebook decides (`RulebookSettings.of_rulebook`: pass mark, time limits, min_n, dimensions).

`csqa score` builds a `ScoreSettings` in `csqa.cli.score` and hands it to `csqa.runner.run_score` (its
`ScoringSettings` go on to the engines, which rebuild a `Scorer` from them wherever they run); once
the rulebook is loaded its `RulebookSettings` are added (`ScoreSettings.with_rulebook`) and go, with the
run, into run.json and the store's runs (`manifest_entry`) — which is where `csqa report` reads them back
(`RulebookSettings.of_manifest_entry`). The reports read the pass mark, the time limits and min_n from
there (`csqa.outputs.report.options.ReportOptions.for_rulebook`), the agents table its min_n.

Only the standard library here: the CLI builds these before it forks its ingest child.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PASS_MARK = 80.0  # (the rulebook schema's default, `csqa.rulebook.schema.Settings.pass_mark`)
DEFAULT_MIN_N = 20  # agents with fewer conversations are marked 样本少


@dataclass(frozen=True)
class RulebookSettings:
    """What the outputs need of the rulebook that scored a run."""

    pass_mark: float = DEFAULT_PASS_MARK
    first_response_limit_s: float | None = None  # the strictest of its timing rules (None: it has none)
    reply_limit_s: float | None = None
    min_n: int = DEFAULT_MIN_N
    dimensions: tuple[dict, ...] = ()  # {"id", "name", "weight"} of its scorecard
    min_n_set: bool = False  # the rulebook sets min_n itself (then run.json records it)

    @classmethod
    def of_rulebook(cls, rulebook) -> "RulebookSettings":
        """Of a `csqa.rulebook.schema.Rulebook`: its settings, and the time limits of its enabled timing rules."""
        firsts = [r.timing.first_response_s for r in rulebook.rules
                  if r.enabled and r.timing and r.timing.first_response_s]
        replies = [r.timing.response_s for r in rulebook.rules if r.enabled and r.timing and r.timing.response_s]
        settings = rulebook.settings
        min_n = getattr(settings, "min_n", None)
        return cls(pass_mark=settings.pass_mark,
                   first_response_limit_s=min(firsts) if firsts else None,
                   reply_limit_s=min(replies) if replies else None,
                   min_n=DEFAULT_MIN_N if min_n is None else int(min_n),
                   dimensions=tuple({"id": d.id, "name": d.name, "weight": d.weight} for d in rulebook.dimensions),
                   min_n_set="min_n" in getattr(settings, "model_fields_set", ()))

    def manifest_entry(self) -> dict:
        """The keys run.json's "rulebook" entry (and so the store's runs) keeps of them."""
        entry = {"pass_mark": self.pass_mark, "first_response_limit_s": self.first_response_limit_s,
                 "reply_limit_s": self.reply_limit_s, "dimensions": [dict(d) for d in self.dimensions]}
        if self.min_n_set:
            entry["min_n"] = self.min_n
        return entry

    @classmethod
    def of_manifest_entry(cls, entry: dict | None) -> "RulebookSettings | None":
        """Read back from a run's manifest (None when it has none: a run of an older csqa)."""
        entry = entry or {}
        if all(entry.get(k) is None for k in ("pass_mark", "first_response_limit_s", "reply_limit_s", "dimensions")):
            return None
        return cls(pass_mark=float(entry["pass_mark"]) if entry.get("pass_mark") is not None else DEFAULT_PASS_MARK,
                   first_response_limit_s=entry.get("first_response_limit_s"),
                   reply_limit_s=entry.get("reply_limit_s"),
                   min_n=int(entry["min_n"]) if entry.get("min_n") is not None else DEFAULT_MIN_N,
                   dimensions=tuple(entry.get("dimensions") or ()),
                   min_n_set=entry.get("min_n") is not None)

    @classmethod
    def of_latest_run(cls, manifests) -> "RulebookSettings | None":
        """Of the latest of some runs' manifests (JSON text, oldest first): its rulebook is the one in force."""
        import json

        for manifest in reversed(list(manifests)):
            try:
                found = cls.of_manifest_entry(json.loads(manifest).get("rulebook"))
            except (TypeError, ValueError, AttributeError):
                continue
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class ScoringSettings:
    """What scoring needs, everywhere it runs (this process, a worker, a Spark executor: `csqa.engines.Scorer`)."""

    rulebook: str | None = None  # a shop's rulebook file (None: the default rulebook)
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    model: str | None = None  # a complaint model (None: the shipped one)
    use_model: bool = True
    mask: bool = True
    segmenter: str = "auto"


@dataclass(frozen=True)
class ScoreSettings:
    """Everything `csqa score` was asked to do."""

    inputs: tuple[str, ...]
    outdir: Path
    scoring: ScoringSettings = ScoringSettings()
    encoding: str | None = None
    column_map: dict[str, str] = field(default_factory=dict)
    role_map: dict[str, str] = field(default_factory=dict)
    store: str | None = None
    engine: str = "local"
    workers: int | None = None
    quiet: bool = False
    batch_conversations: int = 2000
    rulebook_settings: RulebookSettings | None = None  # known once the rulebook is loaded

    @classmethod
    def from_options(cls, inputs, outdir, *, column_map=None, role_map=None, rulebook=None, select=(), ignore=(),
                     model=None, no_model=False, no_mask=False, segmenter="auto", **options) -> "ScoreSettings":
        """From the command line's values (no_model / no_mask as the flags say them)."""
        scoring = ScoringSettings(rulebook=rulebook, select=tuple(select), ignore=tuple(ignore), model=model,
                                  use_model=not no_model, mask=not no_mask, segmenter=segmenter)
        return cls(inputs=tuple(str(i) for i in inputs), outdir=Path(outdir), scoring=scoring,
                   column_map=dict(column_map or {}), role_map=dict(role_map or {}), **options)

    def with_rulebook(self, rulebook_settings: RulebookSettings) -> "ScoreSettings":
        return replace(self, rulebook_settings=rulebook_settings)

    @property
    def mask(self) -> bool:
        return self.scoring.mask

    @property
    def min_n(self) -> int:
        return self.rulebook_settings.min_n if self.rulebook_settings else DEFAULT_MIN_N
