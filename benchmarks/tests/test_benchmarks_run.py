"""The benchmarks run end to end at small sizes and report what they compared."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from benchmarks import gpu, harness_overhead, harness_run, matmul_peak, model_speed, profiler_log, run_all


@pytest.mark.skipif(gpu.skip_reason() is None, reason="here benchmark 6 is a real GPU measurement of minutes")
def test_run_all_prints_the_machine_each_block_and_a_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["6"]) == 0
    out = capsys.readouterr().out
    assert "usable cores" in out and "load average at start" in out
    assert f"6. {gpu.TITLE}" in out and out.splitlines()[-2].endswith("skipped")
    assert "90% interval" in out, "the summary has an interval column"


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers (bench extra) absent")
def test_the_transformers_model_gets_exactly_our_shape_and_both_train() -> None:
    shape = model_speed.Shape(n_layer=1, n_embd=32, n_head=2, vocab_size=100, seq_length=12, batch=2)
    ours, theirs = model_speed.build_pair(shape)
    assert theirs.config._attn_implementation == "sdpa"
    before = [p.detach().clone() for p in (ours.word_embeddings.weight, theirs.transformer.wte.weight)]
    our_step, their_step = model_speed.training_steps(ours, theirs, shape)
    our_step()
    their_step()
    after = (ours.word_embeddings.weight, theirs.transformer.wte.weight)
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_largest_differences_are_signed_and_sorted_by_size() -> None:
    baseline = {"aten::mul": 0.5, "aten::mm": 2.0, "aten::tanh": 0.2}
    candidate = {"aten::mm": 2.01, "aten::gelu": 0.05}
    assert model_speed.largest_differences(baseline, candidate, 3) == [
        "aten::mul +0.500 s", "aten::tanh +0.200 s", "aten::gelu -0.050 s"]


def test_a_real_benchbase_run_and_the_bare_loop_train_the_same_budget(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHBASE_CACHE_DIR", str(tmp_path / "cache"))
    run = harness_run.run_demo(3)
    assert run.steps == 3 and run.p_train > 0
    assert run.values["target"] == harness_run.UNREACHABLE_TARGET and run.values["max_steps"] == 3
    figures = harness_overhead.bare_loop(run, 3)
    assert figures["samples"] == 3 * run.values["batch_size"] and figures["samples_per_s"] > 0
    assert "syncs" not in figures, "a timed run counts nothing"
    # As on a GPU: timed after a warm-up step, syncs counted through torch's GPU trace (none fire on the CPU).
    warm = harness_overhead.bare_loop(run, 3, warm_steps=1, count_syncs=True)
    assert warm["samples"] == 2 * run.values["batch_size"] and warm["warm_steps"] == 1
    assert warm["syncs_counted"] is True and warm["syncs"] == {"device": 0, "stream": 0, "event": 0}


def test_the_quietest_profile_keeps_each_operators_least_time_and_shares_add_up() -> None:
    first = model_speed.StepProfile({"aten::mm": 2.0, "aten::mul": 0.5}, optimizer_s=0.4)
    second = model_speed.StepProfile({"aten::mm": 1.5, "aten::mul": 0.9, "aten::tanh": 0.1}, optimizer_s=0.6)
    quiet = model_speed.quietest([first, second])
    assert quiet.self_s == {"aten::mm": 1.5, "aten::mul": 0.5, "aten::tanh": 0.0}
    assert quiet.optimizer_s == 0.4
    assert quiet.share(model_speed.MATMUL_OPS) == pytest.approx(0.75)


def test_a_timed_multiply_counts_two_flops_per_multiply_add_and_the_largest_is_the_output_layer() -> None:
    assert matmul_peak.matmul_flops_per_s(64, 32, 16, repeats=2) > 0
    shape = model_speed.Shape(n_layer=2, n_embd=64, n_head=2, vocab_size=500, seq_length=10, batch=3)
    assert model_speed.largest_matmul(shape) == (30, 64, 500)
    # The case's own count, per sample, times the batch: 72 L h^2 + 12 L s h + 6 h V per token, 10 tokens a sample.
    per_token = 72 * 2 * 64**2 + 12 * 2 * 10 * 64 + 6 * 64 * 500
    assert model_speed.step_flops(shape) == per_token * 10 * 3


def test_the_medium_shape_is_cpm_mediums_layer_width_and_a_step_of_it_trains(tmp_path: Path) -> None:
    assert (model_speed.MEDIUM.n_embd, model_speed.MEDIUM.n_head, model_speed.MEDIUM.vocab_size) == (1024, 16, 30000)
    shape = model_speed.Shape(n_layer=1, n_embd=32, n_head=2, vocab_size=100, seq_length=12, batch=2)
    model = model_speed.build_ours(shape)
    before = model.word_embeddings.weight.detach().clone()
    step = model_speed.our_training_step(model, shape)
    assert model_speed.gflops_per_s(step, model_speed.step_flops(shape))() > 0
    model_speed.write_profile(step, tmp_path / "profile.txt", "title line")
    text = (tmp_path / "profile.txt").read_text()
    assert text.startswith("title line\n") and "Self CPU" in text and "aten::" in text
    assert not torch.equal(before, model.word_embeddings.weight)


def test_the_profilers_own_messages_go_to_its_log_not_to_the_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "profiler.log"
    with profiler_log.profiler_messages_to_log(log):
        os.write(2, b"USDT: profiler_start\n")
    os.write(2, b"after\n")
    assert log.read_text() == "USDT: profiler_start\n"
    assert capfd.readouterr().err == "after\n"


def test_the_timed_arm_reports_what_the_kernel_counted_for_each_of_its_steps() -> None:
    costs: list[model_speed.StepCost] = []
    arm = model_speed.samples_per_s(lambda: sum(range(200_000)), steps=2, batch=4, costs=costs)
    assert arm() > 0 and arm() > 0
    assert len(costs) == 2 and all(cost.user_s >= 0 and cost.page_faults >= 0 for cost in costs)
    typical = model_speed.typical_cost([model_speed.StepCost(1.0, 0.1, 10), model_speed.StepCost(3.0, 0.3, 30),
                                        model_speed.StepCost(2.0, 0.9, 20)])
    assert typical == model_speed.StepCost(2.0, 0.3, 20)
