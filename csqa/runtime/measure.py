"""What a run measures of itself: seconds per stage and the process's peak memory (run.json's timings)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (0 where the OS does not say).

    On Linux the high-water mark of this process's own address space (VmHWM): getrusage's
    ru_maxrss would also carry, across exec, the peak of the process that spawned this one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class Timer:
    """Seconds per stage, and the process's peak RSS when each wall-clock stage ended."""

    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float, rss: bool = True) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds
        if rss:
            self.peak_rss[name] = peak_rss_mb()
