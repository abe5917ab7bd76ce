"""Benchmark 6: MFU of CPM medium on one GPU (DDP's 1x1) and of CPM large on every visible GPU (FSDP), bf16, each at
the largest batch that fits. Needs a CUDA device.

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

"The largest batch that fits": batch sizes are tried from the largest down; a batch that benchbase's own memory
estimate refuses before launch (docs/memory.md: exit 2, no record) or whose run fails because the device ran out of
memory moves on to the next size, any other failure stops the benchmark.

CPM large: the same command with ``--preset large`` (the released 2.6B shape) and ``--config 1xN`` on all N visible
GPUs, ``--set parallelism=fsdp``, bf16, activation checkpointing off, its own batches (:data:`LARGE_BATCHES`) and a
shorter step budget (:data:`LARGE_STEPS`). The preset starts from the released shards only where they are: the
``CPM-large`` folder in ``--data-dir`` or ``init_checkpoint`` (plugins/cpm/README.md). The generated data folder holds
neither, so the run starts from random weights by the case's own rule and its record says so (a ``provenance``
event, printed with the figure). With N == 1 FSDP has nothing to shard and the core trains the model unwrapped
(docs/contract.md, "Parallelism"); the printed notes say which happened, from the run's ``fully_shard`` swap event.

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
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
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

#: CPM large's goal: medium's. Its multiplies are larger (hidden 2560), so no smaller share of the peak is expected;
#: no published figure trains it.
LARGE_GOAL = GOAL
#: Per-device batches of CPM large, largest first. On one 80 GB H100 its fp32 weights, gradients and AdamW moments
#: with the bf16 copies take 43.5 GiB by the estimate and a 200-token sample 0.64 GiB more: 128, 96 and 64 are
#: refused before launch (seconds each), 48 (74.3 GiB) launches and may run out of memory, 32 (64.0 GiB) fits. A
#: 141 GB H200 fits 128 by the estimate; eight H100s under FSDP fit 64 (70.8 GiB).
LARGE_BATCHES = (128, 96, 64, 48, 32, 24, 16, 8)
#: Optimizer steps of CPM large: about 3.2 TFLOP a sample, so about 0.2 s a step at batch 32 on an H100 at 50% MFU,
#: 10 s of training; each launch adds about a minute of start-up (building and initialising 2.6B parameters on the
#: host, the evaluations before and after). The large part's device time on one H100 is about 2-3 minutes.
LARGE_STEPS = 50
#: Generated pairs. The train split keeps the reference's first 10% (4,000 windows, reused epoch after epoch).
TRAIN_PAIRS, VALID_PAIRS = 40_000, 1_000
SEED = 2024

Runner = Callable[[int], RecordedRun]
#: (arguments, steps, ``--set`` values) -> the run's record: :func:`benchmarks.harness_run.run_budgeted`.
CommandRunner = Callable[[Sequence[str], int, Mapping[str, Any]], RecordedRun]

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


def official_run_arguments(data_dir: Path, tokenizer_dir: Path, vendor: str = "nvidia", preset: str = "official",
                           devices: int = 1) -> list[str]:
    """The command-line arguments of every measured run, the batch aside: ``preset`` on ``devices`` devices of one
    node."""
    return ["--vendor", vendor, "--config", f"1x{devices}", "--preset", preset, "--data-dir", str(data_dir),
            "--set", f"tokenizer_dir={tokenizer_dir}"]


def measurement_sets(batch: int) -> dict[str, object]:
    return {"precision": "bf16", "activation_checkpointing": False, "batch_size": batch, "grad_accum": 1}


def large_sets(batch: int) -> dict[str, object]:
    """CPM large's measured settings: medium's, sharded. The tuned files of 1xN other than 1x8 are medium's, so the
    large preset on them keeps the case defaults (ddp, activation checkpointing on) unless set here."""
    return {**measurement_sets(batch), "parallelism": "fsdp", "compile": "off"}


def ran_out_of_memory(record: RecordedRun) -> bool:
    text = f"{record.summary.get('reason')} {record.failure}".lower()
    return record.summary["status"] == "failed" and "out of memory" in text


#: ``benchbase run``'s one-line refusal, before launch and without a record, of a configuration whose memory estimate
#: exceeds the device (:func:`benchbase.run.memory_estimate.check_fits`).
_REFUSED_FOR_MEMORY = re.compile(r"estimated memory of [0-9.]+ GiB per device does not fit")


def refused_for_memory(error: BenchbaseError) -> bool:
    """Whether ``error`` (a run that left no record) is the memory estimate's refusal."""
    return _REFUSED_FOR_MEMORY.search(str(error)) is not None


@dataclass(frozen=True)
class Fit:
    """The largest batch whose run trained, that run, and the larger batches that did not fit."""

    batch: int
    record: RecordedRun
    #: Launched and ran out of device memory.
    out_of_memory: tuple[int, ...] = ()
    #: Refused before launch by benchbase's memory estimate.
    refused: tuple[int, ...] = ()

    def larger_text(self) -> str:
        """`` (refused by the memory estimate at 128, 96; out of memory at 48)``, or empty."""
        parts = [f"refused by the memory estimate at {', '.join(map(str, self.refused))}"] if self.refused else []
        if self.out_of_memory:
            parts.append(f"out of memory at {', '.join(map(str, self.out_of_memory))}")
        return f" ({'; '.join(parts)})" if parts else ""


def largest_fitting(run_at: Runner, batches: Sequence[int] = BATCHES) -> Fit:
    """The first of ``batches`` whose run trains; a batch refused by the memory estimate or out of memory moves on
    to the next, any other failure stops the search."""
    out_of_memory: list[int] = []
    refused: list[int] = []
    for batch in batches:
        try:
            record = run_at(batch)
        except BenchbaseError as exc:
            if not refused_for_memory(exc):
                raise
            refused.append(batch)
            continue
        if ran_out_of_memory(record):
            out_of_memory.append(batch)
            continue
        if record.summary["status"] != "not_converged":
            raise BenchbaseError(f"the run at batch {batch} ended {record.summary['status']}: {record.failure}",
                                 "run it by hand (the command is in benchmarks/gpu.py) to see the failure")
        return Fit(batch, record, tuple(out_of_memory), tuple(refused))
    raise BenchbaseError(f"no batch of {', '.join(map(str, batches))} fits the device (refused by the memory "
                         f"estimate: {list(refused)}, out of memory: {list(out_of_memory)})",
                         "free the device or try smaller batches")


def run(steps: int = STEPS, side_pairs: int = SIDE_PAIRS, side_steps: int = SIDE_STEPS,
        modes: Sequence[str] = tuple(MODES), large_steps: int = LARGE_STEPS,
        shown: Callable[[Result], None] | None = None) -> list[Result]:
    """CPM medium's MFU at the largest batch that fits, then CPM large's on every visible GPU (``large_steps`` 0:
    not measured), then the side-by-side of harness and bare loop at medium's batch for each compile mode in
    ``modes`` (none: only the MFU figures). ``shown`` gets each result as soon as it is made, so a device check cut
    short by its time limit keeps what it measured."""
    results: list[Result] = []

    def keep(result: Result) -> None:
        results.append(result)
        if shown is not None:
            shown(result)

    reason = skip_reason()
    tokenizer = real_tokenizer()
    if reason is not None or tokenizer is None:
        keep(Result(6, TITLE, GOAL, skipped=reason))
        return results
    with tempfile.TemporaryDirectory(prefix="benchbase-gpu-") as scratch:
        data_dir = Path(scratch) / "stc"
        write_stc_json(data_dir)
        arguments = official_run_arguments(data_dir, tokenizer.parent)
        fit = largest_fitting(lambda b: run_budgeted(arguments, steps, {**measurement_sets(b), "compile": "off"}))
        keep(result_of(fit))
        if large_steps > 0:
            keep(large_result(data_dir, tokenizer.parent, torch.cuda.device_count(), large_steps))
        harness = harness_runner(arguments, fit.batch, side_steps)
        bare = bare_runner(fit.record, side_steps)
        for mode in modes:
            try:
                keep(side_by_side(mode, harness, bare, side_steps, side_pairs, Path(scratch)))
            except BenchbaseError as exc:  # the MFU figures and the other mode still stand
                keep(Result(6, side_title(mode), SIDE_GOAL, skipped=f"failed: {exc}"))
    return results


def large_title(devices: int) -> str:
    return f"GPU: MFU of CPM large, 1x{devices} fsdp, bf16, largest batch that fits"


def large_result(data_dir: Path, tokenizer_dir: Path, devices: int, steps: int = LARGE_STEPS,
                 runner: CommandRunner = run_budgeted, vendor: str = "nvidia",
                 batches: Sequence[int] = LARGE_BATCHES) -> Result:
    """CPM large's MFU under ``parallelism: fsdp`` on ``devices`` devices at the largest of ``batches`` that fits;
    a failure is a skipped result saying why, so medium's figure and the side-by-side still stand."""
    arguments = official_run_arguments(data_dir, tokenizer_dir, vendor, preset="large", devices=devices)
    try:
        fit = largest_fitting(lambda batch: runner(arguments, steps, large_sets(batch)), batches)
        return result_of(fit, large_title(devices), LARGE_GOAL, large_notes(fit.record, devices))
    except BenchbaseError as exc:
        return Result(6, large_title(devices), LARGE_GOAL, skipped=f"failed: {exc}")


def large_notes(record: RecordedRun, devices: int) -> tuple[str, ...]:
    """What CPM large's figure was measured on, from its own record: the parallelism it trained with (one device
    has nothing to shard) and where its weights came from."""
    swap = next((e for e in record.events if e.get("key") == "swap" and e.get("value") == "fully_shard"), None)
    parallelism = record.values.get("parallelism")
    if swap is not None:
        units = (swap.get("metadata") or {}).get("units")
        sharding = (f"parallelism {parallelism}: FSDP2 sharded the model over {devices} devices ({units} units, its "
                    f"fully_shard swap event), each holding 1/{devices} of the weights, gradients and AdamW moments")
    elif devices == 1:
        sharding = (f"parallelism {parallelism} on 1 device: FSDP has nothing to shard, so the core trained the model "
                    "unwrapped (no fully_shard swap in the record; docs/contract.md, \"Parallelism\"): the whole "
                    "model and its AdamW state on the one device")
    else:
        sharding = f"parallelism {parallelism} on {devices} devices, but the record holds no fully_shard swap event"
    provenance = next((e for e in record.events if e.get("key") == "provenance"), None)
    weights = provenance.get("value") if provenance is not None else "not recorded (no provenance event)"
    return (f"CPM large (2.6B parameters), --preset large --config 1x{devices}; {sharding}",
            f"{weights} (the generated data folder holds no CPM-large shards)")


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


def result_of(fit: Fit, title: str = TITLE, goal: float = GOAL, conditions: Sequence[str] = ()) -> Result:
    """A figure and its notes from the measured run's summary: MFU, and from the same record the peak memory and
    power; ``conditions`` are notes on what was trained."""
    summary = fit.record.summary
    if summary.get("mfu") is None:
        raise BenchbaseError("the run recorded no MFU (the vendor knows no peak FLOP/s for this device)",
                             "add the device's datasheet peak to benchbase_nvidia.peak_flops")
    throughput = summary["throughput"]
    devices = int(summary.get("devices") or 1)
    peak = devices * summary["peak_flops_per_device"]
    memory = (summary.get("memory") or {}).get("peak_gib_per_device")
    power = summary.get("power") or {}
    figure = Figure("MFU", float(summary["mfu"]),
                    f"p_train {throughput['p_train']:.1f} samples/s x {summary['flops_per_sample'] / 1e9:.2f} GFLOP / "
                    + (f"{devices} x " if devices > 1 else "")
                    + f"peak {summary['peak_flops_per_device'] / 1e12:.1f} TFLOP/s")
    global_batch = f", global {summary.get('global_batch')}" if devices > 1 else ""
    notes = (
        f"{summary.get('device_model')}, {summary.get('sdk')}; batch {fit.batch} per device{global_batch}"
        + fit.larger_text()
        + f", {summary['steps']} steps, bf16, activation checkpointing off",
        *conditions,
        f"p_core {throughput['p_core']:.1f} samples/s (MFU by p_core "
        f"{throughput['p_core'] * summary['flops_per_sample'] / peak:.3f}); "
        f"peak memory {memory if memory is None else round(memory, 1)} GiB per device",
        f"power in the train window {_rounded(power.get('mean_w_per_device'))} W per device, "
        f"{_rounded(power.get('energy_per_sample_j'), 2)} J per sample (source: {power.get('source')})",
    )
    return Result(6, title, goal, notes=notes, figure=figure)


def _rounded(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.gpu``: benchmark 6 alone, with its sizes adjustable for a short device check."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of the MFU run")
    parser.add_argument("--pairs", type=int, default=SIDE_PAIRS, help="timed pairs per compile mode")
    parser.add_argument("--side-steps", type=int, default=SIDE_STEPS, help="steps of each side-by-side run")
    parser.add_argument("--modes", default=",".join(MODES), help="compile modes compared (off,on; empty: none)")
    parser.add_argument("--large-steps", type=int, default=LARGE_STEPS,
                        help="steps of CPM large's MFU run (0: CPM large is not measured)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    run(args.steps, args.pairs, args.side_steps, modes, args.large_steps,
        shown=lambda result: print("\n".join(result.lines()), flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
