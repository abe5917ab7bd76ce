"""One real ``benchbase run`` of the CPM demo, as a user starts it, with a fixed step budget.

The harness benchmarks measure the command a user types, not an in-process imitation of it: the supervisor, its
telemetry thread, the worker process, the core trainer with its input pipeline, the event log and the timing windows
all run. The budget is made exact so runs are comparable: the target is set out of reach (1.01, allowed with
``--unofficial``) so a run never stops early, and the evaluation interval is set beyond the budget so only the
evaluations before and after training happen (both are outside the train window, so this changes no throughput
figure, only the wall time spent).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchbase.errors import BenchbaseError
from benchbase.record.events import read_events
from benchmarks.stats import MIN_PAIRS as MIN_PAIRS

#: An Embedding Average cannot exceed 1, so this target keeps every run going to its step budget.
UNREACHABLE_TARGET = 1.01
#: Far beyond any step budget used here: no evaluation between the first and the last.
NO_MIDWAY_EVAL_SAMPLES = 10**9
#: Optimizer steps of every measured run: 58 timed, about 1.4 s of training at the demo preset's speed on a quiet
#: 2-core host (about 23 ms a step). Both arms leave the run's warm-up steps (``warmup_steps``, 2) out of the window,
#: where any one-time costs fall (the optimizer's state, the allocator's growth), so every step timed is a steady one
#: and the expected ratio does not depend on the count; a run's fixed costs (start-up, evaluations, summary: about 8 s of each
#: ``benchbase run``, 5 of each bare loop) are outside both windows. 60 rather than the earlier 200 keeps ``make
#: bench`` under ten minutes with room to spare (benchmarks/README.md, "How long it takes").
STEPS = 60
#: Pairs of the harness benchmarks: up to eight, but once the five a 90% interval needs are done no pair starts that
#: would end past this many seconds. A quiet 2-core host fits five pairs (about 17 s each at 60 steps, 13 s of it
#: the runs' fixed costs), and no sixth; a busy one still gets five.
PAIRS = 8
BUDGET_S = 70.0
#: Steps of the unrecorded first run, which pays the data preparation on a cold cache and reports what was trained.
PREPARATION_STEPS = 5


@dataclass(frozen=True)
class HarnessRun:
    """What one run recorded: its train-window throughput and what it trained (for the bare loop to repeat)."""

    p_train: float
    steps: int
    values: dict[str, Any]
    prepared: dict[str, Any]
    #: The summary's ``telemetry`` object: the sampler's rate and its own CPU time.
    telemetry: dict[str, Any] = field(default_factory=dict)


def benchbase_command() -> list[str]:
    """The ``benchbase`` console script installed beside this Python (``make bench`` does not put it on PATH)."""
    script = Path(sys.executable).with_name("benchbase")
    if not script.is_file():
        raise BenchbaseError(f"no benchbase command beside {sys.executable}",
                             "install the project first (make install)")
    return [str(script)]


def run_demo(steps: int, sets: Mapping[str, Any] | None = None) -> HarnessRun:
    """``benchbase run cpm --vendor cpu --preset demo`` for exactly ``steps`` optimizer steps, in a scratch folder.

    The prepared data comes from the user's benchbase cache, as for any run: the first call pays the preparation,
    every later one is a cache hit outside the timed windows.
    """
    record = run_budgeted(["--vendor", "cpu", "--preset", "demo"], steps, sets)
    if record.summary["status"] != "not_converged" or record.summary["steps"] != steps:
        raise BenchbaseError(
            f"benchbase run ended {record.summary['status']} after {record.summary['steps']} of {steps} steps: "
            f"{record.failure}",
            "run `benchbase run cpm --vendor cpu --preset demo` by hand to see the failure",
        )
    return HarnessRun(
        p_train=float(record.summary["throughput"]["p_train"]),
        steps=int(record.summary["steps"]),
        values=record.values,
        prepared=record.prepared,
        telemetry=dict(record.summary.get("telemetry") or {}),
    )


@dataclass(frozen=True)
class RecordedRun:
    """What a finished ``benchbase run`` left in its record, read before the scratch folder goes."""

    summary: dict[str, Any]
    values: dict[str, Any]
    prepared: dict[str, Any]
    failure: str
    #: The run's events (``events.jsonl``), in order.
    events: tuple[dict[str, Any], ...] = ()

    def event(self, key: str) -> dict[str, Any] | None:
        """The last event named ``key``, or ``None``."""
        return next((e for e in reversed(self.events) if e.get("key") == key), None)


def run_budgeted(arguments: Sequence[str], steps: int, sets: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None) -> RecordedRun:
    """``benchbase run cpm ARGUMENTS`` for at most ``steps`` optimizer steps with the target out of reach and no
    evaluation between the first and the last, in a scratch folder; whatever status it ends with. ``env`` adds
    variables to the command's environment."""
    overrides = {
        "max_steps": steps,
        "target": UNREACHABLE_TARGET,
        "eval_interval_samples": NO_MIDWAY_EVAL_SAMPLES,
        **(sets or {}),
    }
    with tempfile.TemporaryDirectory(prefix="benchbase-bench-") as scratch:
        out = Path(scratch)
        command = [*benchbase_command(), "run", "cpm", *arguments, "--unofficial", "--out", str(out)]
        for key, value in overrides.items():
            command += ["--set", f"{key}={value}"]
        finished = subprocess.run(command, capture_output=True, text=True, check=False,
                                  env={**os.environ, **env} if env else None)
        runs = [path for path in out.iterdir() if path.is_dir()]
        if len(runs) != 1:
            raise BenchbaseError(f"benchbase run left no run record: {_tail(finished.stdout + finished.stderr)}",
                                 f"run `benchbase run cpm {' '.join(arguments)}` by hand to see the failure")
        return _read_record(runs[0])


@functools.cache
def prepare() -> HarnessRun:
    """A short unrecorded run: it fills the data cache (outside any timed window, but not free) and tells the bare
    loop which config and prepared files to repeat. Once per process: benchmarks 1 and 5 train the same demo, so
    under ``run_all`` the second reuses the first's (a run of about 7 s)."""
    return run_demo(PREPARATION_STEPS)


def _read_record(run_dir: Path) -> RecordedRun:
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    env = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))
    log = run_dir / "logs" / "rank0.log"
    failure = _tail(log.read_text(encoding="utf-8")) if log.is_file() else str(summary.get("reason"))
    events = tuple(read_events(run_dir / "events.jsonl")) if (run_dir / "events.jsonl").is_file() else ()
    return RecordedRun(summary, dict(config["values"]), dict(env.get("prepare") or {}), failure, events)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"
