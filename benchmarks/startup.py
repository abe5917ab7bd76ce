"""Benchmark 8: the commands that neither train nor prepare, each from start to exit, against 0.5 s (issue 22).

Each command is the console script a user types, run in a fresh process: interpreter start, imports, every
installed plugin registering, the command's own work and exit. It runs once untimed (the page cache and the
``.pyc`` files warm), then :data:`ROUNDS` times; the figure is the median wall time, printed with its range and the
median CPU time of the process and its children (on a busy host the wall time moves with the load, the CPU time
much less). One number has no baseline, so it is judged on its own: the goal over the median, at least 1 when the
median is within the goal.

The commands run without ``PYTHONDONTWRITEBYTECODE``: with it set (as in some shells and CI images) the untimed
run writes no ``.pyc`` for the checkout's own modules, and every timed start compiles all of them again (about
0.1 s of CPU for a dry run here), which no installed copy does (pip compiles a wheel's modules when it installs it).

What the commands read is made first, untimed: the demo's data in the user's benchbase cache (a cache hit when any
run of the demo filled it) and one 12-step demo record for ``export mlperf`` and ``report``. ``--dry-run`` checks
that cached data as a run would (a cache hit: hashes and headers, no tokenizing), so it is counted here.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchmarks.harness_run import benchbase_command
from benchmarks.result import Figure, Result

NUMBER = 8
#: Seconds each command must finish within (issue 22, point 3).
GOAL_S = 0.5
ROUNDS = 5
#: ``RUN`` in a command stands for the short demo record, ``RUNS`` for its folder.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("list",),
    ("plugins",),
    ("env",),
    ("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run"),
    ("export", "mlperf", "RUN"),
    ("report", "RUNS"),
)


@dataclass(frozen=True)
class Timed:
    """One command's rounds: wall seconds and CPU seconds (the process and its children), in round order."""

    command: tuple[str, ...]
    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]


def bytecode_writing_env() -> dict[str, str]:
    """This process's environment, less ``PYTHONDONTWRITEBYTECODE`` (see the module's docstring)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def time_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``argv`` from start to exit; a command that fails stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=bytecode_writing_env())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchbaseError(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-300:]}",
                             "run that command by hand to see why")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def result_of(timed: Timed, goal_s: float = GOAL_S) -> Result:
    """The figure of one command: the goal over its median wall time (at least 1: within the goal)."""
    median = statistics.median(timed.wall_s)
    derivation = (f"median wall {median:.3f} s of {len(timed.wall_s)} runs, range {min(timed.wall_s):.3f} .. "
                  f"{max(timed.wall_s):.3f} s; median CPU {statistics.median(timed.cpu_s):.3f} s")
    return Result(NUMBER, f"`benchbase {' '.join(timed.command)}` within {goal_s:g} s", goal=1.0,
                  figure=Figure(f"{goal_s:g} s / median", goal_s / median, derivation))


def _record(script: list[str], out: Path) -> Path:
    """A 12-step demo run's record (the budget ends it before the target: exit 3), untimed."""
    argv = [*script, "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=12",
            "--set", "log_interval=2", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 3:
        raise BenchbaseError(f"the demo record for export and report ended with exit {done.returncode}",
                             f"run `{' '.join(argv)}` by hand to see why")
    (run,) = out.iterdir()
    return run


def run(rounds: int = ROUNDS) -> list[Result]:
    script = benchbase_command()
    with tempfile.TemporaryDirectory(prefix="benchbase-startup-") as scratch:
        prepared = subprocess.run([*script, "prepare", "cpm", "--preset", "demo"], capture_output=True, text=True,
                                  timeout=1800)
        if prepared.returncode != 0:
            raise BenchbaseError("preparing the demo's data failed", "run `benchbase prepare cpm --preset demo`")
        runs = Path(scratch) / "runs"
        record = _record(script, runs)
        results = []
        for command in COMMANDS:
            argv = [*script, *(str(record) if arg == "RUN" else str(runs) if arg == "RUNS" else arg
                               for arg in command)]
            time_once(argv)
            measured = [time_once(argv) for _ in range(rounds)]
            results.append(result_of(Timed(command, tuple(w for w, _ in measured), tuple(c for _, c in measured))))
    return results


if __name__ == "__main__":
    for item in run():
        print("\n".join(item.lines()))
