"""`ReportOptions`: the report's knobs (pass mark, time limits, caps of the drill-down and of report.xlsx, masking).

Uses nothing of the report package: the statistics, the sheets, the drill-down and `build` all read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from csqa.results.stats import Z95
from csqa.settings import DEFAULT_MIN_N, DEFAULT_PASS_MARK, RulebookSettings


@dataclass
class ReportOptions:
    """Knobs of the report; the defaults are what `csqa score` and `csqa report` use."""

    # the rulebook's settings (`for_rulebook`; these defaults: a rulebook without timing rules, or none known)
    min_n: int = DEFAULT_MIN_N  # agents with fewer conversations are marked 样本少
    pass_mark: float = DEFAULT_PASS_MARK
    first_response_limit_s: float = 30.0
    reply_limit_s: float = 60.0
    dimensions: tuple = ()  # the scorecard's {"id", "name", "weight"}
    worst_per_agent: int = 5  # worst conversations listed in each agent section
    drilldown_per_agent: int = 8  # conversations per agent with a full transcript
    max_drilldown: int = 400
    top_checks: int = 12
    # report.xlsx is for reading, not the full record (that is findings.csv / conversations.csv and the
    # store): past these many rows a sheet keeps the worst conversations and says so (Excel stops at 1,048,576)
    xlsx_max_findings: int = 20_000
    xlsx_max_conversations: int = 50_000
    heatmap_checks: int = 10
    mask: bool = True
    already_masked: bool = False  # transcripts and findings were masked upstream (csqa score does it per chunk)
    z: float = Z95
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_rulebook(cls, settings: RulebookSettings | None, **options) -> "ReportOptions":
        """Options following the rulebook that scored the conversations: its pass mark, the time limits of its
        timing rules (else the defaults), min_n and dimensions."""
        if settings is None:
            return cls(**options)
        return cls(pass_mark=float(settings.pass_mark),
                   first_response_limit_s=float(settings.first_response_limit_s or cls.first_response_limit_s),
                   reply_limit_s=float(settings.reply_limit_s or cls.reply_limit_s),
                   min_n=settings.min_n, dimensions=tuple(settings.dimensions), **options)
