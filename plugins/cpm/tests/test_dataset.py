"""The CPM dataset as the core reads it: window rows become next-token pairs with a padding mask and positions."""

from __future__ import annotations

import numpy as np
import torch

from benchbase_cpm.samples import WindowSamples, to_batch

PAD = 5
WINDOW = 201


def numbered_windows(count: int) -> np.ndarray:
    """Window ``i`` starts with token ``1000 + i`` (so a batch shows which windows it holds), then a few tokens,
    then padding, like real windows of short lines."""
    windows = np.full((count, WINDOW), PAD, dtype=np.uint16)
    windows[:, 0] = 1000 + np.arange(count)
    windows[:, 1:4] = [11, 12, 7]
    return windows


def test_batches_are_next_token_pairs_with_a_padding_mask_and_positions() -> None:
    batch = to_batch(numbered_windows(3), PAD)
    assert {name: (tensor.dtype, tuple(tensor.shape)) for name, tensor in batch.items()} == {
        "input_ids": (torch.int64, (3, 200)),
        "labels": (torch.int64, (3, 200)),
        "loss_mask": (torch.bool, (3, 200)),
        "position_ids": (torch.int64, (3, 200)),
    }
    assert batch["input_ids"][1, :5].tolist() == [1001, 11, 12, 7, PAD]
    assert batch["labels"][1, :5].tolist() == [11, 12, 7, PAD, PAD]
    assert batch["loss_mask"][1, :5].tolist() == [True, True, True, False, False]
    assert torch.equal(batch["position_ids"][2], torch.arange(200))


def test_samples_are_the_prepared_windows_read_by_the_indices_the_core_asks_for(tmp_path) -> None:
    np.save(tmp_path / "train.npy", numbered_windows(9))
    np.save(tmp_path / "valid.npy", numbered_windows(4))
    samples = WindowSamples(
        {"pad_id": PAD, "train_windows": str(tmp_path / "train.npy"), "valid_windows": str(tmp_path / "valid.npy")}
    )
    assert (samples.train_size(), samples.eval_size()) == (9, 4)
    assert (samples.train_batch(np.array([7, 2]))["input_ids"][:, 0] - 1000).tolist() == [7, 2]
    assert (samples.eval_batch(np.array([3]))["input_ids"][:, 0] - 1000).tolist() == [3]
