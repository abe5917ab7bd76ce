"""The baseline of the harness benchmarks: the measured run's training written as a bare PyTorch loop.

Everything the measured ``benchbase run`` trained is repeated: the model class and its config, the seed (so the same
initial weights), the prepared token windows from the cache and the same window order (the core's
:mod:`benchbase.train.batch_order`), the batch and its accumulation, the loss (the model spec's ``masked_lm_loss``, outside
autocast as the core trainer computes it), the recipe's AdamW (fused where torch has the kernel) and learning-rate
schedule, the precision (bf16 autocast around the forward on a GPU), ``torch.compile`` of the model when the run
compiled, and the thread count the CPU vendor sets (one intra-op thread per CPU this process may use). Everything
the harness adds is left out: no supervisor, no telemetry, no events, no timing windows, no prefetching input
pipeline, no evaluation. The token windows are put on the device once, before the clock starts, and every step
indexes them there, so the loop copies nothing from the host: on a GPU it never waits for the device until the
clock stops.

The harness evaluates once before training, which also warms the allocator and the kernels, so the bare loop runs
the same forward passes untimed first and both train windows start equally warm.

Timing: the clock starts after ``warm_steps`` steps (on the CPU benchmark 1 passes the run's ``warmup_steps``, the
steps its p_train leaves out; on the GPU one log interval, where the first steps grow the allocator's pool and,
compiled, compile the model) and stops after the last step, each time after a device synchronise (a no-op on the
CPU).

Run as ``python -m benchmarks.bare_loop`` in a fresh process, like the worker it is compared with, with a JSON spec
on stdin: ``{"values": <resolved config>, "prepared": <prepare facts>, "steps": N}`` and optionally ``"device"``
(``"cpu"``, the default, or ``"cuda"``), ``"warm_steps"`` and ``"count_syncs"`` (count the syncs of the training
loop through torch's GPU trace, :mod:`benchmarks.syncs`; that run is then not timed fairly); prints one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.loss import masked_lm_loss
from benchbase_cpm.model import CPMModel
from benchbase_cpm.optimizer import make_optimizer, make_schedule
from benchbase_cpm.shapes import config_for
from benchmarks.syncs import SyncCounter

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
#: The autocast dtype of each precision the bare loop trains in (fp32: none).
AUTOCAST = {"auto": None, "fp32": None, "bf16": torch.bfloat16}


def tensors(rows: torch.Tensor, pad_id: int) -> Batch:
    """(input_ids, labels, loss_mask, position_ids) of int64 window rows: inputs are all but the last token, labels
    all but the first, padding is masked out, positions restart at 0 in every window."""
    inputs, labels = rows[:, :-1], rows[:, 1:]
    positions = torch.arange(inputs.shape[1], device=rows.device).expand(inputs.shape[0], -1)
    return inputs, labels, labels != pad_id, positions


def step_indices(size: int, global_batch: int, seed: int) -> Iterator[np.ndarray]:
    """Window indices of each optimizer step: epoch ``e`` visits ``RandomState(seed + e).permutation``, consecutive
    slices of one global batch, the incomplete tail dropped (the order :mod:`benchbase.train.batch_order` defines)."""
    per_epoch = size // global_batch
    epoch = 0
    while True:
        order = np.random.RandomState(seed + epoch).permutation(size)
        for step in range(per_epoch):
            yield order[step * global_batch:(step + 1) * global_batch]
        epoch += 1


def compiled(values: Mapping[str, Any]) -> bool:
    """Whether the run compiled its model (``compile: on``; the vendor default of the CPU and NVIDIA vendors is
    off)."""
    return str(values.get("compile", "off")) == "on"


def train(values: Mapping[str, Any], prepared: Mapping[str, Any], steps: int, device: str = "cpu",
          warm_steps: int = 0, count_syncs: bool = False) -> dict[str, Any]:
    """Train ``steps`` optimizer steps as the run with ``values`` did; returns the timed figures."""
    precision = str(values["precision"])
    if precision not in AUTOCAST or (precision == "bf16" and device == "cpu"):
        raise BenchbaseError(f"the bare loop trains fp32 on the CPU and fp32 or bf16 on a GPU, the run used "
                             f"{precision} on {device}", "measure the harness with precision fp32 (or bf16 on a GPU)")
    if not 0 <= warm_steps < steps:
        raise BenchbaseError(f"{warm_steps} warm-up steps of {steps}", "time at least one step after the warm-up")
    counter = SyncCounter()
    if count_syncs:
        counter.install()
    on = torch.device(device)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    seed = int(values["seed"])
    torch.manual_seed(seed)
    random.seed(seed)
    model = CPMModel(config_for(
        str(values["model_size"]),
        vocab_size=int(prepared["vocab_size"]),
        dropout=float(values["dropout"]),
        activation_checkpointing=bool(values["activation_checkpointing"]),
    )).to(on)
    net = torch.compile(model) if compiled(values) else model
    optimizer = make_optimizer(model, float(values["lr"]), float(values["weight_decay"]))
    # The compared run's budget is ``steps`` (its max_steps), which sets the schedule's warmup and decay.
    schedule = make_schedule(optimizer, float(values["lr"]), steps, float(values["warmup"]))
    pad_id = int(prepared["pad_id"])
    micro, accum = int(values["batch_size"]), int(values["grad_accum"])
    dtype = AUTOCAST[precision]
    autocast = (lambda: torch.autocast(device_type=on.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def synchronize() -> None:
        if on.type == "cuda":
            torch.cuda.synchronize(on)

    warm_forward(model, np.load(prepared["valid_windows"], mmap_mode="r"), int(values["eval_batch_size"]), pad_id,
                 on, autocast)
    train_windows = np.load(prepared["train_windows"], mmap_mode="r")
    windows = torch.from_numpy(np.asarray(train_windows, dtype=np.int64)).to(on)
    order = step_indices(len(train_windows), micro * accum, seed)
    indices = torch.from_numpy(np.stack([next(order) for _ in range(steps)])).to(on)
    model.train()
    counter.active = True  # the loop's syncs: its start, the end of the warm-up steps, its end
    synchronize()
    start = time.perf_counter()
    for step in range(steps):
        if step == warm_steps and warm_steps:
            synchronize()
            start = time.perf_counter()
        rows = windows[indices[step]]
        for index in range(accum):
            inputs, labels, mask, positions = tensors(rows[index * micro:(index + 1) * micro], pad_id)
            with autocast():
                logits = net(inputs, positions)
            loss = masked_lm_loss(logits, labels, mask)
            (loss / accum).backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize()
    train_s = time.perf_counter() - start
    counter.active = False
    samples = (steps - warm_steps) * micro * accum
    figures: dict[str, Any] = {"samples_per_s": samples / train_s, "train_s": train_s, "samples": samples,
                               "steps": steps, "warm_steps": warm_steps, "threads": torch.get_num_threads()}
    if count_syncs:
        figures.update(syncs=counter.counts, syncs_counted=counter.installed)
    return figures


@torch.no_grad()
def warm_forward(model: torch.nn.Module, windows: np.ndarray, batch: int, pad_id: int,
                 device: torch.device = torch.device("cpu"), autocast: Any = contextlib.nullcontext) -> None:
    """The forward passes of the harness's evaluation before training, without the metric (untimed)."""
    model.eval()
    for start in range(0, len(windows) - batch + 1, batch):
        rows = torch.from_numpy(np.asarray(windows[start:start + batch], dtype=np.int64)).to(device)
        inputs, _, _, positions = tensors(rows, pad_id)
        with autocast():
            model(inputs, positions)


def main() -> int:
    spec = json.load(sys.stdin)
    print(json.dumps(train(spec["values"], spec["prepared"], int(spec["steps"]), device=str(spec.get("device", "cpu")),
                           warm_steps=int(spec.get("warm_steps", 0)), count_syncs=bool(spec.get("count_syncs")))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
