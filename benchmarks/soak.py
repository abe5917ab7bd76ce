"""``make soak``: one long CPM demo run, then a check that the harness neither leaks memory nor drops telemetry.

``python -m benchmarks.soak`` runs 20 minutes; ``--minutes 4`` tries it short (the shortest run that leaves a
warm-up and two one-minute windows). The run is the ordinary command a user types, so the figures cover the
supervisor, its telemetry thread, the worker process, the event log and the evaluations. To keep it training for
the whole period, the target is set out of reach (1.01, allowed with ``--unofficial``), the step budget is raised
beyond reach, and the run's own ``--timeout`` ends it (status ``timeout`` is the expected end). Warm-up and decay
of the learning rate are fractions of the step budget, so with that budget the warm-up is set to 0: the model then
trains at the preset's peak rate, as it does mid-run, instead of creeping up from nothing for the whole soak.

Both figures come from the run's own record, never from a side channel:

* host memory: the ``rss_gib`` column of ``telemetry.csv`` (all of the run's processes). Growth is the median over
  the last window against the median over the first window after warm-up, so a single evaluation's spike moves
  neither end. Pass: under 5 %.
* telemetry rate: rows of one device per second between the first and the last row, against the configured rate
  (``telemetry_interval_s``). Pass: within 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbase.config.resolve import ResolvedConfig
from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.record.telemetry_file import read_telemetry

#: An Embedding Average cannot exceed 1: the run trains until its timeout.
UNREACHABLE_TARGET = 1.01
RSS_GROWTH_LIMIT_PCT = 5.0
RATE_TOLERANCE_PCT = 5.0
#: Warm-up (model built, first evaluations, allocator settled) and the length of each comparison window: this
#: fraction of the run, but never under a minute, so that each window spans several evaluation cycles.
WINDOW_FRACTION = 0.1
MIN_WINDOW_S = 60.0


@dataclass(frozen=True)
class SoakFigures:
    """What the soak measured; ``passed`` is the verdict against the two limits."""

    duration_s: float
    warmup_s: float
    window_s: float
    baseline_rss_gib: float
    final_rss_gib: float
    peak_rss_gib: float
    rows_per_s: float
    set_rows_per_s: float
    max_gap_s: float

    @property
    def rss_growth_pct(self) -> float:
        return (self.final_rss_gib - self.baseline_rss_gib) / self.baseline_rss_gib * 100.0

    @property
    def rate_error_pct(self) -> float:
        return (self.rows_per_s / self.set_rows_per_s - 1.0) * 100.0

    @property
    def memory_ok(self) -> bool:
        return self.rss_growth_pct < RSS_GROWTH_LIMIT_PCT

    @property
    def rate_ok(self) -> bool:
        return abs(self.rate_error_pct) <= RATE_TOLERANCE_PCT

    @property
    def passed(self) -> bool:
        return self.memory_ok and self.rate_ok

    def lines(self) -> list[str]:
        def verdict(ok: bool) -> str:
            return "pass" if ok else "FAIL"

        return [
            f"{self.duration_s / 60:.1f} min from the first step to the end; warm-up {self.warmup_s:.0f} s; "
            f"windows of {self.window_s:.0f} s",
            f"host RSS (rss_gib): {self.baseline_rss_gib:.3f} GiB after warm-up -> {self.final_rss_gib:.3f} GiB at "
            f"the end, peak {self.peak_rss_gib:.3f} GiB: growth {self.rss_growth_pct:+.2f} % "
            f"(limit {RSS_GROWTH_LIMIT_PCT:.0f} %) {verdict(self.memory_ok)}",
            f"telemetry: {self.rows_per_s:.4f} rows/s per device against the set {self.set_rows_per_s:.4f} "
            f"({self.rate_error_pct:+.2f} %, limit +-{RATE_TOLERANCE_PCT:.0f} %), longest gap {self.max_gap_s:.2f} s "
            f"{verdict(self.rate_ok)}",
            f"soak: {verdict(self.passed)}",
        ]


def _median_rss(rows: list[dict[str, Any]], start_ms: float, end_ms: float) -> float:
    values = [r["rss_gib"] for r in rows if start_ms <= r["time_ms"] <= end_ms and r["rss_gib"] is not None]
    if len(values) < 3:
        raise ValueError(f"only {len(values)} rss_gib readings between {start_ms:.0f} and {end_ms:.0f} ms")
    return statistics.median(values)


def analyse(rows: list[dict[str, Any]], interval_s: float, train_start_ms: float) -> SoakFigures:
    """Figures from one device's telemetry rows (node 0, device 0) of a run whose training began at
    ``train_start_ms``; raises ValueError when the run was too short to have a window after its warm-up."""
    device = sorted((r for r in rows if r["node"] == 0 and r["device"] == 0), key=lambda r: r["time_ms"])
    if len(device) < 3:
        raise ValueError(f"only {len(device)} telemetry rows")
    end_ms = device[-1]["time_ms"]
    duration_s = (end_ms - train_start_ms) / 1000.0
    window_s = max(MIN_WINDOW_S, WINDOW_FRACTION * duration_s)
    warmup_end_ms = train_start_ms + window_s * 1000.0
    if duration_s < 3 * window_s:
        raise ValueError(f"{duration_s:.0f} s of training is too short for warm-up and two {window_s:.0f} s windows")
    times = [r["time_ms"] for r in device]
    gaps = [(b - a) / 1000.0 for a, b in zip(times, times[1:])]
    after = [r for r in device if r["time_ms"] >= warmup_end_ms and r["rss_gib"] is not None]
    return SoakFigures(
        duration_s=duration_s,
        warmup_s=window_s,
        window_s=window_s,
        baseline_rss_gib=_median_rss(device, warmup_end_ms, warmup_end_ms + window_s * 1000.0),
        final_rss_gib=_median_rss(device, end_ms - window_s * 1000.0, end_ms),
        peak_rss_gib=max(r["rss_gib"] for r in after),
        rows_per_s=(len(times) - 1) / ((times[-1] - times[0]) / 1000.0),
        set_rows_per_s=1.0 / interval_s,
        max_gap_s=max(gaps),
    )


def figures_of(run: Path) -> SoakFigures:
    """Read a finished soak run's record and measure it."""
    record = RunDir(run)
    interval_s = ResolvedConfig.from_record(record.read_config()).core.telemetry_interval_s
    steps = [e for e in read_events(record.events_path) if e["key"] == "step"]
    if not steps:
        raise ValueError(f"{run} recorded no training step")
    return analyse(read_telemetry(record.telemetry_path), interval_s, steps[0]["time_ms"])


def soak_command(minutes: float, interval_s: float, out: Path) -> list[str]:
    return [
        sys.executable, "-c", "from benchbase.cli import main; main()",
        "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--unofficial",
        "--set", f"target={UNREACHABLE_TARGET}", "--set", "max_steps=1000000000", "--set", "warmup=0",
        "--set", f"telemetry_interval_s={interval_s}", "--timeout", str(minutes * 60), "--out", str(out),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the run (default 20)")
    parser.add_argument("--interval", type=float, default=1.0, help="telemetry interval in seconds (default 1)")
    parser.add_argument("--out", type=Path, default=Path("reports") / "runs" / "soak", help="runs folder")
    parser.add_argument("--analyse", type=Path, metavar="RUN_DIR", help="only measure an existing soak run")
    args = parser.parse_args(argv)
    if args.analyse is not None:
        run = args.analyse
    else:
        before = set(args.out.iterdir()) if args.out.is_dir() else set()
        print(f"soak: {args.minutes:g} min CPM demo run on the CPU, telemetry every {args.interval:g} s", flush=True)
        code = subprocess.run(soak_command(args.minutes, args.interval, args.out), check=False).returncode
        new = sorted(set(args.out.iterdir()) - before) if args.out.is_dir() else []
        if code not in (0, 3, 5) or len(new) != 1:
            print(f"soak: the run did not finish normally (exit code {code})", file=sys.stderr)
            return 2
        run = new[0]
    try:
        figures = figures_of(run)
    except ValueError as exc:
        print(f"soak: cannot measure {run}: {exc}", file=sys.stderr)
        return 2
    print(f"run: {run}")
    print("\n".join(figures.lines()))
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
