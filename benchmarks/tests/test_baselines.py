"""Each baseline does the same work as the code it is compared with: same data, same ids, same values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.train.batch_order import TrainOrder
from benchbase_cpm.samples import to_batch
from benchbase_cpm.windows import build_windows
from benchmarks import bare_loop, data_prep, metric_speed


def test_the_bare_loop_trains_on_the_windows_the_core_order_gives_the_harness_across_an_epoch_boundary() -> None:
    stream = TrainOrder(50, global_batch=8, micro_batch=4, rank=0, world_size=1, seed=7)
    ours = bare_loop.step_indices(50, 8, seed=7)
    for step in range(8):  # 6 steps per epoch: steps 6 and 7 follow the second epoch's order
        indices = next(ours)
        assert np.array_equal(indices, stream.global_indices(step))
        # The bare loop's micro-batches (consecutive slices of the step) are the core's accumulation order.
        assert all(np.array_equal(indices[i * 4:(i + 1) * 4], part) for i, part in enumerate(stream.rank_indices(step)))


def test_the_bare_loops_tensors_equal_the_datasets_batch() -> None:
    rows = np.array([[3, 9, 4, 5, 5], [8, 8, 2, 6, 5]], dtype=np.uint16)
    inputs, labels, mask, positions = bare_loop.tensors(torch.from_numpy(rows.astype(np.int64)), pad_id=5)
    expected = to_batch(rows, pad_id=5)
    assert torch.equal(inputs, expected["input_ids"]) and torch.equal(labels, expected["labels"])
    assert torch.equal(mask, expected["loss_mask"]) and torch.equal(positions, expected["position_ids"])


def test_the_reference_style_loop_gives_our_embedding_average_including_skipped_and_zero_samples() -> None:
    [(predictions, labels, mask, embedding)] = metric_speed.batch_inputs(batch=6, seq=30, vocab=40, hidden=8)
    mask[1] = False  # nothing to compare against: skipped by both
    embedding[3] = 0.0
    predictions[2] = 3  # sample 2 predicts only token 3, whose row is zero: scores 0, still counted
    labels[2] = torch.where(labels[2] == 3, 4, labels[2])
    assert metric_speed.reference_style(predictions, labels, mask, embedding) == pytest.approx(
        metric_speed.ours(predictions, labels, mask, embedding), abs=1e-6)


@pytest.mark.skipif(data_prep.real_tokenizer() is None, reason="real CPM tokenizer absent from ../shared/cpm")
def test_the_naive_loop_and_build_windows_give_identical_windows_for_long_and_short_lines(tmp_path: Path) -> None:
    long_line = "对话上文:" + "很长的一句话" * 80 + " 回复:好\n"  # several windows' worth of ids
    lines = data_prep.stc_lines(300) + [long_line]
    lines_file = tmp_path / "train.txt"
    lines_file.write_text("".join(lines), encoding="utf-8")
    model = data_prep.real_tokenizer()
    naive = data_prep.naive_windows(lines_file, model)
    built = build_windows(lines_file, model, tmp_path / "out", workers=2, chunk_lines=100).load()
    assert naive.shape[0] > len(lines)
    assert np.array_equal(naive, built)


def test_the_parts_the_naive_loop_takes_in_turn_are_the_whole_text_in_order(tmp_path: Path) -> None:
    lines_file = tmp_path / "train.txt"
    lines_file.write_text("".join(f"line {number}\n" for number in range(7)), encoding="utf-8")
    halves = data_prep.split_lines(lines_file, 2)
    assert [count for _, count in halves] == [4, 3]
    assert "".join(path.read_text(encoding="utf-8") for path, _ in halves) == lines_file.read_text(encoding="utf-8")


@pytest.mark.skipif(data_prep.real_tokenizer() is None, reason="real CPM tokenizer absent from ../shared/cpm")
def test_the_naive_loop_in_parts_is_checked_against_the_whole_parallel_build(tmp_path: Path) -> None:
    lines_file = tmp_path / "train.txt"
    lines_file.write_text("".join(data_prep.stc_lines(400)), encoding="utf-8")
    pairs = data_prep.PARTS
    comparison, identical = data_prep.measure_pairs(lines_file, data_prep.real_tokenizer(), 400, tmp_path, pairs)
    assert identical
    assert len(comparison.baseline.values) == len(comparison.candidate.values) == pairs
