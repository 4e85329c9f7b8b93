"""Speed and memory of the whole `csqa score` against plain jieba segmentation, side by side.

For each size it builds an export by resampling the real JD chats (benchmarks/make_export.py),
then measures in separate processes, one after the other on the same machine:
  - baseline: plain single-process `jieba.lcut` (default settings) over the same message texts,
    loop time only (no file reading, no dictionary loading);
  - csqa: the full `csqa score` command (start-up, ingest, normalize, segment, checks, complaint
    classifier, scorecard, all outputs), wall time and peak RSS (of its largest process: the
    wait status's, or a larger one run.json reports, e.g. an output job's);
and prints the ratio csqa / baseline (target ≤ 0.5), conversations per second, peak RSS and the
per-stage breakdown from run.json (seconds, and the peak RSS of the main process when each
stage ended, plus the largest worker's), so a regression shows where it comes from.

These machines are shared: another tenant's load slows a 2-process pipeline more than a
1-process loop. `--repeat N` runs N baseline/csqa pairs back to back, prints every pair's
ratio and the median (the row shows the median pair), and the load average before and
after, so a reader can tell a slow run from a noisy machine.

A restructuring's "no slower than before" is measured side by side in the same run: with `--old CHECKOUT`
each repeat measures this checkout's and the other checkout's `csqa score` (each with a baseline run of its
own just before it), taking turns which goes first, and prints both medians and the paired ratios
(this / old: below 1 is faster).

python benchmarks/bench_speed.py --repeat 3           # 20k conversations, 3 pairs
python benchmarks/bench_speed.py --sizes 20000,200000  # the memory-flatness check (slow)
python benchmarks/bench_speed.py --old ../previous-main --repeat 5   # this checkout against another
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_export  # noqa: E402
import realdata  # noqa: E402

BASELINE = r"""
import csv, sys, time, logging, jieba
jieba.setLogLevel(logging.WARNING)
jieba.initialize()
with open(sys.argv[1], encoding="utf-8-sig", newline="") as fh:
    texts = [row[4] for row in csv.reader(fh)][1:]
t0 = time.perf_counter()
for t in texts:
    jieba.lcut(t)
print(time.perf_counter() - t0, len(texts), sum(len(t.encode("utf-8")) for t in texts))
"""


def busy_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine has used since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_with_rusage(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str, float]:
    """wall seconds, peak RSS MB, stdout, CPU seconds of the command and all its processes. With `cwd`
    (another checkout) the command runs there with that checkout first on its path."""
    env = None
    if cwd is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"command failed: {' '.join(cmd)}\n{err[-2000:]}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read(), usage.ru_utime + usage.ru_stime


def measure(size: int, workdir: Path, extra: list[str], repeat: int = 1) -> dict:
    """`repeat` baseline/csqa pairs, one after the other; the pair with the median ratio, plus
    every pair's ratio under "ratios"."""
    export = workdir / f"jd_{size}.csv"
    if not export.exists():
        make_export.write_export(size, export)
    return median_pair([measure_pair(size, export, workdir, extra) for _ in range(max(1, repeat))])


def side_by_side(size: int, workdir: Path, extra: list[str], old: Path, repeat: int) -> dict:
    """`repeat` rounds, each measuring this checkout and `old` (which goes first alternates): both
    checkouts' median pairs and the paired ratios this / old of the csqa/jieba ratios."""
    export = workdir / f"jd_{size}.csv"
    if not export.exists():
        make_export.write_export(size, export)
    new_pairs, old_pairs = [], []
    for i in range(max(1, repeat)):
        for is_new in ((True, False) if i % 2 == 0 else (False, True)):
            pair = measure_pair(size, export, workdir, extra, HERE.parent if is_new else old, "" if is_new else "_old")
            (new_pairs if is_new else old_pairs).append(pair)
    return {"new": median_pair(new_pairs), "old": median_pair(old_pairs),
            "paired": [n["ratio"] / o["ratio"] for n, o in zip(new_pairs, old_pairs)]}


def print_side_by_side(result: dict, old: Path) -> None:
    new, prev = result["new"], result["old"]
    print(f"{'checkout':<40}{'ratio (median)':>16}  ratios of each round")
    for name, r in (("this checkout", new), (str(old), prev)):
        print(f"{name:<40}{r['ratio']:>16.2f}  " + ", ".join(f"{x:.2f}" for x in r["ratios"]))
    paired = sorted(result["paired"])
    print("this / old, round by round: " + ", ".join(f"{x:.3f}" for x in result["paired"])
          + f" (median {paired[len(paired) // 2]:.3f}; below 1: this checkout is faster)")
    for name, r in (("this checkout", new), (str(old), prev)):
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stages"].items())
        print(f"stages, {name} (median round): {stages}")


def median_pair(pairs: list[dict]) -> dict:
    """The pair with the median ratio (of an even count, the higher of the middle two: the
    figure shown is never the luckier one), with every pair's ratio and other load, in run order."""
    ranked = sorted(pairs, key=lambda r: r["ratio"])
    chosen = dict(ranked[len(ranked) // 2])
    chosen["ratios"] = [r["ratio"] for r in pairs]
    chosen["other_loads"] = [r["other_load"] for r in pairs]
    return chosen


def measure_pair(size: int, export: Path, workdir: Path, extra: list[str], checkout: Path | None = None,
                 label: str = "") -> dict:
    """One baseline run, then one `csqa score`: the csqa Python finds, or with `checkout` that checkout's
    own (run from its folder; its outputs go to out_SIZE`label`)."""
    busy0 = busy_cpu_seconds()
    base_wall, _, base_out, base_cpu = run_with_rusage([sys.executable, "-c", BASELINE, str(export)])
    busy1 = busy_cpu_seconds()
    # what other processes (and the hypervisor's steal) took while the one-process baseline ran:
    # the machine's busy time minus the baseline's own. (csqa's own processes include a fork
    # server that its wait status does not account for, so this is measured on the baseline.)
    others = None if busy0 is None else max(0.0, busy1 - busy0 - base_cpu) / base_wall
    loop_s, n_msgs, n_bytes = base_out.split()
    loop_s, n_msgs, n_bytes = float(loop_s), int(n_msgs), int(n_bytes)
    outdir = workdir / f"out_{size}{label}"
    cmd = [sys.executable, "-m", "csqa.cli", "score", str(export.resolve()), "-o", str(outdir.resolve()), "-q", *extra]
    wall, rss, _, _ = run_with_rusage(cmd, cwd=checkout)
    manifest = json.loads((outdir / "run.json").read_text(encoding="utf-8"))
    # the wait status covers the processes csqa waited for; the output jobs are children of a fork
    # server, so the largest peak any csqa process reported in run.json counts too
    rss = max([rss, *(float(v) for v in manifest.get("peak_rss_mb", {}).values())])
    return {
        "size": size,
        "messages": n_msgs,
        "mb": n_bytes / 1e6,
        "jieba_s": loop_s,
        "csqa_s": wall,
        "ratio": wall / loop_s,
        "conv_per_s": size / wall,
        "peak_rss_mb": rss,
        "other_load": others,
        "stages": manifest.get("timings_s", {}),
        "stage_rss": manifest.get("peak_rss_mb", {}),
        "engine": manifest.get("engine"),
        "workers": manifest.get("workers"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000", help="comma-separated conversation counts")
    ap.add_argument("--workdir", type=Path, default=HERE / "data")
    ap.add_argument("--repeat", type=int, default=1, help="baseline/csqa pairs per size (the median is shown)")
    ap.add_argument("--old", type=Path, default=None,
                    help="another checkout (e.g. the previous main): measured side by side, taking turns")
    ap.add_argument("csqa_args", nargs="*", help="extra arguments for csqa score (after --)")
    args = ap.parse_args()
    if not realdata.available(realdata.CHAT_A):
        print("../shared/data is absent: nothing to measure")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.old is not None:
        for size in args.sizes.split(","):
            print_side_by_side(side_by_side(int(size), args.workdir, args.csqa_args, args.old.resolve(), args.repeat),
                               args.old)
        return 0
    rows = [measure(int(s), args.workdir, args.csqa_args, args.repeat) for s in args.sizes.split(",")]
    print(f"{'conversations':>13}{'messages':>10}{'MB':>7}{'jieba.lcut s':>14}{'csqa score s':>14}{'ratio':>7}"
          f"{'conv/s':>8}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{r['size']:>13}{r['messages']:>10}{r['mb']:>7.1f}{r['jieba_s']:>14.1f}{r['csqa_s']:>14.1f}"
              f"{r['ratio']:>7.2f}{r['conv_per_s']:>8.0f}{r['peak_rss_mb']:>13.0f}")
    for r in rows:
        if len(r["ratios"]) > 1:
            print(f"ratios of the {len(r['ratios'])} pairs at {r['size']}: " + ", ".join(f"{x:.2f}" for x in r["ratios"])
                  + f" (median {r['ratio']:.2f}; the rows show the median pair); other load during each baseline: "
                  + ", ".join("?" if x is None else f"{x:.2f}" for x in r["other_loads"]))
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stages"].items())
        print(f"stages at {r['size']}: {stages} (engine {r['engine']}, workers {r['workers']})")
        rss = ", ".join(f"{k} {v:.0f}" for k, v in r["stage_rss"].items())
        print(f"peak RSS MB when each stage ended at {r['size']}: {rss}")
    if len(rows) > 1:
        print(f"peak RSS {rows[-1]['size']} / {rows[0]['size']} conversations: "
              f"{rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}x (target ≤ 1.3)")
    for r in rows:
        if r["other_load"] is not None:
            print(f"other load at {r['size']}: {r['other_load']:.2f} of {os.cpu_count()} cores busy with other processes "
                  "while the baseline ran (well above 0: a noisy neighbour; csqa uses every core, the baseline one)")
    print("target: ratio ≤ 0.5 (the whole pipeline at least twice as fast as plain jieba.lcut alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
