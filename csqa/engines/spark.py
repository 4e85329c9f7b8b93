"""The Spark engine: the same `Scorer.score_frame` over conversation buckets with PySpark.

`pip install 'csqa[spark]'`, then `csqa score INPUT… -o OUT --engine spark`.

How it runs: the inputs are read with csqa's own streaming readers (the same rejects as the
local engine) and staged as Parquet; Spark reads the staging folder, hashes each conversation
into a bucket (all of a conversation's rows land in one bucket) and runs `Scorer.score_frame`
on each bucket with `applyInPandas`. Each bucket returns its tables serialized; the driver
collects them bucket by bucket (`toLocalIterator`) and restores the input order, so the rows
are identical to `--engine local`.

On a cluster (YARN / Kubernetes / standalone), submit the CLI with spark-submit so the
executors get the csqa package, e.g.:

    spark-submit --master yarn --deploy-mode client \\
        --conf spark.executorEnv.PYTHONHASHSEED=0 \\
        --py-files csqa.zip  $(which csqa) score hdfs_export_dir/ -o out/ --engine spark

or set CSQA_SPARK_MASTER / any SparkSession already created in the process (it is reused).
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from csqa.engines.base import ChunkOutput, Scorer, ScorerSetup
from csqa.errors import ConfigError
from csqa.ingest import MESSAGE_COLUMNS

_EXECUTOR_SCORERS: dict[ScorerSetup, Scorer] = {}


def _scorer_for(setup: ScorerSetup) -> Scorer:
    """One Scorer per executor Python process (rulebook compiled and model loaded once)."""
    scorer = _EXECUTOR_SCORERS.get(setup)
    if scorer is None:
        scorer = _EXECUTOR_SCORERS[setup] = Scorer(setup)
    return scorer


def _require_pyspark():
    import warnings

    # PySpark 4 warns that pandas 3 is newer than it was tested with; the engines test checks
    # that the rows are identical to the local engine's, so the warning is noise for users.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError("--engine spark 需要 PySpark: pip install 'csqa[spark]' (或 pip install pyspark)") from None


def spark_session(master: str | None = None, partitions: int | None = None):
    _require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("csqa")
    master = master or os.environ.get("CSQA_SPARK_MASTER")
    if master:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_HOME") and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        builder = builder.master("local[*]")
    builder = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(partitions or 8))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    name = "spark"

    def __init__(self, setup: ScorerSetup, buckets: int = 8, master: str | None = None):
        self.setup = setup
        self.buckets = buckets
        self.spark = spark_session(master, buckets)
        self.workers = int(self.spark.sparkContext.defaultParallelism)
        self._stage = Path(tempfile.mkdtemp(prefix="csqa-spark-"))
        self._parts = 0

    # -- staging ------------------------------------------------------------------
    def add(self, messages: pd.DataFrame) -> None:
        """Stage one ingested chunk as a Parquet part (bounded driver memory)."""
        if messages.empty:
            return
        # Spark reads microsecond timestamps (not pandas' nanoseconds)
        messages[MESSAGE_COLUMNS].to_parquet(
            self._stage / f"part-{self._parts:05d}.parquet", index=False, coerce_timestamps="us",
            allow_truncated_timestamps=True,
        )
        self._parts += 1

    # -- scoring ------------------------------------------------------------------
    def run(self) -> Iterator[ChunkOutput]:
        """Score the staged messages; yields one ChunkOutput per bucket, then the caller re-orders."""
        if self._parts == 0:
            return
        from pyspark.sql import functions as F

        setup = self.setup
        buckets = self.buckets

        def score_bucket(pdf: pd.DataFrame) -> pd.DataFrame:
            pdf = pdf.drop(columns=["bucket"])
            pdf["timestamp"] = pd.to_datetime(pdf["timestamp"])
            out = _scorer_for(setup).score_frame(pdf)
            first_seq = int(pdf["seq"].min())
            return pd.DataFrame({"first_seq": [first_seq], "payload": [pickle.dumps(out, protocol=5)]})

        frame = self.spark.read.parquet(str(self._stage))
        frame = frame.withColumn("bucket", F.pmod(F.xxhash64("conversation_id"), F.lit(buckets)))
        scored = frame.groupBy("bucket").applyInPandas(score_bucket, schema="first_seq long, payload binary")
        for row in scored.toLocalIterator():
            yield pickle.loads(row["payload"])

    def close(self) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)


def restore_order(outputs: Iterable[ChunkOutput], conversation_order: pd.Series) -> ChunkOutput:
    """Concatenate bucket outputs and put conversations (and their findings, messages) in input order."""
    from csqa.engines.base import concat_outputs

    out = concat_outputs(list(outputs))
    rank = {cid: i for i, cid in enumerate(conversation_order)}
    conv = out.conversations.assign(_r=out.conversations["conversation_id"].map(rank))
    conv = conv.sort_values("_r", kind="stable").drop(columns="_r").reset_index(drop=True)
    fnd = out.findings.assign(_r=out.findings["conversation_id"].map(rank))
    fnd = fnd.sort_values("_r", kind="stable").drop(columns="_r").reset_index(drop=True)
    msg = out.messages.assign(_r=out.messages["conversation_id"].map(rank))
    msg = msg.sort_values(["_r", "message_index"], kind="stable").drop(columns="_r").reset_index(drop=True)
    return ChunkOutput(conv, fnd, msg, out.timings)
