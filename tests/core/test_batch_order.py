"""The core's batch order, for every case: it depends on the global batch only, never on how ranks split it."""

from __future__ import annotations

import numpy as np
import pytest

from benchbase.train.batch_order import TrainOrder, eval_ranges
from benchbase.errors import BenchbaseError


def stream(size: int, **kwargs: int) -> TrainOrder:
    settings = {"seed": 23333, "rank": 0, "world_size": 1} | kwargs
    return TrainOrder(size, **settings)


def global_batch_of(step: int, size: int, world_size: int, micro_batch: int, global_batch: int) -> list[int]:
    """What all ranks together consume at ``step``: ranks in order, each rank's micro-batches in order."""
    ids: list[int] = []
    for rank in range(world_size):
        order = stream(size, global_batch=global_batch, micro_batch=micro_batch, rank=rank, world_size=world_size)
        for micro in order.rank_indices(step):
            ids += micro.tolist()
    return ids


def test_one_rank_accumulating_two_sees_what_two_ranks_see_together() -> None:
    for step in range(20):  # crosses two epoch boundaries (6 steps per epoch)
        single = global_batch_of(step, 96, world_size=1, micro_batch=8, global_batch=16)
        pair = global_batch_of(step, 96, world_size=2, micro_batch=8, global_batch=16)
        assert single == pair
    assert stream(96, global_batch=16, micro_batch=8).accum == 2


def test_a_global_batch_is_split_into_disjoint_contiguous_rank_slices() -> None:
    ranks = [stream(200, global_batch=32, micro_batch=4, rank=r, world_size=4) for r in range(4)]
    everything = ranks[0].global_indices(3).tolist()
    shares = [[i for batch in rank.rank_indices(3) for i in batch.tolist()] for rank in ranks]
    assert [len(share) for share in shares] == [8, 8, 8, 8]
    assert sum(shares, []) == everything
    assert len(set(everything)) == 32


def test_an_epoch_visits_every_sample_exactly_once() -> None:
    order = stream(64, global_batch=16, micro_batch=16)
    seen = [i for step in range(4) for i in order.rank_indices(step)[0].tolist()]
    assert sorted(seen) == list(range(64))


def test_the_tail_that_cannot_fill_a_global_batch_is_dropped_each_epoch() -> None:
    order = stream(70, global_batch=16, micro_batch=16)
    assert order.steps_per_epoch == 4
    first_epoch = {i for step in range(4) for i in order.global_indices(step).tolist()}
    second_epoch = {i for step in range(4, 8) for i in order.global_indices(step).tolist()}
    assert len(first_epoch) == len(second_epoch) == 64
    assert first_epoch != second_epoch  # another permutation drops other samples


def test_each_epoch_has_its_own_order_and_the_seed_decides_it() -> None:
    order = stream(64, global_batch=64, micro_batch=64)
    assert order.global_indices(0).tolist() != order.global_indices(1).tolist()
    assert order.global_indices(5).tolist() == stream(64, global_batch=64, micro_batch=64).global_indices(5).tolist()
    other_seed = stream(64, global_batch=64, micro_batch=64, seed=1)
    assert order.global_indices(0).tolist() != other_seed.global_indices(0).tolist()


def test_epoch_order_is_numpys_frozen_legacy_permutation() -> None:
    """The order must not depend on a vendor's torch build; RandomState's stream is frozen by NumPy (NEP 19)."""
    order = stream(50, global_batch=10, micro_batch=10, seed=100)
    assert order.epoch_order(2).tolist() == np.random.RandomState(102).permutation(50).tolist()


def test_the_order_is_a_function_of_the_step_so_a_resumed_run_continues_the_same_stream() -> None:
    fresh = stream(80, global_batch=16, micro_batch=8)
    ahead = [fresh.rank_indices(step)[1].tolist() for step in range(12)]
    resumed = stream(80, global_batch=16, micro_batch=8)
    assert [resumed.rank_indices(step)[1].tolist() for step in range(7, 12)] == ahead[7:]


def test_a_global_batch_that_does_not_split_evenly_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="global batch 20 is not a multiple of per-device batch 8 x 2 ranks"):
        stream(64, global_batch=20, micro_batch=8, world_size=2)


def test_fewer_samples_than_one_global_batch_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="has 10 samples, fewer than one global batch of 16"):
        stream(10, global_batch=16, micro_batch=16)


def eval_partition(size: int, batch: int, world_size: int) -> list[list[int]]:
    """All ranks' eval batches, in batch order (batch ``i`` is on rank ``i mod world_size``)."""
    per_rank = [list(eval_ranges(size, batch=batch, rank=rank, world_size=world_size)) for rank in range(world_size)]
    return [list(per_rank[i % world_size][i // world_size]) for i in range(sum(map(len, per_rank)))]


def test_eval_batches_are_consecutive_stored_samples_the_last_one_short_dealt_to_ranks_in_turn() -> None:
    rank0 = eval_ranges(23, batch=5, rank=0, world_size=2)
    rank1 = eval_ranges(23, batch=5, rank=1, world_size=2)
    assert [list(batch) for batch in rank0] == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14], [20, 21, 22]]
    assert [list(batch) for batch in rank1] == [[5, 6, 7, 8, 9], [15, 16, 17, 18, 19]]


@pytest.mark.parametrize("world_size", [2, 3, 4, 7])
def test_every_world_size_scores_every_sample_in_the_same_batches_as_one_rank(world_size: int) -> None:
    """23 samples in batches of 5 divide neither by 5 nor by 5 x ranks: nothing is dropped at any world size."""
    single = eval_partition(23, batch=5, world_size=1)
    assert single == [list(range(start, min(start + 5, 23))) for start in range(0, 23, 5)]
    assert eval_partition(23, batch=5, world_size=world_size) == single


def test_a_rank_may_get_no_eval_batch_when_there_are_fewer_batches_than_ranks() -> None:
    assert [len(list(eval_ranges(7, batch=4, rank=rank, world_size=3))) for rank in range(3)] == [1, 1, 0]


def test_the_batches_of_a_split_larger_than_memory_are_made_as_they_are_reached() -> None:
    """A trillion samples: listing their indices would take terabytes; the first batches come at once."""
    batches = eval_ranges(10**12, batch=4, rank=1, world_size=2)
    assert [next(batches), next(batches)] == [range(4, 8), range(12, 16)]


def test_an_empty_validation_split_is_a_user_error() -> None:
    with pytest.raises(BenchbaseError, match="the validation split has no samples"):
        eval_ranges(0, batch=4, rank=0, world_size=2)
