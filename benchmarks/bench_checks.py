"""CPU of the checks and the scorecard (the judging stage's hot part), two checkouts side by side.

For a restructuring of csqa/checks or csqa/scoring ("speed not worse than before"): each checkout scores
the same conversations in a process of its own — the JD chats of ../shared/data resampled into an export
(benchmarks/make_export.py), ingested, normalized, segmented and classified first — and only the CPU time
of evaluating the rules and pricing the findings is measured. The checkouts take turns, `--repeat` times,
and the medians and their ratio are printed (the machines are shared and noisy: read a ratio within ±10 %
as parity).

python benchmarks/bench_checks.py --old ../old-checkout            # this checkout against another
python benchmarks/bench_checks.py --old ../old --conversations 6000 --repeat 5
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_export  # noqa: E402
import realdata  # noqa: E402

# Runs inside each checkout (its own csqa on PYTHONPATH); prints the CPU seconds of checks + scorecard.
MEASURE = r"""
import sys, time
from csqa.ingest.pipeline import read_inputs
messages = read_inputs([sys.argv[1]]).messages
try:
    from csqa.scoring.stages import Judge
    from csqa.settings import ScoringSettings
except ImportError:  # a checkout from before the stage sequence (csqa.pipeline, csqa.conversations)
    from csqa.conversations import build_conversations
    from csqa.engines.base import Scorer, ScorerSetup
    from csqa.pipeline import classify_complaints
    from csqa.scoring import score_conversation
    scorer = Scorer(ScorerSetup())
    convs = list(build_conversations(messages, scorer.segmenter))
    classify_complaints(convs, scorer.classifier)
    scorer.book.prepare(convs)
    score = lambda: [score_conversation(c, scorer.book, scorer.mask, False) for c in convs]
else:
    judge = Judge.load(ScoringSettings())
    convs = judge.conversations(messages)
    judge.classify(convs)
    score = lambda: [judge.scorecard.score(c, False) for c in convs]
started = time.process_time()
score()
print(time.process_time() - started, len(convs))
"""


def measure(checkout: Path, export: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(export)], env={"PYTHONPATH": str(checkout),
                         "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    seconds, n = out.stdout.split()[-2:]
    return float(seconds), int(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, type=Path, help="the other checkout (e.g. the previous main)")
    ap.add_argument("--new", type=Path, default=HERE.parent, help="this checkout (default)")
    ap.add_argument("--conversations", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not realdata.available(realdata.CHAT_A):
        print(f"skipped: the JD chats are not in {realdata.CHAT_A} (../shared/data)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.csv"
        make_export.write_export(args.conversations, export)
        times: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(args.repeat):
            for name in ("old", "new"):
                seconds, n = measure(getattr(args, name).resolve(), export)
                times[name].append(seconds)
                print(f"run {i + 1} {name}: {seconds:.2f} s CPU for {n} conversations", flush=True)
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"checks + scorecard CPU, median of {args.repeat}: old {old:.2f} s, new {new:.2f} s, "
          f"ratio new/old {new / old:.2f}")


if __name__ == "__main__":
    main()
