"""The CPM dataset for the core trainer: STC (or the demo corpus) prepared into token windows, read by index.

Preparation (:mod:`benchbase_cpm.prepare`) runs once per node and caches memory-mapped ``.npy`` windows; a rank opens
them and builds a batch's tensors from the rows the core asks for. The order of the rows is the core's
(:mod:`benchbase.train.batch_order`). Building a step's tensors from the memory-mapped array was measured at 1-5 us per
sample (440k windows, warm page cache, 2-core CPU; 0.07-0.17 ms for a 128-sample step), orders of magnitude below a
training step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchbase.contract import Batch, DatasetSpec, ProgressFn, Samples
from benchbase.errors import BenchbaseError
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


class STCDataset(DatasetSpec):
    """``dataset: stc`` reads the user's STC files and the CPM tokenizer; ``dataset: demo`` generates its corpus."""

    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        from benchbase_cpm.prepare import prepare_demo, prepare_official

        workers = int(config.get("prepare_workers") or 0) or None
        window = int(config["seq_length"]) + 1
        if config["dataset"] == "demo":
            prepared = prepare_demo(cache_dir, progress, workers=workers, window=window)
        else:
            if data_dir is None:
                raise BenchbaseError("the stc dataset needs --data-dir", "pass the folder holding STC.json")
            tokenizer_dir = Path(str(config.get("tokenizer_dir") or data_dir))
            prepared = prepare_official(data_dir, tokenizer_dir, cache_dir, progress, workers=workers, window=window)
        facts = asdict(prepared)
        facts.update({k: str(v) for k, v in facts.items() if isinstance(v, Path)})
        return facts

    def open(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> Samples:
        return WindowSamples(prepared)

    def sizes(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> tuple[int, int] | None:
        """The windows preparation counted (one sample is one window), read from its facts."""
        facts = prepared.get("facts")
        try:
            return int(facts["train"]["windows"]), int(facts["valid"]["windows"])
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        if config["dataset"] == "demo":
            yield "generated demo corpus and tokenizer (cached)"
        elif data_dir is None:
            yield "STC data: none given (a real run needs --data-dir DIR holding STC.json)"
        else:
            yield f"STC data: {data_dir}"
            yield f"tokenizer: {config.get('tokenizer_dir') or data_dir}"
