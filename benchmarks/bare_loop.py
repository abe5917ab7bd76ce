"""The baseline of the harness benchmark: the demo run's training written as a bare PyTorch loop.

Everything the measured ``benchbase run`` trained is repeated: the model class and its config, the seed (so the same
initial weights), the prepared token windows from the cache and the same window order, the batch, the loss, the
optimizer and the learning-rate schedule, the thread count the CPU vendor sets (one intra-op thread per CPU this
process may use). Everything the harness adds is left out: no supervisor, no telemetry, no events, no synchronised
stopwatch, no loader object, no evaluation. The harness evaluates once before training, which also warms the
allocator and the kernels, so the bare loop runs the same forward passes untimed first and both train windows start
equally warm.

Run as ``python -m benchmarks.bare_loop`` in a fresh process, like the worker it is compared with, with a JSON
spec ``{"values": <resolved config>, "prepared": <prepare facts>, "steps": N}`` on stdin; prints one JSON line.
"""

from __future__ import annotations

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
from benchbase_cpm.model import CPMModel, config_for
from benchbase_cpm.recipe import make_optimizer, make_schedule
from benchbase_cpm.workload import masked_lm_loss

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def tensors(rows: np.ndarray, pad_id: int) -> Batch:
    """(input_ids, labels, loss_mask, position_ids) of window rows: inputs are all but the last token, labels all
    but the first, padding is masked out, positions restart at 0 in every window."""
    ids = torch.from_numpy(rows.astype(np.int64))
    inputs, labels = ids[:, :-1], ids[:, 1:]
    positions = torch.arange(inputs.shape[1]).expand(inputs.shape[0], -1)
    return inputs, labels, labels != pad_id, positions


def step_rows(windows: np.ndarray, global_batch: int, seed: int) -> Iterator[np.ndarray]:
    """Window rows of each optimizer step: epoch ``e`` visits ``RandomState(seed + e).permutation``, consecutive
    slices of one global batch, the incomplete tail dropped (the order :mod:`benchbase.batch_order` defines)."""
    per_epoch = len(windows) // global_batch
    epoch = 0
    while True:
        order = np.random.RandomState(seed + epoch).permutation(len(windows))
        for step in range(per_epoch):
            yield windows[order[step * global_batch:(step + 1) * global_batch]]
        epoch += 1


def train(values: Mapping[str, Any], prepared: Mapping[str, Any], steps: int) -> dict[str, float]:
    """Train ``steps`` optimizer steps as the run with ``values`` did; returns the timed figures."""
    if str(values["precision"]) not in ("auto", "fp32"):
        raise BenchbaseError(f"the bare loop trains in fp32, the run used {values['precision']}",
                             "measure the harness with precision auto or fp32")
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    seed = int(values["seed"])
    torch.manual_seed(seed)
    random.seed(seed)
    model = CPMModel(config_for(
        str(values["model_size"]),
        vocab_size=int(prepared["vocab_size"]),
        dropout=float(values["dropout"]),
        activation_checkpointing=bool(values["activation_checkpointing"]),
    ))
    optimizer = make_optimizer(model, float(values["lr"]), float(values["weight_decay"]))
    # The compared run's budget is ``steps`` (its max_steps), which sets the schedule's warmup and decay.
    schedule = make_schedule(optimizer, float(values["lr"]), steps, float(values["warmup"]))
    pad_id = int(prepared["pad_id"])
    micro, accum = int(values["batch_size"]), int(values["grad_accum"])

    warm_forward(model, np.load(prepared["valid_windows"], mmap_mode="r"), int(values["eval_batch_size"]), pad_id)
    batches = step_rows(np.load(prepared["train_windows"], mmap_mode="r"), micro * accum, seed)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        rows = next(batches)
        for index in range(accum):
            inputs, labels, mask, positions = tensors(rows[index * micro:(index + 1) * micro], pad_id)
            loss = masked_lm_loss(model(inputs, positions), labels, mask)
            (loss / accum).backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    train_s = time.perf_counter() - start
    samples = steps * micro * accum
    return {"samples_per_s": samples / train_s, "train_s": train_s, "samples": samples,
            "threads": torch.get_num_threads()}


@torch.no_grad()
def warm_forward(model: torch.nn.Module, windows: np.ndarray, batch: int, pad_id: int) -> None:
    """The forward passes of the harness's evaluation before training, without the metric (untimed)."""
    model.eval()
    for start in range(0, len(windows) - batch + 1, batch):
        inputs, _, _, positions = tensors(windows[start:start + batch], pad_id)
        model(inputs, positions)


def main() -> int:
    spec = json.load(sys.stdin)
    print(json.dumps(train(spec["values"], spec["prepared"], int(spec["steps"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
