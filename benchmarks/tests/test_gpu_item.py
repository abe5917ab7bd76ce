"""The GPU item's parts that do not need a GPU: its data, its command on the official preset, its batch search."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchbase.errors import BenchbaseError
from benchmarks import gpu
from benchmarks.harness_run import RecordedRun, run_budgeted


def record(status: str, reason: str | None = None) -> RecordedRun:
    return RecordedRun({"status": status, "reason": reason, "steps": 3}, {}, {}, reason or "")


def test_without_a_gpu_the_item_is_skipped_and_says_why() -> None:
    result = gpu.run()
    if not torch.cuda.is_available():
        assert result.value is None and "no CUDA device" in (result.skipped or "")


def test_the_search_steps_down_past_out_of_memory_to_the_first_batch_that_trains() -> None:
    # Stands in for a GPU: batches above 64 run out of its memory.
    outcomes = {256: record("failed", "rank 0: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB"),
                128: record("failed", "rank 0: torch.OutOfMemoryError: CUDA out of memory."),
                64: record("not_converged")}
    batch, found, too_large = gpu.largest_fitting(outcomes.__getitem__, (256, 128, 64, 32))
    assert (batch, too_large) == (64, [256, 128]) and found is outcomes[64]


def test_a_failure_other_than_memory_stops_the_search() -> None:
    with pytest.raises(BenchbaseError, match="ended failed: rank 0: ValueError: bad"):
        gpu.largest_fitting(lambda batch: record("failed", "rank 0: ValueError: bad"), (64, 32))


@pytest.mark.skipif(gpu.real_tokenizer() is None, reason="real CPM tokenizer absent from ../shared/cpm")
def test_the_generated_stc_trains_through_the_official_preset_and_records_its_throughput(tmp_path: Path) -> None:
    data_dir = tmp_path / "stc"
    gpu.write_stc_json(data_dir, train_pairs=200, valid_pairs=8)
    tokenizer = gpu.real_tokenizer()
    assert tokenizer is not None
    # The CPU and a tiny model stand in for the GPU and CPM medium; everything else is the measured command's.
    arguments = gpu.official_run_arguments(data_dir, tokenizer.parent, vendor="cpu")
    sets = {**gpu.measurement_sets(4), "precision": "fp32", "model_size": "tiny", "eval_batch_size": 4}
    found = run_budgeted(arguments, 3, sets)
    assert found.summary["status"] == "not_converged" and found.summary["steps"] == 3
    assert found.summary["preset"] == "official" and found.summary["per_device_batch"] == 4
    assert found.summary["throughput"]["p_train"] > 0 and found.values["activation_checkpointing"] is False
    # The CPU vendor knows no peak FLOP/s, so there is no MFU to report: the item says what to add.
    assert found.summary["mfu"] is None
    with pytest.raises(BenchbaseError, match="recorded no MFU"):
        gpu.result_of(4, found, [8])
    # With a stated peak (a stand-in for a GPU's datasheet figure) the summary's figures become the item's lines.
    peak = 1e12
    mfu = found.summary["throughput"]["p_train"] * found.summary["flops_per_sample"] / peak
    stand_in = RecordedRun({**found.summary, "peak_flops_per_device": peak, "mfu": mfu}, found.values,
                           found.prepared, found.failure)
    result = gpu.result_of(4, stand_in, [8])
    assert result.value == pytest.approx(mfu) and result.met == (mfu >= gpu.GOAL)
    text = "\n".join(result.lines())
    assert "MFU" in text and "batch 4 per device (out of memory at 8)" in text
    assert "power in the train window n/a" in text
