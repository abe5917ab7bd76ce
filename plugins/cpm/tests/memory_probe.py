"""One rank of a real CPU training run whose peak memory is measured, for the memory estimate's check.

Run under torchrun (gloo on 127.0.0.1) by ``test_memory_estimate_measured.py``: each rank builds the core's
:class:`~benchbase.train.engine.Engine` around a CPM model of the shape given on the command line, trains a few
steps on random token windows, and writes its measured peak of live tensor bytes and the core's estimate to
``OUT/rank<N>.json``. The measure is torch's own account of its CPU allocations (the profiler's memory events,
``profile_memory=True``), summed in time order from just before the engine is built to the end: the peak of live
tensor bytes, which is what the estimate counts. The resident set would add what the C library and the BLAS keep
cached after tensors are freed (it measured 35-50% above the tensors here, docs/memory.md), a property of the host
allocator and not of the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.profiler import ProfilerActivity, profile

from benchbase import Case, DatasetSpec, Samples
from benchbase.config.parameters import CoreConfig
from benchbase.run.memory_estimate import estimate_memory
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase_cpm.case import PARAMETERS
from benchbase_cpm.memory import footprint
from benchbase_cpm.metric import EmbeddingAverage
from benchbase_cpm.model import CPMModel
from benchbase_cpm.recipe import CPMRecipe
from benchbase_cpm.shapes import CPMConfig
from benchbase_cpm.workload import CPMModelSpec
from benchbase_cpu.precision import cpu_precision_policy
from benchbase_cpu.vendor import CPUVendor


def peak_allocated(profiler: profile) -> int:
    """The largest sum of live CPU allocations the profiler saw: its memory events, in time order."""
    events = sorted(
        (event for event in profiler.profiler.kineto_results.events() if event.name() == "[memory]"),
        key=lambda event: event.start_ns(),
    )
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak


class RandomWindows(Samples):
    """Token windows drawn once from a seeded generator, as the STC windows are laid out."""

    def __init__(self, vocab: int, seq: int, count: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.tokens = torch.randint(0, vocab, (count, seq + 1), generator=generator)

    def train_size(self) -> int:
        return len(self.tokens)

    def train_batch(self, indices: Any) -> dict[str, torch.Tensor]:
        window = self.tokens[torch.as_tensor(indices)]
        seq = window.shape[1] - 1
        return {
            "input_ids": window[:, :-1],
            "labels": window[:, 1:],
            "loss_mask": torch.ones(len(window), seq, dtype=torch.bool),
            "position_ids": torch.arange(seq).expand(len(window), seq),
        }

    def eval_size(self) -> int:
        return self.train_size()

    def eval_batch(self, indices: Any) -> dict[str, torch.Tensor]:
        return self.train_batch(indices)


class ShapedCPM(CPMModelSpec):
    """CPM's model, loss and footprint at an explicit shape (the case's named sizes are too large to train here)."""

    def __init__(self, shape: CPMConfig) -> None:
        self.shape = shape

    def build(self, config: Any, prepared: Any) -> CPMModel:
        return CPMModel(self.shape)

    def load_initial(self, model: Any, config: Any, prepared: Any, emit: Any) -> None:
        emit("provenance", "initial weights: random")

    def flops_per_sample(self, config: Any, prepared: Any) -> float:
        return 0.0


class WindowsData(DatasetSpec):
    def __init__(self, samples: RandomWindows) -> None:
        self.samples = samples

    def prepare(self, config: Any, data_dir: Any, cache_dir: Any, progress: Any) -> dict[str, Any]:
        return {}

    def open(self, config: Any, prepared: Any) -> Samples:
        return self.samples


class ProbeCase(Case):
    """CPM's model spec, recipe and metric over the random windows."""

    name = "cpm-probe"

    def __init__(self, shape: CPMConfig, samples: RandomWindows) -> None:
        self.model, self.dataset = ShapedCPM(shape), WindowsData(samples)
        self.recipe, self.metric = CPMRecipe(), EmbeddingAverage()


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("layers", "hidden", "heads", "vocab", "seq", "batch", "steps"):
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--parallelism", choices=("ddp", "fsdp"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    place = RankPlace(dist.get_rank(), dist.get_world_size())
    shape = CPMConfig(vocab_size=args.vocab, n_layer=args.layers, n_embd=args.hidden, n_head=args.heads, dropout=0.0)
    values = {key: param.default for key, param in PARAMETERS.items()}
    values.update(batch_size=args.batch, grad_accum=1, eval_batch_size=args.batch, max_steps=args.steps,
                  max_samples=0, target=1.0, eval_interval_samples=1, seed=0, precision="fp32", log_interval=1,
                  telemetry_interval_s=0.0, timeout_s=0.0, checkpoint_every=0, compile="off",
                  parallelism=args.parallelism, warmup_steps=0, seq_length=args.seq, dropout=0.0,
                  activation_checkpointing=False)
    core = CoreConfig.from_values(values)
    case = ProbeCase(shape, RandomWindows(args.vocab, args.seq, args.batch * place.world_size * args.steps))
    precision = cpu_precision_policy("fp32")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        engine = Engine(case, CPUVendor(), torch.device("cpu"), precision, values, core, {}, place,
                        lambda *_a, **_k: None)
        for _ in range(args.steps):
            engine.train_step(engine.feed.next())
        engine.close()
    estimate = estimate_memory(footprint(shape, args.seq, 4), core, precision, place.world_size, 1)
    result = {"measured": peak_allocated(profiler), "estimated": estimate.per_rank, "parts": estimate.parts}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rank{place.rank}.json").write_text(json.dumps(result), encoding="utf-8")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
