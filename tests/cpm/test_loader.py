"""Training and evaluation batches: the order depends on the global batch only, never on how ranks split it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.loader import TrainBatches, eval_batches, to_batch

PAD = 5
WINDOW = 201


def numbered_windows(count: int) -> np.ndarray:
    """Window ``i`` starts with token ``1000 + i`` (so a batch shows which windows it holds), then a few tokens,
    then padding, like real windows of short lines."""
    windows = np.full((count, WINDOW), PAD, dtype=np.uint16)
    windows[:, 0] = 1000 + np.arange(count)
    windows[:, 1:4] = [11, 12, 7]
    return windows


def window_ids(batch: dict[str, torch.Tensor]) -> list[int]:
    return (batch["input_ids"][:, 0] - 1000).tolist()


def stream(windows: np.ndarray, **kwargs) -> TrainBatches:
    settings = {"pad_id": PAD, "seed": 23333, "rank": 0, "world_size": 1} | kwargs
    return TrainBatches(windows, **settings)


def global_batch_of(step: int, windows: np.ndarray, world_size: int, micro_batch: int, global_batch: int) -> list[int]:
    """What all ranks together consume at ``step``: ranks in order, each rank's micro-batches in order."""
    ids: list[int] = []
    for rank in range(world_size):
        ranks_stream = stream(windows, global_batch=global_batch, micro_batch=micro_batch, rank=rank,
                              world_size=world_size)
        for batch in ranks_stream.batches_for(step):
            ids += window_ids(batch)
    return ids


def test_one_rank_accumulating_two_sees_what_two_ranks_see_together() -> None:
    windows = numbered_windows(96)
    for step in range(20):  # crosses two epoch boundaries (6 steps per epoch)
        single = global_batch_of(step, windows, world_size=1, micro_batch=8, global_batch=16)
        pair = global_batch_of(step, windows, world_size=2, micro_batch=8, global_batch=16)
        assert single == pair
    assert stream(windows, global_batch=16, micro_batch=8).accum == 2


def test_a_global_batch_is_split_into_disjoint_contiguous_rank_slices() -> None:
    windows = numbered_windows(200)
    ranks = [stream(windows, global_batch=32, micro_batch=4, rank=r, world_size=4) for r in range(4)]
    everything = ranks[0].global_indices(3).tolist()
    shares = [[i for batch in rank.rank_indices(3) for i in batch.tolist()] for rank in ranks]
    assert [len(share) for share in shares] == [8, 8, 8, 8]
    assert sum(shares, []) == everything
    assert len(set(everything)) == 32


def test_an_epoch_visits_every_window_exactly_once() -> None:
    windows = numbered_windows(64)
    batches = stream(windows, global_batch=16, micro_batch=16)
    seen = [i for step in range(4) for i in window_ids(batches.batches_for(step)[0])]
    assert sorted(seen) == list(range(64))


def test_the_tail_that_cannot_fill_a_global_batch_is_dropped_each_epoch() -> None:
    windows = numbered_windows(70)
    batches = stream(windows, global_batch=16, micro_batch=16)
    assert batches.steps_per_epoch == 4
    first_epoch = {i for step in range(4) for i in batches.global_indices(step).tolist()}
    second_epoch = {i for step in range(4, 8) for i in batches.global_indices(step).tolist()}
    assert len(first_epoch) == len(second_epoch) == 64
    assert first_epoch != second_epoch  # another permutation drops other windows


def test_each_epoch_has_its_own_order_and_the_seed_decides_it() -> None:
    windows = numbered_windows(64)
    batches = stream(windows, global_batch=64, micro_batch=64)
    assert batches.global_indices(0).tolist() != batches.global_indices(1).tolist()
    same_seed = stream(windows, global_batch=64, micro_batch=64)
    assert batches.global_indices(5).tolist() == same_seed.global_indices(5).tolist()
    other_seed = stream(windows, global_batch=64, micro_batch=64, seed=1)
    assert batches.global_indices(0).tolist() != other_seed.global_indices(0).tolist()


def test_epoch_order_is_numpys_frozen_legacy_permutation() -> None:
    """The order must not depend on a vendor's torch build; RandomState's stream is frozen by NumPy (NEP 19)."""
    batches = stream(numbered_windows(50), global_batch=10, micro_batch=10, seed=100)
    assert batches.epoch_order(2).tolist() == np.random.RandomState(102).permutation(50).tolist()


def test_resuming_at_a_step_continues_the_same_stream() -> None:
    windows = numbered_windows(80)
    fresh = iter(stream(windows, global_batch=16, micro_batch=8))
    ahead = [window_ids(micro) for step in [next(fresh) for _ in range(12)] for micro in step]
    resumed = stream(windows, global_batch=16, micro_batch=8, start_step=7)
    after = [window_ids(micro) for step in [next(iter(resumed)) for _ in range(5)] for micro in step]
    assert after == ahead[14:]
    assert resumed.step == 12


def test_batches_are_next_token_pairs_with_a_padding_mask_and_positions() -> None:
    rows = numbered_windows(3)
    batch = to_batch(rows, PAD)
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


def test_a_global_batch_that_does_not_split_evenly_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="global batch 20 is not a multiple of per-device batch 8 x 2 ranks"):
        stream(numbered_windows(64), global_batch=20, micro_batch=8, world_size=2)


def test_fewer_windows_than_one_global_batch_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="has 10 windows, fewer than one global batch of 16"):
        stream(numbered_windows(10), global_batch=16, micro_batch=16)


def test_eval_batches_are_in_file_order_sharded_per_global_batch_without_the_incomplete_tail() -> None:
    windows = numbered_windows(23)
    rank0 = eval_batches(windows, pad_id=PAD, batch=5, rank=0, world_size=2)
    rank1 = eval_batches(windows, pad_id=PAD, batch=5, rank=1, world_size=2)
    assert len(rank0) == len(rank1) == 2
    assert [window_ids(batch) for batch in rank0] == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14]]
    assert [window_ids(batch) for batch in rank1] == [[5, 6, 7, 8, 9], [15, 16, 17, 18, 19]]
    assert [window_ids(batch) for batch in rank0] == [window_ids(batch) for batch in rank0]  # re-iterable


def test_a_validation_split_smaller_than_one_global_eval_batch_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="has 7 windows, fewer than one eval batch of 4 x 2 ranks"):
        eval_batches(numbered_windows(7), pad_id=PAD, batch=4, rank=0, world_size=2)
