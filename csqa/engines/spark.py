"""The Spark engine: the same `Scorer.score_frame` over conversation buckets with PySpark.

`pip install 'csqa[spark]'`, then `csqa score INPUT… -o OUT --engine spark`.

How it runs: the inputs are read with csqa's own streaming readers (the same rejects as the
local engine) and staged as Parquet parts. Spark reads the staging folder and gives every
conversation a bucket by where it starts in the input (`first_seq // rows_per_bucket`), so a
bucket is a contiguous stretch of the run's conversation order and holds about
`rows_per_bucket` messages however large the input: an executor scores one bucket at a time
with `applyInPandas` (bounded memory), and the bucket count grows with the data. Each bucket
comes back serialized; the driver writes its transcripts and findings to spool parts numbered
by bucket as they arrive (in any order), keeps only the conversation rows, and puts the parts
in bucket order at the end: the rows are identical to `--engine local`, and the driver holds
one shuffle partition of results at a time, never the whole run.

On a cluster (YARN / Kubernetes / standalone) the executors must read the staged parts: set
CSQA_SPARK_STAGING to a folder they all see — a shared mount or a URI pyarrow can write
(e.g. hdfs://namenode/tmp/csqa) — and submit the CLI with spark-submit so they get the csqa
package, e.g.:

    CSQA_SPARK_STAGING=hdfs:///tmp/csqa spark-submit --master yarn --deploy-mode client \\
        --conf spark.executorEnv.PYTHONHASHSEED=0 \\
        --py-files csqa.zip  $(which csqa) score hdfs_export_dir/ -o out/ --engine spark

or set CSQA_SPARK_MASTER / any SparkSession already created in the process (it is reused).
"""
from __future__ import annotations

import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from csqa.engines.base import ChunkOutput, Scorer
from csqa.settings import ScoringSettings
from csqa.core.errors import ConfigError
from csqa.ingest import MESSAGE_COLUMNS

_EXECUTOR_SCORERS: dict[ScoringSettings, Scorer] = {}


def _scorer_for(setup: ScoringSettings) -> Scorer:
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
    # The Python workers run the interpreter PYSPARK_PYTHON names, and PATH's python3 without it:
    # from a virtualenv that is not on PATH that is another Python, without csqa (or without
    # PySpark) — so they use this one unless PYSPARK_PYTHON (or spark-submit's
    # spark.pyspark.python, which sets it) says otherwise. (SparkContext reads it when created.)
    if not os.environ.get("PYSPARK_PYTHON") and sys.executable:
        os.environ["PYSPARK_PYTHON"] = sys.executable
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

    def __init__(self, setup: ScoringSettings, rows_per_bucket: int = 50_000, master: str | None = None,
                 staging: str | None = None):
        self.setup = setup
        self.rows_per_bucket = max(1, int(rows_per_bucket))
        self.spark = spark_session(master)
        self.workers = int(self.spark.sparkContext.defaultParallelism)
        self._fs, self._stage, self._stage_uri = _staging_folder(staging or os.environ.get("CSQA_SPARK_STAGING"))
        self._parts = 0
        self.rows = 0

    # -- staging ------------------------------------------------------------------
    def add(self, messages: pd.DataFrame) -> None:
        """Stage one ingested chunk as a Parquet part (bounded driver memory)."""
        if messages.empty:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(messages[MESSAGE_COLUMNS], preserve_index=False)
        # Spark reads microsecond timestamps (not pandas' nanoseconds)
        pq.write_table(table, f"{self._stage}/part-{self._parts:05d}.parquet", filesystem=self._fs,
                       coerce_timestamps="us", allow_truncated_timestamps=True)
        self._parts += 1
        self.rows += len(messages)

    @property
    def buckets(self) -> int:
        """How many buckets the staged rows make (the last bucket index + 1, at most)."""
        return max(1, -(-self.rows // self.rows_per_bucket))

    # -- scoring ------------------------------------------------------------------
    def run(self) -> Iterator[tuple[int, ChunkOutput]]:
        """Score the staged messages: (bucket, output) per non-empty bucket, in whatever order Spark
        finishes them. Bucket k holds the conversations whose first message is row k·rows_per_bucket
        … (k+1)·rows_per_bucket − 1 of the input, in input order: concatenated by bucket, the outputs
        are in the local engine's order."""
        if self._parts == 0:
            return
        from pyspark.sql import functions as F

        setup = self.setup
        rows_per_bucket = self.rows_per_bucket

        def score_bucket(pdf: pd.DataFrame) -> pd.DataFrame:
            bucket = int(pdf["bucket"].iloc[0])
            # rows in input order: conversations then come out in order of their first message
            pdf = pdf.drop(columns=["bucket", "first_seq"]).sort_values("seq", kind="stable").reset_index(drop=True)
            pdf["timestamp"] = pd.to_datetime(pdf["timestamp"])
            out = _scorer_for(setup).score_frame(pdf)
            return pd.DataFrame({"bucket": [bucket], "payload": [pickle.dumps(out, protocol=5)]})

        # one shuffle partition per bucket (adaptive execution may merge small ones): the driver
        # fetches one partition at a time, so it holds about one bucket's results
        self.spark.conf.set("spark.sql.shuffle.partitions", str(self.buckets))
        frame = self.spark.read.parquet(self._stage_uri)
        starts = frame.groupBy("conversation_id").agg(F.min("seq").alias("first_seq"))
        frame = frame.join(starts, "conversation_id")
        frame = frame.withColumn("bucket", F.floor(F.col("first_seq") / F.lit(rows_per_bucket)).cast("long"))
        scored = frame.groupBy("bucket").applyInPandas(score_bucket, schema="bucket long, payload binary")
        for row in scored.toLocalIterator():
            yield int(row["bucket"]), pickle.loads(row["payload"])

    def close(self) -> None:
        try:
            self._fs.delete_dir(self._stage)
        except (OSError, FileNotFoundError):
            pass


def _staging_folder(base: str | None):
    """(pyarrow filesystem, folder path on it, folder URI for Spark): a new folder under `base`
    (a local path or a URI such as hdfs://…), or under the local temp folder."""
    import uuid

    from pyarrow import fs as pafs

    if base and "://" in base:
        scheme, rest = base.split("://", 1)
        filesystem, root = pafs.FileSystem.from_uri(base)
        name = f"csqa-spark-{uuid.uuid4().hex}"
        folder = f"{root.rstrip('/')}/{name}"
        filesystem.create_dir(folder)
        return filesystem, folder, f"{scheme}://{rest.rstrip('/')}/{name}"
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="csqa-spark-", dir=base or None)
    return pafs.LocalFileSystem(), folder, str(Path(folder).resolve())


def in_bucket_order(outputs: Iterable[tuple[int, ChunkOutput]]) -> ChunkOutput:
    """Concatenate (bucket, output) pairs in bucket order (all in memory: for tests and small runs;
    `csqa score` spools them instead)."""
    from csqa.engines.base import concat_outputs

    return concat_outputs([out for _, out in sorted(outputs, key=lambda pair: pair[0])])
