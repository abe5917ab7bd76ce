"""``make bench``: run every benchmark, print each one's figures, then one line per benchmark with its value (a ratio,
or the GPU item's MFU) and goal.

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

#: Benchmark number -> module; each module has ``run() -> Result``.
BENCHMARKS: dict[int, str] = {
    1: "benchmarks.harness_overhead",
    2: "benchmarks.model_speed",
    3: "benchmarks.data_prep",
    4: "benchmarks.metric_speed",
    5: "benchmarks.telemetry_overhead",
    6: "benchmarks.gpu",
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


def run_one(number: int) -> Result | None:
    """Run benchmark ``number`` and print its block; ``None`` (after printing why) when it failed."""
    started = time.perf_counter()
    try:
        result: Result = importlib.import_module(BENCHMARKS[number]).run()
    except (BenchbaseError, AssertionError, ImportError, OSError) as exc:
        print(f"{number}. FAILED: {type(exc).__name__}: {exc}", flush=True)
        traceback.print_exc(file=sys.stderr)
        return None
    print("\n".join(result.lines()), f"   ({time.perf_counter() - started:.0f} s)", sep="\n", flush=True)
    return result


def summary_lines(results: dict[int, Result | None]) -> list[str]:
    """One line per benchmark: value, goal and verdict."""
    lines = ["", f"{'benchmark':<66} {'value':>7}  {'goal':>7}  verdict"]
    for number, result in results.items():
        if result is None:
            lines.append(f"{number}. {'(failed, see above)':<63} {'-':>7}  {'-':>7}  failed")
        elif result.value is None:
            lines.append(f"{number}. {result.title:<63} {'-':>7}  {'-':>7}  skipped")
        else:
            lines.append(f"{number}. {result.title:<63} {result.value:>7.3f}  >= {result.goal:<4g}  {result.verdict}")
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
