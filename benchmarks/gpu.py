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
out of memory moves on to the next size, any other failure stops the benchmark. This module was written on a
CPU-only machine: its search and data are tested there, the GPU runs themselves only where a GPU is present.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.demo_corpus import generate_pair
from benchmarks.data_prep import real_tokenizer
from benchmarks.harness_run import RecordedRun, run_budgeted
from benchmarks.result import Figure, Result

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


def run(steps: int = STEPS) -> Result:
    reason = skip_reason()
    tokenizer = real_tokenizer()
    if reason is not None or tokenizer is None:
        return Result(6, TITLE, GOAL, skipped=reason)
    with tempfile.TemporaryDirectory(prefix="benchbase-gpu-") as scratch:
        data_dir = Path(scratch) / "stc"
        write_stc_json(data_dir)
        arguments = official_run_arguments(data_dir, tokenizer.parent)
        batch, record, too_large = largest_fitting(
            lambda b: run_budgeted(arguments, steps, measurement_sets(b)))
    return result_of(batch, record, too_large)


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
