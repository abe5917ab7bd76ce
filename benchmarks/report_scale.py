"""Benchmark 9: ``benchbase report`` over a folder of thousands of runs, in every format.

A results folder that a team shares grows by a run at a time for months, so what matters is how the report's cost
grows with the number of runs N, not its cost on one folder. The command is timed as a user runs it: the real
``benchbase report FOLDERS --format F --output FILE`` in a fresh process, over synthetic folders of N runs
(:mod:`benchmarks.synthetic_runs`: half multi-device, eight hosts, repeats, overlaps, contention), written once into
a cache and reused. Per format and N it records

* CPU seconds: user + system time of the child process (``os.wait4``'s resource usage of that child alone), which,
  unlike wall time, another job on the host slows only through shared caches;
* peak RSS: the child's own high-water mark of resident memory (``VmHWM`` in ``/proc/self/status`` as it exits);
* output size: the bytes of the file written.

Then per format and quantity a least-squares fit ``a + b*N + c*N^2`` over the sizes measured, printed with the share
of the quadratic term in the fitted value at the largest N (the part a quadratic algorithm would show as it grows),
and the local exponent between the two largest sizes, ``log(y2 / y1) / log(N2 / N1)`` (1 for linear growth, 2 for
quadratic; below 1 where a fixed start-up cost still weighs).

The goals (issue 22): at N = 10,000 the table, Markdown and CSV forms within 5 CPU seconds and JSON and HTML
within 10 on this 2-core host, and time, memory and output size growing linearly. HTML is measured twice: the page
as ``report --format html`` makes it (the 1,000 most recently started runs plotted, the others listed with their
facts) and with every run plotted (``--plots all``, 188 MB at 10,000 runs), each against the 10 s. Each result is the
**headroom**, goal seconds over the CPU seconds measured at the largest N (met at 1 or more). The last result is the
**linear share**: one minus the largest quadratic share over every format and quantity (met at 0.9 or more: no
quadratic term makes up more than a tenth of any fitted value at the largest N).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchbase.run.request import default_cache_dir
from benchmarks.result import Figure, Result
from benchmarks.synthetic_runs import ensure_folders

NUMBER = 9
SIZES = (1_000, 2_500, 5_000, 10_000)
#: CPU seconds at the largest size, per format (issue 22, "Done when" 1).
GOALS_S = {"table": 5.0, "md": 5.0, "csv": 5.0, "json": 10.0, "html": 10.0, "html-all": 10.0}
FORMATS = tuple(GOALS_S)
#: The command-line arguments of each form measured: the HTML page as it is made by default (the 1,000 most recent
#: runs plotted, the others listed) and with every run plotted (``--plots all``), judged against the same goal.
ARGUMENTS = {**{fmt: ("--format", fmt) for fmt in GOALS_S if fmt != "html-all"},
             "html-all": ("--format", "html", "--plots", "all")}
#: The largest share of the quadratic term in any fitted value at the largest size that still counts as linear.
QUADRATIC_SHARE_LIMIT = 0.10


@dataclass(frozen=True)
class Measurement:
    """One ``benchbase report`` process: its CPU seconds, peak resident memory and output size."""

    cpu_s: float
    peak_rss_mb: float
    output_bytes: int


@dataclass(frozen=True)
class Fit:
    """``a + b*N + c*N^2`` by least squares, judged at ``at`` (the largest size measured)."""

    a: float
    b: float
    c: float
    at: int
    #: ``log(y2 / y1) / log(N2 / N1)`` between the two largest sizes.
    exponent: float

    def value(self, n: float) -> float:
        return self.a + self.b * n + self.c * n * n

    @property
    def quadratic_share(self) -> float:
        """The quadratic term's part of the fitted value at :attr:`at` (negative when the curve bends down)."""
        fitted = self.value(self.at)
        return self.c * self.at * self.at / fitted if fitted else 0.0


def fit(sizes: Sequence[int], values: Sequence[float]) -> Fit:
    """Least-squares ``a + b*N + c*N^2`` through the points (exact through three)."""
    n = np.asarray(sizes, dtype=float)
    design = np.column_stack([np.ones_like(n), n, n * n])
    (a, b, c), *_ = np.linalg.lstsq(design, np.asarray(values, dtype=float), rcond=None)
    low, high = values[-2], values[-1]
    exponent = math.log(high / low) / math.log(sizes[-1] / sizes[-2]) if low > 0 and high > 0 else math.nan
    return Fit(float(a), float(b), float(c), sizes[-1], exponent)


#: The child's own peak resident memory, written by the child as it exits: ``ru_maxrss`` of a child counts the
#: memory it had between fork and exec, that is, the parent's (264 MB under run_all, which has imported torch), while
#: the kernel's ``VmHWM`` belongs to the address space the exec made.
_CHILD = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["REPORT_SCALE_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
from benchbase.entry import main
main()
"""


def measure(fmt: str, folders: Sequence[Path], output: Path) -> Measurement:
    """Run ``benchbase report FOLDERS --format FMT --output OUTPUT`` in a fresh process and measure it alone."""
    command = [sys.executable, "-c", _CHILD, "report", *map(str, folders), *ARGUMENTS[fmt], "--output", str(output)]
    peak_file = output.with_name(output.name + ".peak")
    env = {**os.environ, "REPORT_SCALE_PEAK_FILE": str(peak_file)}
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time, not every child's so far
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        if child.returncode != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()
            raise AssertionError(f"benchbase report {' '.join(ARGUMENTS[fmt])} exited {child.returncode}: "
                                 f"{text[-500:]}")
    peak_kib = int(peak_file.read_text())
    return Measurement(usage.ru_utime + usage.ru_stime, peak_kib / 1024, output.stat().st_size)


def run(sizes: Sequence[int] = SIZES, formats: Sequence[str] = FORMATS, cache_root: Path | None = None) -> list[Result]:
    """Time every format at every size (ascending) and judge the largest against the goals."""
    sizes = sorted(sizes)
    root = cache_root or default_cache_dir() / "bench-report-scale"
    started = time.perf_counter()
    folders = ensure_folders(root, list(sizes))
    written_s = time.perf_counter() - started
    measured: dict[str, list[Measurement]] = {fmt: [] for fmt in formats}
    with tempfile.TemporaryDirectory(prefix="report-scale-") as scratch:
        for count, size in enumerate(sizes, start=1):
            for fmt in formats:
                measured[fmt].append(measure(fmt, folders[:count], Path(scratch) / f"report.{fmt}.out"))
    results = [_format_result(fmt, sizes, measured[fmt]) for fmt in formats]
    results.append(_linearity_result(sizes, measured, written_s))
    return results


def _fits(sizes: Sequence[int], runs: Sequence[Measurement]) -> dict[str, Fit]:
    return {
        "CPU s": fit(sizes, [m.cpu_s for m in runs]),
        "peak RSS MB": fit(sizes, [m.peak_rss_mb for m in runs]),
        "output MB": fit(sizes, [m.output_bytes / 1e6 for m in runs]),
    }


def _format_result(fmt: str, sizes: Sequence[int], runs: Sequence[Measurement]) -> Result:
    largest = runs[-1]
    goal = GOALS_S[fmt]
    notes = [
        "N runs:      " + "  ".join(f"{size:>8,}" for size in sizes),
        "CPU s:       " + "  ".join(f"{m.cpu_s:>8.2f}" for m in runs),
        "peak RSS MB: " + "  ".join(f"{m.peak_rss_mb:>8.0f}" for m in runs),
        "output MB:   " + "  ".join(f"{m.output_bytes / 1e6:>8.2f}" for m in runs),
    ]
    for name, found in _fits(sizes, runs).items():
        linear = "linear" if found.quadratic_share <= QUADRATIC_SHARE_LIMIT else "NOT linear"
        notes.append(f"{name} ~ {found.a:.3g} + {found.b:.3g}*N + {found.c:.3g}*N^2: quadratic share at "
                     f"{found.at:,} {found.quadratic_share:+.1%}, exponent {found.exponent:.2f} "
                     f"({sizes[-2]:,} to {sizes[-1]:,}): {linear}")
    figure = Figure("headroom", goal / largest.cpu_s,
                    f"goal {goal:g} CPU s / {largest.cpu_s:.2f} CPU s measured at {sizes[-1]:,} runs")
    return Result(NUMBER, f"report {' '.join(ARGUMENTS[fmt])} over {sizes[-1]:,} runs: CPU time within {goal:g} s", 1.0,
                  notes=tuple(notes), figure=figure)


def _linearity_result(sizes: Sequence[int], measured: dict[str, list[Measurement]], written_s: float) -> Result:
    shares = {(fmt, name): found.quadratic_share
              for fmt, runs in measured.items() for name, found in _fits(sizes, runs).items()}
    (worst_fmt, worst_name), worst = max(shares.items(), key=lambda item: item[1])
    figure = Figure("linear share", 1 - worst,
                    f"largest quadratic share {worst:+.1%}: {worst_name} of {' '.join(ARGUMENTS[worst_fmt])} at "
                    f"{sizes[-1]:,}")
    notes = (f"folders of {', '.join(f'{size:,}' for size in sizes)} runs; writing the ones not cached took "
             f"{written_s:.0f} s",)
    return Result(NUMBER, "report: time, memory and output size grow linearly in the runs", 1 - QUADRATIC_SHARE_LIMIT,
                  notes=notes, figure=figure)
