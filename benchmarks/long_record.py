"""Benchmark 7: one long record in bounded memory and linear time (issue 22, point 2).

A 4-hour official run on 8 devices with telemetry at 10 Hz leaves 1.15 M telemetry rows and about 1 M step events.
Its summary (written at every run's end, when a report settles an orphan, and by ``benchbase verify``), its HTML
report and its MLPerf export must each stream those files: memory bounded, time linear in the record's length.

This module writes a synthetic record of that shape at a fraction of its length (:func:`write_long_record`: steps,
evaluations, warm-ups, optionally two attempts, an energy counter per device), then times each of the three commands
in a fresh child process at several lengths and prints the child's CPU seconds and peak RSS (its own
``resource.getrusage`` and ``VmHWM``) with a least-squares line through them. Each child first runs its command once
on a record of a few hundred rows, which pays the start-up (imports, the plugin registry), and the CPU seconds of the
second run, on the measured record, are the command's work alone. The verdict: every peak under
:data:`MEMORY_GOAL_MB` and time linear: that work grows as the rows to a power of at most :data:`LINEAR_EXPONENT`
between the smallest and the largest size.

``python -m benchmarks.long_record`` runs the default sizes (1/32, 1/16 and 1/8 of the 4-hour record: a factor of
four between the smallest and the largest, as before, at half the time, so ``make bench`` fits in ten minutes);
``--full`` adds the 4-hour record itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.result import Figure, Result

NUMBER = 7
TITLE = "One long record: summary, HTML report and MLPerf export stream it"
#: The peak RSS every command must stay under at the 4-hour size.
MEMORY_GOAL_MB = 300.0
#: The largest growth exponent of CPU time (above start-up) in the rows that counts as linear: quadratic time
#: gives 2, and the noise of a shared 2-core host moves a linear command's exponent by about a tenth.
LINEAR_EXPONENT = 1.25
#: The record each child runs its command on first, paying the start-up before the measured run: a few hundred rows.
START_UP_FRACTION = 1 / 4000
#: The full record: 4 hours, 8 devices, telemetry at 10 Hz, 1 M step events.
FULL_HOURS, FULL_DEVICES, FULL_STEPS, HZ = 4.0, 8, 1_000_000, 10
DEFAULT_FRACTIONS = (1 / 32, 1 / 16, 1 / 8)
START_MS = 1_796_000_000_000.0
GLOBAL_BATCH = 64
COMMANDS = ("summary", "html", "mlperf")


@dataclass(frozen=True)
class Shape:
    """A synthetic record's length: its training time, devices and step events, and whether it was resumed."""

    hours: float
    devices: int
    steps: int
    resumed: bool = False
    evals: int = 40

    @classmethod
    def fraction(cls, share: float, resumed: bool = False) -> Shape:
        return cls(FULL_HOURS * share, FULL_DEVICES, max(1, round(FULL_STEPS * share)), resumed)


def write_long_record(folder: Path, shape: Shape, seed: int = 7) -> Path:
    """A complete run folder (events, telemetry, config, env, summary) of ``shape``; returns it.

    Everything is written as it is generated, so generating the 4-hour record costs no more memory than reading it.
    The summary is built by benchbase itself, as a run's end does."""
    from benchbase.record.rundir import RunDir
    from benchbase.record.summary import build_summary

    folder.mkdir(parents=True)
    rng = random.Random(seed)
    launch_ms = START_MS
    train_start = launch_ms + 5_000.0
    total_ms = shape.hours * 3_600_000
    gap_ms = 60_000.0 if shape.resumed else 0.0
    attempts = _attempts(train_start, total_ms, gap_ms, shape.resumed)
    end_ms = attempts[-1][1]
    step_ms = total_ms / shape.steps
    eval_every = max(1, shape.steps // shape.evals)
    warmup_steps = max(1, min(200, shape.steps // 20))
    evals, warmups, peak = [], [], 0.0
    with open(folder / "events.jsonl", "w", encoding="utf-8") as events:
        def emit(time_ms: float, key: str, value: object = None, step: int | None = None,
                 samples: int | None = None, rank: int | None = 0, **metadata: object) -> None:
            events.write(json.dumps({"time_ms": time_ms, "key": key, "value": value, "rank": rank, "step": step,
                                     "samples": samples, "metadata": metadata}) + "\n")

        emit(launch_ms, "launch", rank=None)
        emit(launch_ms + 1_000, "run_start", "synthetic", world_size=shape.devices, global_batch=GLOBAL_BATCH,
             flops_per_sample=3.1e12, target=0.99, precision="fp32", threads={"policy": [1] * shape.devices,
                                                                              "used": [1] * shape.devices})
        emit(launch_ms + 4_000, "init_stop", 3.0)
        step = 0
        for index, (begin, end) in enumerate(attempts):
            if index:
                step = step // 2  # the second attempt resumes from a checkpoint half-way and redoes the rest
                emit(begin, "resume", step=step, samples=step * GLOBAL_BATCH)
            steps_here = shape.steps // len(attempts)
            warmups.append([begin, begin + warmup_steps * step_ms])
            t = begin
            for _ in range(steps_here):
                step += 1
                t += step_ms
                loss = 2.0 + 6.0 * math.exp(-3 * step / shape.steps) + rng.gauss(0, 0.05)
                emit(round(t, 3), "step", loss, step, step * GLOBAL_BATCH, samples_per_s=GLOBAL_BATCH * 1000 / step_ms
                     * (1 + rng.gauss(0, 0.02)), lr=1e-4)
                if step % eval_every == 0:
                    eval_end = t + min(step_ms * eval_every / 10, 20_000)
                    evals.append([t, eval_end])
                    metric = 0.6 + 0.4 * step / shape.steps
                    emit(round(eval_end, 3), "eval", metric, step, step * GLOBAL_BATCH, start_ms=t, end_ms=eval_end,
                         eval_samples=512, extras={"token_accuracy": metric / 2, "eval_loss": 3 - metric})
            attempts[index] = (begin, max(end, t))
        end_ms = attempts[-1][1]
        steady_samples = step * GLOBAL_BATCH - warmup_steps * GLOBAL_BATCH * len(attempts)
        emit(end_ms, "train_stop", step=step, samples=step * GLOBAL_BATCH)
        train_s = sum(end - begin for begin, end in attempts) / 1000
        eval_s = sum(end - begin for begin, end in evals) / 1000
        emit(end_ms + 1, "windows", {"init_s": 3.0, "train_s": train_s, "eval_s": eval_s,
                                     "core_s": train_s - eval_s, "whole_s": train_s, "events_cpu_s": 12.5},
             train_start_ms=attempts[0][0], train_end_ms=end_ms, attempts_ms=[list(a) for a in attempts],
             eval_intervals_ms=evals, warmup_intervals_ms=warmups,
             warmup_samples=warmup_steps * GLOBAL_BATCH * len(attempts))
        emit(end_ms + 2, "run_stop", "not_converged")
    with open(folder / "telemetry.csv", "w", encoding="utf-8") as telemetry:
        telemetry.write("time_ms,node,device,power_w,energy_j,memory_used_gib,memory_total_gib,utilization_pct,"
                        "temperature_c,clock_mhz,rss_gib\n")
        energy = [1e6 * (device + 1) for device in range(shape.devices)]
        t, tick = launch_ms, 1000 / HZ
        while t <= end_ms + 3_000:
            training = any(begin <= t <= end for begin, end in attempts)
            for device in range(shape.devices):
                power = (300.0 if training else 80.0) + rng.gauss(0, 5) + device
                energy[device] += power * tick / 1000
                memory = (30.0 + rng.random()) if training else 2.0
                peak = max(peak, memory)
                telemetry.write(f"{t!r},0,{device},{power:.2f},{energy[device]:.3f},{memory:.3f},80.0,"
                                f"{97 if training else 2},{55 + device},1980,{3.5 + rng.random():.3f}\n")
            t += tick + rng.choice((0.0, 0.0, 0.0, 1.0))
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "values": {"case": "cpm", "preset": "official", "telemetry_interval_s": 1 / HZ, "lr": 1e-4, "warmup": 0.01,
                   "max_steps": shape.steps, "weight_decay": 0.01, "grad_accum": 1, "seq_length": 1024},
        "sources": {}, "official": True, "config_hash": "sha256:" + "0" * 64, "vendor_file": None,
    }), encoding="utf-8")
    (folder / "env.json").write_text(json.dumps({
        "host": {"hostname": "long-01", "cpu_count_logical": 64, "affinity": 64, "packages": {"torch": "2.13.0"}},
        "launch": {"nproc_per_node": shape.devices, "bindings": [], "threads": [8] * shape.devices},
        "local_devices": list(range(shape.devices)),
        "prepare": {"facts": {"train": {"windows": 1_000_000}, "valid": {"windows": 512}}},
    }), encoding="utf-8")
    base = {"run_id": folder.name, "case": "cpm", "preset": "official", "vendor": "nvidia", "official": True,
            "status": "not_converged", "reason": "max_steps reached", "started_at": "2026-12-07T08:00:00Z",
            "ended_at": "2026-12-07T12:00:00Z", "nnodes": 1, "nproc_per_node": shape.devices,
            "world_size": shape.devices, "node_rank": 0, "seed": 1234, "device_model": "Synthetic X100",
            "precision": "fp32", "per_device_batch": GLOBAL_BATCH // shape.devices, "grad_accum": 1,
            "metric_name": "embedding_average", "target": 0.99, "peak_flops_per_device": 1e15,
            "e2e_s": (end_ms - launch_ms) / 1000 + 5, "supervisor_cpu_s": 40.0, "config_hash": "sha256:" + "0" * 64}
    run_dir = RunDir(folder)
    run_dir.write_summary(build_summary(run_dir, base))
    return folder


def _attempts(start: float, total_ms: float, gap_ms: float, resumed: bool) -> list[tuple[float, float]]:
    if not resumed:
        return [(start, start + total_ms)]
    half = total_ms / 2
    return [(start, start + half), (start + half + gap_ms, start + total_ms + gap_ms)]


# ---------------------------------------------------------------------------------------------------------------
# timing each command in a child process
# ---------------------------------------------------------------------------------------------------------------

#: The command line's own entry point, as the ``benchbase`` script runs it; a non-zero exit fails the measurement.
_CLI = (
    "from benchbase.cli import main\n"
    "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
)
_CHILD = {
    "summary": (
        "from benchbase.record.rundir import RunDir\n"
        "from benchbase.record.summary import build_summary\n"
        "from benchbase.verify.figures import supervisor_fields\n"
        "run_dir = RunDir(RUN)\n"
        "build_summary(run_dir, supervisor_fields(run_dir.read_summary()))\n"
    ),
    "html": (
        "sys.argv = ['benchbase', 'report', str(RUN.parent), '--format', 'html', '--output', str(OUT / 'r.html')]\n"
        + _CLI
    ),
    "mlperf": (
        "sys.argv = ['benchbase', 'export', 'mlperf', str(RUN), '--output', str(OUT / 'mlperf.txt')]\n" + _CLI
    ),
}


@dataclass(frozen=True)
class Measured:
    """One command over one record: the child's CPU seconds (start-up included), the CPU seconds of the command's
    work alone (its second run in the child, after one on the start-up record) and the child's peak resident
    memory."""

    command: str
    rows: int
    cpu_s: float
    peak_mb: float
    work_s: float

    @property
    def start_up_s(self) -> float:
        """What the child spent before the measured run: the interpreter, the imports and the start-up record."""
        return self.cpu_s - self.work_s


def measure(command: str, run: Path, out: Path, start_up: Path) -> Measured:
    """``command`` over the record ``run`` in a fresh Python process, after one run of it over the record
    ``start_up``; the CPU time and peak RSS the kernel accounts to that process, read by the child as it ends: CPU
    from ``getrusage(RUSAGE_SELF)``, in all and across the second run, the peak from ``VmHWM`` in
    ``/proc/self/status``. Not ``ru_maxrss``: Linux keeps it across ``exec``, so it counted the parent's memory at
    the fork (264 MB under ``run_all``, which has imported torch), and every command's peak read as 270 MB or more.

    Why the first run: a command's start-up (0.3-0.5 CPU s here) is as large as its work at the smaller sizes, so
    the work cannot be told from a total by subtracting a start-up measured in another process: a difference of
    0.1 s between two processes' start-ups bent the export's exponent from 1.0 to 1.28 (benchmarks/README.md,
    section 7)."""
    code = (f"import sys\nfrom pathlib import Path\nOUT = Path({str(out)!r})\nimport resource\n"
            "def cpu():\n    used = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    return used.ru_utime + used.ru_stime\n"
            "def command(RUN):\n" + textwrap.indent(_CHILD[command], "    ")
            + f"command(Path({str(start_up)!r}))\nbefore = cpu()\ncommand(Path({str(run)!r}))\nafter = cpu()\n"
            "with open('/proc/self/status') as status:\n"
            "    peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
            "print('RUSAGE', after, after - before, peak)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    usage = [line.split() for line in done.stdout.splitlines() if line.startswith("RUSAGE ")]
    if done.returncode != 0 or not usage:
        raise AssertionError(f"{command} failed on {run}: {done.stderr.strip()[-800:]}")
    _, cpu, work, peak_kib = usage[-1]
    return Measured(command, _telemetry_rows(run), float(cpu), float(peak_kib) / 1024, float(work))


def _telemetry_rows(run: Path) -> int:
    with open(run / "telemetry.csv", "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b * x``: ``(a, b)``."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def growth_exponent(small: Measured, large: Measured) -> float:
    """``k`` in ``work = c * rows ** k`` through the smallest and the largest size, the work measured without the
    start-up (:func:`measure`): 1 for linear time, 2 for quadratic; ``inf`` when the smallest size took no measurable
    time or the sizes are not in order."""
    if small.work_s <= 0 or large.work_s <= 0 or large.rows <= small.rows:
        return math.inf
    return math.log(large.work_s / small.work_s) / math.log(large.rows / small.rows)


def run(fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Result:
    """Each command at each size, after a run on a record of :data:`START_UP_FRACTION` in the same child; the fits
    and the verdict."""
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        start_up = write_long_record(Path(tmp) / "start-up" / "runs" / "long", Shape.fraction(START_UP_FRACTION))
        measured: list[Measured] = []
        for index, share in enumerate(sorted(fractions)):
            root = Path(tmp) / f"size{index}"
            started = time.perf_counter()
            record = write_long_record(root / "runs" / f"long-{index}", Shape.fraction(share))
            print(f"   size {share:.4g} of 4 h: record written in {time.perf_counter() - started:.0f} s", flush=True)
            measured.extend(measure(command, record, root, start_up) for command in COMMANDS)
    return _result(measured, fractions)


def _result(measured: list[Measured], fractions: Sequence[float]) -> Result:
    notes, worst_exponent, worst_peak = [], -math.inf, 0.0
    full_rows = FULL_DEVICES * HZ * FULL_HOURS * 3600
    for command in COMMANDS:
        points = [m for m in measured if m.command == command]
        rows = [float(m.rows) for m in points]
        notes.append(f"{command:7s} start-up (interpreter, imports, one run on a record of a few hundred rows), "
                     f"median of {len(points)}: {statistics.median(m.start_up_s for m in points):.2f} CPU s")
        for m in points:
            notes.append(f"{command:7s} {m.rows:>9,} rows: {m.cpu_s:6.2f} CPU s ({m.work_s:5.2f} s of it the "
                         f"command's work), peak RSS {m.peak_mb:6.0f} MB")
        cpu_a, cpu_b = fit(rows, [m.cpu_s for m in points])
        mem_a, mem_b = fit(rows, [m.peak_mb for m in points])
        exponent = growth_exponent(points[0], points[-1])
        projected_mb = mem_a + mem_b * full_rows
        worst_exponent = max(worst_exponent, exponent)
        worst_peak = max(worst_peak, max(m.peak_mb for m in points), projected_mb if max(fractions) < 1 else 0.0)
        notes.append(f"{command} fit: CPU s = {cpu_a:.2f} + {cpu_b * 1e6:.2f} us/row; peak MB = {mem_a:.0f} + "
                     f"{mem_b * 1e3:.3f} KB/row (at 4 h: {cpu_a + cpu_b * full_rows:.0f} CPU s, {projected_mb:.0f} "
                     f"MB); the work grows as rows^{exponent:.2f}")
    bounded = worst_peak < MEMORY_GOAL_MB
    linear = worst_exponent <= LINEAR_EXPONENT
    notes.append(f"verdict: peak RSS (measured or projected to 4 h) {worst_peak:.0f} MB, "
                 f"{'under' if bounded else 'NOT under'} {MEMORY_GOAL_MB:.0f} MB; time "
                 f"{'linear' if linear else 'NOT linear'} (largest exponent {worst_exponent:.2f}, at most "
                 f"{LINEAR_EXPONENT} counts as linear)")
    return Result(NUMBER, TITLE, goal=1.0, notes=tuple(notes),
                  figure=Figure("bounded and linear (1 = yes)", float(bounded and linear),
                                "every command's peak RSS under 300 MB at 4 h, CPU time linear in the rows"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--full", action="store_true", help="add the 4-hour record itself (minutes)")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(DEFAULT_FRACTIONS),
                        help="sizes as shares of the 4-hour record")
    args = parser.parse_args(argv)
    fractions = [*args.fractions, *([1.0] if args.full else [])]
    print(f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    result = run(fractions)
    print("\n".join(result.lines()))
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
