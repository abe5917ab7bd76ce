"""The prepared token windows of one node, memory-mapped, and the batch tensors a rank builds from them.

Building a step's tensors from the memory-mapped array was measured at 1-5 us per sample (440k windows, warm page
cache, 2-core CPU; 0.07-0.17 ms for a 128-sample step), orders of magnitude below a training step. Imported by a rank
when it opens the data (:meth:`benchbase_cpm.dataset.STCDataset.open`), never when the case registers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from benchbase.contract import Batch, Samples
from benchbase_cpm.windows import window_fields


def to_batch(rows: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Torch tensors (int64, loss mask bool) of window rows ``(b, W)``: ``input_ids``, ``labels``, ``loss_mask``,
    ``position_ids``, each ``(b, W-1)``."""
    return {name: torch.from_numpy(value) for name, value in window_fields(rows, pad_id).items()}


class WindowSamples(Samples):
    """The prepared train and validation windows of one node, memory-mapped."""

    def __init__(self, prepared: Mapping[str, Any]) -> None:
        self.pad_id = int(prepared["pad_id"])
        self.train = np.load(prepared["train_windows"], mmap_mode="r")
        self.valid = np.load(prepared["valid_windows"], mmap_mode="r")

    def train_size(self) -> int:
        return len(self.train)

    def train_batch(self, indices: np.ndarray) -> Batch:
        return to_batch(self.train[indices], self.pad_id)

    def eval_size(self) -> int:
        return len(self.valid)

    def eval_batch(self, indices: np.ndarray) -> Batch:
        return to_batch(self.valid[indices], self.pad_id)
