"""The GPU item's parts that do not need a GPU: its data, its commands on the official and large presets, its batch
search (the memory estimate's refusal included), CPM large's notes, the side-by-side of harness and bare loop (with
stand-in runners) and the sync counter's hooks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase.run.memory_estimate import MemoryEstimate, check_fits
from benchmarks import gpu, syncs
from benchmarks.harness_run import RecordedRun, run_budgeted


def record(status: str, reason: str | None = None) -> RecordedRun:
    return RecordedRun({"status": status, "reason": reason, "steps": 3}, {}, {}, reason or "")


def test_without_a_gpu_the_item_is_skipped_and_says_why() -> None:
    results = gpu.run()
    if not torch.cuda.is_available():
        assert len(results) == 1 and results[0].value is None and "no CUDA device" in (results[0].skipped or "")


def refusal(gib: float, device_gib: float = 79.6) -> BenchbaseError:
    """What :func:`benchmarks.harness_run.run_budgeted` raises when ``benchbase run`` refused for memory before its
    record existed: its own error line (made by the real check) at the end of the command's output."""
    with pytest.raises(BenchbaseError) as refused:
        check_fits(MemoryEstimate("fsdp", 1, 1, {"weights": gib * 2**30}), device_gib, "H100")
    return BenchbaseError(f"benchbase run left no run record: preparing the data | error: {refused.value}",
                          "run `benchbase run cpm ...` by hand to see the failure")


def test_the_search_steps_down_past_out_of_memory_to_the_first_batch_that_trains() -> None:
    # Stands in for a GPU: batches above 64 run out of its memory.
    outcomes = {256: record("failed", "rank 0: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB"),
                128: record("failed", "rank 0: torch.OutOfMemoryError: CUDA out of memory."),
                64: record("not_converged")}
    fit = gpu.largest_fitting(outcomes.__getitem__, (256, 128, 64, 32))
    assert (fit.batch, fit.out_of_memory, fit.refused) == (64, (256, 128), ()) and fit.record is outcomes[64]
    assert fit.larger_text() == " (out of memory at 256, 128)"


def test_a_batch_the_memory_estimate_refuses_before_launch_moves_on_like_one_out_of_memory() -> None:
    def run_at(batch: int) -> RecordedRun:
        if batch > 48:
            raise refusal(43.5 + 0.64 * batch)
        return record("failed", "CUDA out of memory") if batch == 48 else record("not_converged")

    fit = gpu.largest_fitting(run_at, (128, 64, 48, 32))
    assert (fit.batch, fit.refused, fit.out_of_memory) == (32, (128, 64), (48,))
    assert fit.larger_text() == " (refused by the memory estimate at 128, 64; out of memory at 48)"


def test_a_run_that_left_no_record_for_another_reason_stops_the_search() -> None:
    def run_at(batch: int) -> RecordedRun:
        raise BenchbaseError("benchbase run left no run record: error: no NVIDIA device found", "install the driver")

    with pytest.raises(BenchbaseError, match="no NVIDIA device found"):
        gpu.largest_fitting(run_at, (64, 32))


def test_when_no_batch_fits_the_search_says_which_were_refused_and_which_ran_out() -> None:
    def run_at(batch: int) -> RecordedRun:
        if batch > 16:
            raise refusal(100.0)
        return record("failed", "CUDA out of memory")

    with pytest.raises(BenchbaseError, match=r"no batch of 32, 16 fits .*estimate: \[32\], out of memory: \[16\]"):
        gpu.largest_fitting(run_at, (32, 16))


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
        gpu.result_of(gpu.Fit(4, found, (8,)))
    # With a stated peak (a stand-in for a GPU's datasheet figure) the summary's figures become the item's lines.
    peak = 1e12
    mfu = found.summary["throughput"]["p_train"] * found.summary["flops_per_sample"] / peak
    stand_in = RecordedRun({**found.summary, "peak_flops_per_device": peak, "mfu": mfu}, found.values,
                           found.prepared, found.failure)
    result = gpu.result_of(gpu.Fit(4, stand_in, (8,)))
    assert result.value == pytest.approx(mfu) and result.met == (mfu >= gpu.GOAL)
    text = "\n".join(result.lines())
    assert "MFU" in text and "batch 4 per device (out of memory at 8)" in text
    assert "power in the train window n/a" in text


#: What CPM large's measured run trains on: the item's settings, a short step budget.
LARGE_SETS = {"precision": "bf16", "activation_checkpointing": False, "grad_accum": 1, "parallelism": "fsdp",
              "compile": "off"}


def large_run(devices: int, batch: int, sharded: bool) -> RecordedRun:
    """CPM large's record as an NVIDIA run would leave it: the summary's figures, the parallelism in its config, its
    weights' provenance and, with several ranks, FSDP's swap event."""
    peak, flops, p_train = 989.4e12, 3.2e12, 150.0 * devices
    summary = {"status": "not_converged", "steps": 50, "devices": devices, "global_batch": batch * devices,
               "device_model": "H100", "sdk": "CUDA 12.8", "flops_per_sample": flops, "peak_flops_per_device": peak,
               "mfu": p_train * flops / (devices * peak), "throughput": {"p_train": p_train, "p_core": p_train * 1.02},
               "memory": {"peak_gib_per_device": 63.14},
               "power": {"mean_w_per_device": 650.0, "energy_per_sample_j": 4.33, "source": "nvml"}}
    events = [{"key": "provenance", "value": "initial weights: random (no init_checkpoint)"}]
    if sharded:
        events.append({"key": "swap", "value": "fully_shard", "metadata": {"module": "CPMModel", "units": 33}})
    return RecordedRun(summary, {"parallelism": "fsdp"}, {}, "", tuple(events))


def test_cpm_large_on_one_gpu_runs_the_large_preset_under_fsdp_and_says_nothing_was_sharded(tmp_path: Path) -> None:
    calls: list[tuple[list[str], int, dict[str, Any]]] = []

    def runner(arguments: Sequence[str], steps: int, sets: Mapping[str, Any]) -> RecordedRun:
        calls.append((list(arguments), steps, dict(sets)))
        batch = int(sets["batch_size"])
        if batch > 48:  # one 80 GB H100, by the estimate: 43.5 GiB of state and 0.64 GiB a sample
            raise refusal(43.5 + 0.64 * batch)
        if batch == 48:
            return record("failed", "rank 0: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1 GiB")
        return large_run(1, batch, sharded=False)

    result = gpu.large_result(tmp_path / "stc", tmp_path / "tokenizer", devices=1, runner=runner)
    assert [sets["batch_size"] for _, _, sets in calls] == [128, 96, 64, 48, 32], "largest first"
    arguments, steps, sets = calls[-1]
    assert arguments[arguments.index("--preset") + 1] == "large"
    assert arguments[arguments.index("--config") + 1] == "1x1" and arguments[arguments.index("--vendor") + 1] == "nvidia"
    assert steps == gpu.LARGE_STEPS and sets == {**LARGE_SETS, "batch_size": 32}
    assert result.title == "GPU: MFU of CPM large, 1x1 fsdp, bf16, largest batch that fits"
    assert result.value == pytest.approx(150.0 * 3.2e12 / 989.4e12) and result.goal == gpu.LARGE_GOAL
    text = "\n".join(result.lines())
    assert "p_train 150.0 samples/s x 3200.00 GFLOP / peak 989.4 TFLOP/s" in text
    assert "batch 32 per device (refused by the memory estimate at 128, 96, 64; out of memory at 48)" in text
    assert "parallelism fsdp on 1 device: FSDP has nothing to shard, so the core trained the model unwrapped" in text
    assert "initial weights: random (no init_checkpoint)" in text
    assert "peak memory 63.1 GiB per device" in text and "650 W per device, 4.33 J per sample (source: nvml)" in text


def test_cpm_large_on_several_gpus_reports_the_sharding_its_record_shows(tmp_path: Path) -> None:
    result = gpu.large_result(tmp_path, tmp_path, devices=8,
                              runner=lambda arguments, steps, sets: large_run(8, int(sets["batch_size"]), True))
    text = "\n".join(result.lines())
    assert "1x8 fsdp" in result.title and "batch 128 per device, global 1024, 50 steps" in text
    assert "/ 8 x peak 989.4 TFLOP/s" in text
    assert "FSDP2 sharded the model over 8 devices (33 units, its fully_shard swap event)" in text
    # A sharded run whose record lacks the swap says so rather than claiming the sharding.
    unsharded = gpu.large_result(tmp_path, tmp_path, devices=8,
                                 runner=lambda arguments, steps, sets: large_run(8, int(sets["batch_size"]), False))
    assert "but the record holds no fully_shard swap event" in "\n".join(unsharded.lines())


def test_a_failing_cpm_large_is_a_skipped_result_that_says_why(tmp_path: Path) -> None:
    result = gpu.large_result(tmp_path, tmp_path, devices=1,
                              runner=lambda arguments, steps, sets: record("failed", "rank 0: RuntimeError: NCCL"))
    assert result.value is None and "ended failed: rank 0: RuntimeError: NCCL" in (result.skipped or "")


@pytest.mark.skipif(gpu.real_tokenizer() is None, reason="real CPM tokenizer absent from ../shared/cpm")
def test_the_large_presets_command_trains_sharded_from_random_weights_on_two_cpu_ranks(tmp_path: Path) -> None:
    data_dir = tmp_path / "stc"
    gpu.write_stc_json(data_dir, train_pairs=200, valid_pairs=8)
    tokenizer = gpu.real_tokenizer()
    assert tokenizer is not None
    calls: list[list[str]] = []

    def on_cpu(arguments: Sequence[str], steps: int, sets: Mapping[str, Any]) -> RecordedRun:
        # Two CPU ranks over gloo and a tiny model stand in for the GPUs and CPM large; the rest is the measured
        # command's. The CPU vendor knows no peak FLOP/s, so a stated one stands in for a datasheet's.
        calls.append(list(arguments))
        found = run_budgeted(arguments, steps, {**sets, "precision": "fp32", "model_size": "tiny",
                                                "eval_batch_size": 4})
        summary = found.summary
        mfu = summary["throughput"]["p_train"] * summary["flops_per_sample"] / (summary["devices"] * 1e12)
        return RecordedRun({**summary, "peak_flops_per_device": 1e12, "mfu": mfu}, found.values, found.prepared,
                           found.failure, found.events)

    result = gpu.large_result(data_dir, tokenizer.parent, devices=2, steps=3, runner=on_cpu, vendor="cpu",
                              batches=(4,))
    assert calls[0][calls[0].index("--preset") + 1] == "large" and "1x2" in calls[0]
    assert result.value is not None and result.value > 0, result.skipped
    text = "\n".join(result.lines())
    # The data folder holds no CPM-large shards: the preset starts from random weights and its record says so.
    assert "initial weights: random (no init_checkpoint)" in text
    # Two units of the tiny model's layers and the root: sharded, as the record's swap event shows.
    assert "parallelism fsdp: FSDP2 sharded the model over 2 devices (3 units" in text


@pytest.mark.skipif(gpu.real_tokenizer() is None, reason="real CPM tokenizer absent from ../shared/cpm")
@pytest.mark.skipif(psutil.virtual_memory().available >= 38 * 2**30,
                    reason="this host could hold CPM large's fp32 state (38.7 GiB): the run would train it")
def test_the_memory_estimates_real_refusal_of_cpm_large_moves_the_search_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "stc"
    gpu.write_stc_json(data_dir, train_pairs=200, valid_pairs=8)
    tokenizer = gpu.real_tokenizer()
    assert tokenizer is not None
    # The host stands in for a device too small for CPM large (2.6B parameters: 38.7 GiB of fp32 weights, gradients
    # and AdamW moments): `benchbase run` refuses before launch, and the search counts the batch as not fitting.
    arguments = gpu.official_run_arguments(data_dir, tokenizer.parent, "cpu", preset="large")
    sets = {**gpu.large_sets(1), "precision": "fp32", "eval_batch_size": 4}
    with pytest.raises(BenchbaseError, match=r"no batch of 1 fits the device \(refused by the memory estimate: \[1\]"):
        gpu.largest_fitting(lambda batch: run_budgeted(arguments, 2, {**sets, "batch_size": batch}), (1,))


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
