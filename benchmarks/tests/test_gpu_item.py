"""The GPU item's parts that do not need a GPU: its data, its command on the official preset, its batch search, the
side-by-side of harness and bare loop (with stand-in runners) and the sync counter's hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from benchbase.errors import BenchbaseError
from benchmarks import gpu, syncs
from benchmarks.harness_run import RecordedRun, run_budgeted


def record(status: str, reason: str | None = None) -> RecordedRun:
    return RecordedRun({"status": status, "reason": reason, "steps": 3}, {}, {}, reason or "")


def test_without_a_gpu_the_item_is_skipped_and_says_why() -> None:
    results = gpu.run()
    if not torch.cuda.is_available():
        assert len(results) == 1 and results[0].value is None and "no CUDA device" in (results[0].skipped or "")


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
    probe = tmp_path / "worker-syncs.json"
    found = run_budgeted(arguments, 3, sets, gpu.probe_environment(probe))
    assert found.summary["status"] == "not_converged" and found.summary["steps"] == 3
    # The sync probe loaded in the worker (only there) and counted through torch's GPU trace: nothing on a CPU.
    assert json.loads(probe.read_text())["installed"] is True
    assert gpu.harness_syncs(found, probe) == {"device": 0, "stream": 0, "event": 0}
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


T0 = 1_000_000.0  # ms


def stand_in_run(samples_per_s: float, steps: int = 60, log_interval: int = 10, batch: int = 8) -> RecordedRun:
    """A harness record as a GPU run would leave it: a step event every log interval, the first one after a slow
    first interval (compiling), evaluations before and after, and the windows event that bounds the train loop."""
    events: list[dict[str, Any]] = [{"key": "eval", "time_ms": T0 + 900.0}]
    first_ms = T0 + 1000.0 + 30_000.0  # the first interval: 30 s of compiling
    for step in range(log_interval, steps + 1, log_interval):
        elapsed_s = (step - log_interval) * batch / samples_per_s
        events.append({"key": "step", "step": step, "samples": step * batch, "time_ms": first_ms + 1000 * elapsed_s})
    end_ms = events[-1]["time_ms"]
    windows = {"train_start_ms": T0, "train_end_ms": end_ms + 600.0,
               "eval_intervals_ms": [[T0, T0 + 900.0], [end_ms + 10.0, end_ms + 500.0]]}
    events.append({"key": "windows", "time_ms": end_ms + 600.0, "metadata": windows})
    summary = {"status": "not_converged", "steps": steps, "per_device_batch": batch}
    return RecordedRun(summary, {"log_interval": log_interval}, {}, "", tuple(events))


def test_the_steady_rate_leaves_out_the_first_log_interval_as_the_bare_loop_does() -> None:
    assert gpu.steady_rate(stand_in_run(400.0)) == pytest.approx(400.0)
    with pytest.raises(BenchbaseError, match="needs two"):
        gpu.steady_rate(stand_in_run(400.0, steps=10))


def test_the_side_by_side_counts_syncs_in_an_untimed_pair_then_judges_the_timed_pairs(tmp_path: Path) -> None:
    calls: list[tuple[str, str, bool]] = []
    rates = iter([400.0, 396.0, 401.0, 398.0, 399.0])

    def harness(mode: str, probe: Path | None) -> RecordedRun:
        calls.append(("harness", mode, probe is not None))
        run = stand_in_run(392.0 if probe is not None else next(rates))
        if probe is not None:  # what the worker's sitecustomize writes: every sync with its time
            loop = [["device", T0 + 1000.0]] + [["device", e["time_ms"]] for e in run.events if e["key"] == "step"]
            loop += [["stream", e["time_ms"] + 0.1] for e in run.events if e["key"] == "step"]
            outside = [["stream", T0 - 5000.0], ["device", T0 + 100.0], ["device", run.events[-1]["time_ms"] - 300]]
            probe.write_text(json.dumps({"installed": True, "stamps": loop + outside + [["device", T0 + 10**7]]}))
        return run

    def bare(mode: str, count: bool) -> dict[str, Any]:
        calls.append(("bare", mode, count))
        figures: dict[str, Any] = {"samples_per_s": 400.0}
        if count:
            figures.update(syncs={"device": 3, "stream": 0, "event": 0}, syncs_counted=True)
        return figures

    result = gpu.side_by_side("on", harness, bare, steps=60, pairs=5, scratch=tmp_path)
    assert calls[:2] == [("harness", "on", True), ("bare", "on", True)], "the counting pair comes first"
    assert sorted(calls[2:]) == sorted([("harness", "on", False), ("bare", "on", False)] * 5)
    assert result.comparison is not None and len(result.comparison.pair_ratios) == 5, "the counting pair is untimed"
    assert result.value == pytest.approx(399.0 / 400.0)
    assert result.verdict == "met" and "compiled" in result.title
    text = "\n".join(result.lines())
    assert "bare loop 0.050 per step (device 3, stream 0, event 0 in 60 steps)" in text
    # In the train loop: its start, six log points' syncs and their .item()s; the evaluations and after are not.
    assert "benchbase run 0.217 per step (device 7, stream 6, event 0 in 60 steps)" in text
    assert "timed from step 10 to the end" in text


def test_a_side_by_side_whose_counting_run_fails_is_skipped_with_the_reason(tmp_path: Path) -> None:
    failing = record("failed", "rank 0: torch._dynamo.exc.BackendCompilerFailed")
    result = gpu.side_by_side("on", lambda mode, probe: failing, lambda mode, count: {"samples_per_s": 1.0},
                              steps=60, pairs=5, scratch=tmp_path)
    assert result.value is None and "BackendCompilerFailed" in (result.skipped or "")


def test_the_sync_counter_listens_to_torchs_own_gpu_trace() -> None:
    import torch.cuda._gpu_trace as trace

    counter = syncs.SyncCounter(clock=lambda: 2.0)
    assert counter.install() and counter.installed
    # Without a GPU nothing fires; torch's registries stand in for the device here.
    trace.DeviceSynchronizationCallbacks.fire_callbacks()
    assert counter.counts == {"device": 0, "stream": 0, "event": 0}, "counts only while active"
    counter.active = True
    trace.DeviceSynchronizationCallbacks.fire_callbacks()
    trace.StreamSynchronizationCallbacks.fire_callbacks(7)
    trace.StreamSynchronizationCallbacks.fire_callbacks(7)
    trace.EventSynchronizationCallbacks.fire_callbacks(3)
    counter.active = False
    assert counter.counts == {"device": 1, "stream": 2, "event": 1}
    assert counter.record()["stamps"][0] == ["device", 2000.0]
