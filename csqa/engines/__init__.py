"""Engines run the same per-conversation scoring over many conversations.

- `local`: chunks of conversations in a pool of worker processes on one machine, with the
  input staged in DuckDB so memory stays bounded however the export is ordered;
- `spark`: the same function over conversation groups with PySpark (applyInPandas).

Both return `ChunkOutput`s built by `Scorer.score_frame`, so their results are identical.
"""

from csqa.engines.base import ChunkOutput, Scorer, concat_outputs
from csqa.settings import ScoringSettings

__all__ = ["ChunkOutput", "Scorer", "ScoringSettings", "concat_outputs"]
