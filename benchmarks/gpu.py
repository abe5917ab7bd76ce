"""Benchmark 6: MFU of CPM medium on one GPU, bf16, at the largest batch that fits. Needs a CUDA device.

The measured run is the real command: ``benchbase run cpm --vendor nvidia --config 1x1`` on the official preset
(CPM medium, seq 200, the real CPM tokenizer), changed with ``--unofficial`` only where measuring MFU needs it:
precision bf16; activation checkpointing off, because recomputing the forward is work MFU does not count; the
target out of reach and evaluation only before and after training, so every run trains its full step budget; the
batch. MFU is the run's own summary figure: p_train x 411.05 GFLOP per sample (:mod:`benchbase_cpm.flops`) / the
vendor's peak bf16 FLOP/s for the device (dense, from the datasheet). The same run's telemetry (NVML on an NVIDIA
device) gives the printed mean power and energy per sample, so one run checks the vendor, bf16 autocast, the
sensors and MFU together.

Data: ``STC.json`` is generated with the demo corpus's pair generator in STC's layout, and the weights are random
(no checkpoint). What is trained does not change the work of a step: every window is 200 tokens, padded, and the
model computes all of them.

"The largest batch that fits": batch sizes are tried from the largest down; a run that fails because the device ran
out of memory moves on to the next size, any other failure stops the benchmark.

Then, at that batch, the harness against the bare loop on the GPU, eager and compiled (``--set compile=off|on``;
the bare loop compiles its model with ``torch.compile`` alike): paired, interleaved runs of ``benchbase run`` and
:mod:`benchmarks.bare_loop` (``device: cuda``), each judged like benchmark 1 (median pair ratio, 90% interval,
goal 0.98). Both arms are timed over the same steps: from the end of the first log interval (the first steps grow
the allocator's pool and, compiled, compile the model, once per process) to the end of the run. For the harness
that is read from its record, the samples and times of its first and last ``step`` events (each written right
after the log point's device synchronise); the bare loop synchronises at the same two steps.

Syncs per step: an extra, unrecorded pair before the timed ones counts the synchronisations in each arm's training
loop with torch's GPU trace (:mod:`benchmarks.syncs`): in the bare loop from its first step to its last, in the
harness's worker (through ``sync_probe/sitecustomize.py``) inside the train window outside its evaluations. These
are torch's own reports of device, stream and event synchronisations, the waits ``.item()`` and blocking copies
cause included; implicit waits of ``cudaMalloc`` and syncs inside other libraries are not counted.

This module was written on a CPU-only machine: its search, its data, its side-by-side bookkeeping (with stand-in
runners) and the sync counter's hooks are tested there; the GPU runs themselves only where a GPU is present.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.demo_corpus import generate_pair
from benchmarks.data_prep import real_tokenizer
from benchmarks.harness_overhead import bare_loop
from benchmarks.harness_run import RecordedRun, run_budgeted
from benchmarks.result import Figure, Result
from benchmarks.stats import MIN_PAIRS
from benchmarks.syncs import PROBE_DIR, PROBE_ENV, per_step_text, read_probe, syncs_in_train_loop
from benchmarks.timing import compare

TITLE = "GPU: MFU of CPM medium, 1x1, bf16, largest batch that fits"
GOAL = 0.45
#: Per-device batches tried, largest first.
BATCHES = (256, 192, 128, 96, 64, 48, 32, 16)
#: Optimizer steps of the measured run: at about 0.3 s a step at batch 256 on an H100-class device, long enough for
#: the first steps' one-time costs (allocator growth, kernel selection) to be a few percent of p_train.
STEPS = 100
#: Generated pairs. The train split keeps the reference's first 10% (4,000 windows, reused epoch after epoch).
TRAIN_PAIRS, VALID_PAIRS = 40_000, 1_000
SEED = 2024

Runner = Callable[[int], RecordedRun]

#: The side-by-side of harness and bare loop: its goal (benchmark 1's), timed pairs per compile mode, steps a run.
SIDE_GOAL = 0.98
SIDE_PAIRS = MIN_PAIRS
#: Six log intervals (the default log_interval is 10): five timed after the first, about 12 s at batch 256 on an H200.
SIDE_STEPS = 60
#: The ``compile`` settings compared, in order, with their labels.
MODES = {"off": "eager", "on": "compiled (torch.compile)"}

#: (compile mode, probe file or None) -> the harness run's record; with a probe file its worker counts its syncs.
HarnessRunner = Callable[[str, Path | None], RecordedRun]
#: (compile mode, count syncs) -> the bare loop's figures (:func:`benchmarks.bare_loop.train`).
BareRunner = Callable[[str, bool], dict[str, Any]]


def skip_reason() -> str | None:
    """Why the item cannot run on this machine, or ``None`` when it can."""
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch (torch.cuda.is_available() is False); the item needs a GPU"
    if real_tokenizer() is None:
        return "the real CPM tokenizer (../shared/cpm/chinese_vocab.model beside the repository) is absent"
    return None


def write_stc_json(data_dir: Path, train_pairs: int = TRAIN_PAIRS, valid_pairs: int = VALID_PAIRS) -> Path:
    """A generated ``STC.json`` (``{"train": [[post, response], ...], "valid": [...]}``) in ``data_dir``."""
    rng = random.Random(SEED)
    stc = {"train": [list(generate_pair(rng)) for _ in range(train_pairs)],
           "valid": [list(generate_pair(rng)) for _ in range(valid_pairs)]}
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "STC.json"
    path.write_text(json.dumps(stc, ensure_ascii=False), encoding="utf-8")
    return path


def official_run_arguments(data_dir: Path, tokenizer_dir: Path, vendor: str = "nvidia") -> list[str]:
    """The command-line arguments of every measured run, the batch aside."""
    return ["--vendor", vendor, "--config", "1x1", "--preset", "official", "--data-dir", str(data_dir),
            "--set", f"tokenizer_dir={tokenizer_dir}"]


def measurement_sets(batch: int) -> dict[str, object]:
    return {"precision": "bf16", "activation_checkpointing": False, "batch_size": batch, "grad_accum": 1}


def ran_out_of_memory(record: RecordedRun) -> bool:
    text = f"{record.summary.get('reason')} {record.failure}".lower()
    return record.summary["status"] == "failed" and "out of memory" in text


def largest_fitting(run_at: Runner, batches: Sequence[int] = BATCHES) -> tuple[int, RecordedRun, list[int]]:
    """(batch, its run, the larger batches that ran out of memory): the first of ``batches`` whose run trains."""
    too_large: list[int] = []
    for batch in batches:
        record = run_at(batch)
        if ran_out_of_memory(record):
            too_large.append(batch)
            continue
        if record.summary["status"] != "not_converged":
            raise BenchbaseError(f"the run at batch {batch} ended {record.summary['status']}: {record.failure}",
                                 "run it by hand (the command is in benchmarks/gpu.py) to see the failure")
        return batch, record, too_large
    raise BenchbaseError(f"every batch of {', '.join(map(str, batches))} ran out of memory",
                         "free the device or try smaller batches")


def run(steps: int = STEPS, side_pairs: int = SIDE_PAIRS, side_steps: int = SIDE_STEPS,
        modes: Sequence[str] = tuple(MODES)) -> list[Result]:
    """The MFU figure at the largest batch that fits, then the side-by-side of harness and bare loop at that batch
    for each compile mode in ``modes`` (none: only the MFU)."""
    reason = skip_reason()
    tokenizer = real_tokenizer()
    if reason is not None or tokenizer is None:
        return [Result(6, TITLE, GOAL, skipped=reason)]
    with tempfile.TemporaryDirectory(prefix="benchbase-gpu-") as scratch:
        data_dir = Path(scratch) / "stc"
        write_stc_json(data_dir)
        arguments = official_run_arguments(data_dir, tokenizer.parent)
        batch, record, too_large = largest_fitting(
            lambda b: run_budgeted(arguments, steps, {**measurement_sets(b), "compile": "off"}))
        results = [result_of(batch, record, too_large)]
        harness = harness_runner(arguments, batch, side_steps)
        bare = bare_runner(record, side_steps)
        for mode in modes:
            try:
                results.append(side_by_side(mode, harness, bare, side_steps, side_pairs, Path(scratch)))
            except BenchbaseError as exc:  # the MFU figure and the other mode still stand
                results.append(Result(6, side_title(mode), SIDE_GOAL, skipped=f"failed: {exc}"))
    return results


@dataclass(frozen=True)
class TrainedRun:
    """What the bare loop repeats: a run's resolved config and prepared-data facts."""

    values: dict[str, Any]
    prepared: dict[str, Any]


def probe_environment(probe: Path) -> dict[str, str]:
    """Variables that make a ``benchbase run``'s worker count its syncs into ``probe`` (see ``sync_probe``)."""
    path = os.pathsep.join(p for p in (str(PROBE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, PROBE_ENV: str(probe)}


def harness_runner(arguments: Sequence[str], batch: int, steps: int) -> HarnessRunner:
    """The real command at ``batch`` for ``steps`` steps, compiled or not, probed for syncs when asked."""
    def run_at(mode: str, probe: Path | None) -> RecordedRun:
        sets = {**measurement_sets(batch), "compile": mode}
        return run_budgeted(arguments, steps, sets, probe_environment(probe) if probe is not None else None)

    return run_at


def bare_runner(trained: RecordedRun, steps: int) -> BareRunner:
    """The bare loop on the GPU repeating what ``trained`` (a run on the same data) trained, at its batch, timed
    after its first log interval."""
    warm = int(trained.values.get("log_interval", 10))

    def run_at(mode: str, count: bool) -> dict[str, Any]:
        values = {**trained.values, "compile": mode, "max_steps": steps}
        return bare_loop(TrainedRun(values, trained.prepared), steps, device="cuda", warm_steps=warm,
                         count_syncs=count)

    return run_at


def steady_rate(record: RecordedRun) -> float:
    """Samples per second of a harness run from its first to its last ``step`` event (each written right after a
    log point's synchronise), so the first log interval, with its one-time costs, is left out as in the bare loop."""
    steps = [event for event in record.events if event.get("key") == "step"]
    if len(steps) < 2:
        raise BenchbaseError(f"the run logged {len(steps)} step events; a steady rate needs two",
                             "run at least two log intervals (steps >= 2 x log_interval)")
    first, last = steps[0], steps[-1]
    return (last["samples"] - first["samples"]) / ((last["time_ms"] - first["time_ms"]) / 1000.0)


def harness_syncs(record: RecordedRun, probe: Path) -> dict[str, int] | None:
    """The syncs the probed run's worker counted in its training loop; ``None`` when the worker counted none (no
    GPU trace in this torch, or the probe did not load)."""
    found = read_probe(probe)
    windows = record.event("windows")
    if found is None or not found.get("installed") or windows is None:
        return None
    return syncs_in_train_loop(found["stamps"], windows["metadata"])


def side_title(mode: str) -> str:
    return f"GPU: benchbase run vs a bare loop, {MODES.get(mode, mode)}"


def side_by_side(mode: str, harness: HarnessRunner, bare: BareRunner, steps: int, pairs: int,
                 scratch: Path | None = None) -> Result:
    """Harness against bare loop with ``compile: mode``: one counting pair, then ``pairs`` timed pairs."""
    title = side_title(mode)
    with tempfile.TemporaryDirectory(prefix="benchbase-syncs-", dir=scratch) as folder:
        probe = Path(folder) / "worker-syncs.json"
        counted = harness(mode, probe)
        if counted.summary["status"] != "not_converged":
            return Result(6, title, SIDE_GOAL, skipped=f"benchbase run with compile {mode} ended "
                                                          f"{counted.summary['status']}: {counted.failure}")
        ours = harness_syncs(counted, probe)
    theirs = bare(mode, True)

    def harness_arm() -> float:
        record = harness(mode, None)
        if record.summary["status"] != "not_converged":
            raise BenchbaseError(f"benchbase run with compile {mode} ended {record.summary['status']}: "
                                 f"{record.failure}", "run it by hand (the command is in benchmarks/gpu.py)")
        return steady_rate(record)

    comparison = compare(("bare loop", lambda: float(bare(mode, False)["samples_per_s"])),
                         ("benchbase run", harness_arm), unit="samples/s", repeats=pairs)
    warm = int(counted.values.get("log_interval", 10))
    notes = (
        f"batch {counted.summary.get('per_device_batch')}, bf16, compile {mode}, {steps} steps a run, timed from "
        f"step {warm} to the end (harness: its first and last step events)",
        "syncs in the training loop (torch's GPU trace; an extra, untimed pair): bare loop "
        + (per_step_text(theirs["syncs"], steps) if theirs.get("syncs_counted") else "not counted (no GPU trace)")
        + "; benchbase run "
        + (per_step_text(ours, steps) if ours is not None else "not counted (the worker's probe wrote nothing)"),
    )
    return Result(6, title, SIDE_GOAL, comparison, notes)


def result_of(batch: int, record: RecordedRun, too_large: Sequence[int]) -> Result:
    """The item's figure and notes from the measured run's summary."""
    summary = record.summary
    if summary.get("mfu") is None:
        raise BenchbaseError("the run recorded no MFU (the vendor knows no peak FLOP/s for this device)",
                             "add the device's datasheet peak to benchbase_nvidia.peak_flops")
    throughput = summary["throughput"]
    memory = (summary.get("memory") or {}).get("peak_gib_per_device")
    power = summary.get("power") or {}
    figure = Figure("MFU", float(summary["mfu"]),
                    f"p_train {throughput['p_train']:.1f} samples/s x {summary['flops_per_sample'] / 1e9:.2f} GFLOP / "
                    f"peak {summary['peak_flops_per_device'] / 1e12:.1f} TFLOP/s")
    notes = (
        f"{summary.get('device_model')}, {summary.get('sdk')}; batch {batch} per device"
        + (f" (out of memory at {', '.join(map(str, too_large))})" if too_large else "")
        + f", {summary['steps']} steps, bf16, activation checkpointing off",
        f"p_core {throughput['p_core']:.1f} samples/s (MFU by p_core "
        f"{throughput['p_core'] * summary['flops_per_sample'] / summary['peak_flops_per_device']:.3f}); "
        f"peak memory {memory if memory is None else round(memory, 1)} GiB",
        f"power in the train window {_rounded(power.get('mean_w_per_device'))} W per device, "
        f"{_rounded(power.get('energy_per_sample_j'), 2)} J per sample (source: {power.get('source')})",
    )
    return Result(6, TITLE, GOAL, notes=notes, figure=figure)


def _rounded(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.gpu``: benchmark 6 alone, with its sizes adjustable for a short device check."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of the MFU run")
    parser.add_argument("--pairs", type=int, default=SIDE_PAIRS, help="timed pairs per compile mode")
    parser.add_argument("--side-steps", type=int, default=SIDE_STEPS, help="steps of each side-by-side run")
    parser.add_argument("--modes", default=",".join(MODES), help="compile modes compared (off,on; empty: none)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    for result in run(args.steps, args.pairs, args.side_steps, modes):
        print("\n".join(result.lines()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
