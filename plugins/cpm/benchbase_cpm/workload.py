"""The CPM fine-tuning workload inside one rank: model, data order, reference recipe, and the metric.

The worker owns timing and stopping; this module owns what a step and an evaluation *are*, so that they match the
reference recipe (plugins/cpm/docs/reference.md): masked token-mean cross entropy, AdamW with the reference parameter
groups, the benchmark's annealing schedule stepped on every iteration (overflowed or not), and the Embedding Average
as the reference aggregates it: the mean over batches of each batch's mean sample score, then the mean over ranks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from benchbase.contract import EvalResult, RunContext, Workload
from benchbase_cpm.checkpoint import import_into, load_checkpoint_file
from benchbase_cpm.flops import training_flops_per_sample
from benchbase_cpm.loader import TrainBatches, eval_batches
from benchbase_cpm.metric import embedding_average_sums, token_accuracy_sums
from benchbase_cpm.model import CPMModel, config_for
from benchbase_cpm.recipe import make_optimizer, make_schedule


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Token-mean cross entropy over the loss mask, in fp32 (the reference's ``sum(losses * mask) / mask.sum()``)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none")
    mask = loss_mask.flatten().float()
    return (losses * mask).sum() / mask.sum().clamp_min(1.0)


class CPMWorkload(Workload):
    """One rank's CPM training: built by :meth:`benchbase_cpm.case.CPMCase.build`."""

    def __init__(self, ctx: RunContext) -> None:
        cfg = ctx.config
        prepared = ctx.prepared
        self.ctx = ctx
        self.device = ctx.device
        self.precision = ctx.precision
        self.micro_batch = int(cfg["batch_size"])
        self.accum = int(cfg["grad_accum"])
        self.global_batch = self.micro_batch * self.accum * ctx.world_size
        self.target = float(cfg["target"])
        self.max_steps = int(cfg["max_steps"])
        self.max_samples = int(cfg["max_samples"]) or None
        self.eval_every = max(1, math.ceil(int(cfg["eval_interval_samples"]) / self.global_batch))
        self.eval_batch = int(cfg["eval_batch_size"])
        self.seed = int(cfg["seed"])
        self.model_config = config_for(
            str(cfg["model_size"]),
            vocab_size=int(prepared["vocab_size"]),
            dropout=float(cfg["dropout"]),
            activation_checkpointing=bool(cfg["activation_checkpointing"]),
        )
        seq = int(cfg["seq_length"])
        self.flops_per_sample = training_flops_per_sample(
            self.model_config.n_layer, self.model_config.n_embd, self.model_config.vocab_size, seq
        )
        self.model = CPMModel(self.model_config)
        self._load_initial_weights(cfg, ctx)
        self.model.to(self.device)
        self.model = ctx.vendor.apply_swaps(self.model, ctx.emit)
        self.net: torch.nn.Module = (
            DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if ctx.distributed
            else self.model
        )
        self.optimizer = make_optimizer(self.model, float(cfg["lr"]), float(cfg["weight_decay"]))
        self.schedule = make_schedule(self.optimizer, float(cfg["lr"]), self.max_steps, float(cfg["warmup"]))
        self.scaler = torch.amp.GradScaler(
            self.device.type,
            init_scale=self.precision.initial_scale,
            growth_interval=self.precision.growth_interval,
            enabled=self.precision.loss_scaling,
        )
        self.pad_id = int(prepared["pad_id"])
        self.train_windows = np.load(prepared["train_windows"], mmap_mode="r")
        self.valid_windows = np.load(prepared["valid_windows"], mmap_mode="r")
        self.step = 0
        self._batches = self._train_batches(0)
        # Training mode is set here and restored after each evaluation, not on every step (a walk over all modules).
        self.net.train()

    def _load_initial_weights(self, cfg: Mapping[str, Any], ctx: RunContext) -> None:
        path = str(cfg.get("init_checkpoint") or "")
        if not path:
            ctx.emit("provenance", "initial weights: random (no init_checkpoint)")
            return
        state = load_checkpoint_file(Path(path))
        import_into(self.model, state, path)
        ctx.emit("provenance", f"initial weights: {path}", tensors=len(state))

    def _train_batches(self, start_step: int) -> Any:
        return iter(
            TrainBatches(
                self.train_windows,
                pad_id=self.pad_id,
                global_batch=self.global_batch,
                micro_batch=self.micro_batch,
                rank=self.ctx.rank,
                world_size=self.ctx.world_size,
                seed=self.seed,
                start_step=start_step,
            )
        )

    def _to_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def next_batch(self) -> list[dict[str, torch.Tensor]]:
        return [self._to_device(micro) for micro in next(self._batches)]

    def train_step(self, batch: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        total = torch.zeros((), device=self.device)
        for index, micro in enumerate(batch):
            last = index == len(batch) - 1
            sync = contextlib.nullcontext() if last or not self.ctx.distributed else self.net.no_sync()
            with sync:
                with self.precision.autocast(self.device):
                    logits = self.net(micro["input_ids"], micro["position_ids"])
                loss = masked_lm_loss(logits, micro["labels"], micro["loss_mask"])
                self.scaler.scale(loss / len(batch)).backward()
            total += loss.detach()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        self.step += 1
        return total / len(batch)

    @torch.no_grad()
    def evaluate(self) -> EvalResult:
        self.model.eval()
        # Per batch: (mean sample score, 1 if any sample counted), (token accuracy, 1 if any token), token-mean loss.
        sums = torch.zeros(5, dtype=torch.float64, device=self.device)
        embedding = self.model.word_embeddings.weight
        batches = eval_batches(
            self.valid_windows, pad_id=self.pad_id, batch=self.eval_batch, rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        for batch in batches:
            batch = self._to_device(batch)
            with self.precision.autocast(self.device):
                logits = self.model(batch["input_ids"], batch["position_ids"])
            predictions = logits.argmax(dim=-1)
            score, counted = embedding_average_sums(predictions, batch["labels"], batch["loss_mask"], embedding)
            correct, tokens = token_accuracy_sums(predictions, batch["labels"], batch["loss_mask"])
            loss = masked_lm_loss(logits, batch["labels"], batch["loss_mask"])
            sums += torch.stack([
                score.double() / counted.clamp_min(1), (counted > 0).double(),
                correct.double() / tokens.clamp_min(1), (tokens > 0).double(), loss.double(),
            ])
        score_means, scored_batches, accuracy_means, token_batches, loss_means = sums.tolist()
        per_rank = torch.tensor(
            [score_means / max(scored_batches, 1.0), accuracy_means / max(token_batches, 1.0),
             loss_means / len(batches)],
            dtype=torch.float64,
            device=self.device,
        )
        if self.ctx.distributed:
            dist.all_reduce(per_rank)
            per_rank /= self.ctx.world_size
        metric, accuracy, loss = per_rank.tolist()
        self.net.train()
        return EvalResult(metric=metric, extras={"token_accuracy": accuracy, "loss": loss})

    def close(self) -> None:
        """Drop the DDP wrapper so the worker can tear the process group down cleanly."""
        self.net = self.model

    def learning_rate(self) -> float | None:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self._batches = self._train_batches(self.step)
