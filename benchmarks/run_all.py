"""``make bench``: run every benchmark, print each one's figures, then one line per result with its value (the median
pair ratio, or the GPU item's MFU), its 90% interval, the goal and the verdict (met, unsettled, NOT met).

``python -m benchmarks.run_all`` runs all of them; ``python -m benchmarks.run_all 2 4`` only those numbers.

The benchmark modules are imported only when they run. Besides keeping a partial run light, this matters for
benchmark 3: its worker processes are started with ``spawn``, which re-imports this main module in every worker,
and heavy imports here would be charged to the code under test.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback

from benchbase.errors import BenchbaseError
from benchmarks.result import Result

#: Benchmark number -> module; each module has ``run()`` returning a :class:`Result` or a list of them (benchmark 6:
#: the MFU figure and the GPU's side-by-side comparisons).
BENCHMARKS: dict[int, str] = {
    1: "benchmarks.harness_overhead",
    2: "benchmarks.model_speed",
    3: "benchmarks.data_prep",
    4: "benchmarks.metric_speed",
    5: "benchmarks.telemetry_overhead",
    6: "benchmarks.gpu",
    7: "benchmarks.long_record",
    8: "benchmarks.startup",
    9: "benchmarks.report_scale",
}


def machine_line() -> str:
    """What the figures were measured on, including how busy the machine was when the run began."""
    import torch
    from benchbase_cpu.facts import cpu_model_name

    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    return (f"{cpu_model_name()}, {cores} usable cores, torch {torch.__version__}, "
            f"Python {platform.python_version()}; load average at start {load:.2f}"
            + (" (other work was running: expect noise)" if load > 0.5 * cores else ""))


def run_one(number: int) -> list[Result] | None:
    """Run benchmark ``number`` and print its blocks; ``None`` (after printing why) when it failed."""
    started = time.perf_counter()
    try:
        returned: Result | list[Result] = importlib.import_module(BENCHMARKS[number]).run()
    except (BenchbaseError, AssertionError, ImportError, OSError) as exc:
        print(f"{number}. FAILED: {type(exc).__name__}: {exc}", flush=True)
        traceback.print_exc(file=sys.stderr)
        return None
    results = [returned] if isinstance(returned, Result) else list(returned)
    for result in results:
        print("\n".join(result.lines()), flush=True)
    print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def summary_lines(results: dict[int, list[Result] | None]) -> list[str]:
    """One line per result: value, 90% interval, goal and verdict."""
    lines = ["", f"{'benchmark':<66} {'value':>7}  {'90% interval':>15}  {'goal':>7}  verdict"]
    for number, listed in results.items():
        if listed is None:
            lines.append(f"{number}. {'(failed, see above)':<63} {'-':>7}  {'-':>15}  {'-':>7}  failed")
            continue
        for result in listed:
            title = result.title if len(result.title) <= 63 else result.title[:62] + "…"
            if result.value is None:
                lines.append(f"{number}. {title:<63} {'-':>7}  {'-':>15}  {'-':>7}  skipped")
                continue
            interval = result.interval
            span = (f"{interval.low:.3f} .. {interval.high:.3f}" if interval is not None and interval.defined
                    else "-")
            needed = result.pairs_to_settle()
            settle = f" (about {needed:,} pairs would settle it)" if needed is not None else ""
            lines.append(f"{number}. {title:<63} {result.value:>7.3f}  {span:>15}  >= {result.goal:<4g}  "
                         f"{result.verdict}{settle}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", type=int, metavar="N",
                        help=f"benchmarks to run (default: all of {', '.join(map(str, BENCHMARKS))})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.numbers) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark {', '.join(map(str, unknown))}; choose from {', '.join(map(str, BENCHMARKS))}")
    print(machine_line(), flush=True)
    started = time.perf_counter()
    results = {number: run_one(number) for number in sorted(set(args.numbers or BENCHMARKS))}
    print("\n".join(summary_lines(results)))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if any(result is None for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
