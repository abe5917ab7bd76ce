"""The core trainer drives every case the same way: schedule and overflow rule, accumulation, evaluation, state.

The case here is the two-weight linear model of ``line_case``, so each rule is visible in a few steps; CPM's own
numbers through the same engine are in plugins/cpm/tests/test_cpm_engine.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchbase.config.parameters import CoreConfig
from benchbase.config.resolve import check_compile_available
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase.errors import BenchbaseError
from benchbase_cpm.recipe import CPMRecipe
from benchbase_cpm.reference_rules import reference_lr
from benchbase_cpu.vendor import CPUVendor
from line_case import FP32, SCALED, LineCase, ScoreByBatch, config, engine, points

def lr_of_each_update(trainer: Engine, steps: int, poisoned: set[int] = frozenset()) -> list[float]:
    """Drive ``steps`` updates as the worker does; update ``k`` (1-based) in ``poisoned`` gets an inf input."""
    used = []
    for update in range(1, steps + 1):
        batch = trainer.feed.next()
        if update in poisoned:
            batch[0]["x"] = torch.full_like(batch[0]["x"], float("inf"))
        used.append(trainer.learning_rate())
        trainer.train_step(batch)
    return used


def test_the_official_schedule_through_the_engine_gives_the_published_lr_at_the_update_it_belongs_to() -> None:
    used = lr_of_each_update(engine(LineCase(points())), 4000)
    assert used[0] == 0.0
    assert used[3398 - 1] == pytest.approx(1.75375e-4, abs=1e-9)
    assert used[4000 - 1] == pytest.approx(1.00125e-4, abs=1e-9)
    assert used == [reference_lr(update - 1, 5e-4, 4000, 0.2) for update in range(1, 4001)]


def test_an_overflowed_update_is_skipped_but_the_schedule_still_advances_as_the_benchmark_does() -> None:
    trainer = engine(LineCase(points()), SCALED, max_steps=20)
    weights = []
    used = []
    for update in range(1, 13):
        batch = trainer.feed.next()
        if update in (4, 8):
            batch[0]["x"] = torch.full_like(batch[0]["x"], float("inf"))
        used.append(trainer.learning_rate())
        before = trainer.model.weight.detach().clone()
        trainer.train_step(batch)
        weights.append(torch.equal(before, trainer.model.weight))
    assert [update for update, unchanged in enumerate(weights, 1) if unchanged] == [1, 4, 8]  # lr 0, then 2 skips
    assert used[11] == pytest.approx(reference_lr(11, 5e-4, 20, 0.2), abs=1e-12)
    assert trainer.scaler.get_scale() == 2.0**14


def test_a_recipe_that_skips_the_schedule_on_overflow_falls_behind_by_the_skipped_updates() -> None:
    class DeepSpeedLike(CPMRecipe):
        schedule_steps_on_overflow = False

    case = LineCase(points())
    case.recipe = DeepSpeedLike()
    used = lr_of_each_update(engine(case, SCALED, max_steps=20), 12, poisoned={4, 8})
    assert used[11] == pytest.approx(reference_lr(9, 5e-4, 20, 0.2), abs=1e-12)


def test_accumulating_two_micro_batches_takes_the_same_step_as_one_batch_of_both() -> None:
    whole = engine(LineCase(points()), batch_size=8, lr=0.05, warmup=0.0)
    halves = engine(LineCase(points()), batch_size=4, grad_accum=2, lr=0.05, warmup=0.0)
    for _ in range(5):
        assert whole.train_step(whole.feed.next()).item() == pytest.approx(
            halves.train_step(halves.feed.next()).item(), rel=1e-6)
    torch.testing.assert_close(whole.model.weight, halves.model.weight)


def test_evaluation_is_the_mean_of_batch_means_leaving_out_batches_with_nothing_to_score() -> None:
    """64 samples in batches of 8: eight batches, two of which score nothing (NaN)."""
    values = [0.9, float("nan"), 0.5, 0.7, float("nan"), 0.6, 0.8, 1.0]
    result = engine(LineCase(points(), ScoreByBatch(values))).evaluate()
    assert result.metric == pytest.approx(np.mean([0.9, 0.5, 0.7, 0.6, 0.8, 1.0]), abs=1e-12)
    assert set(result.extras) == {"loss"}
    assert (result.samples, result.batches) == (64, 8)


def test_an_evaluation_where_no_batch_had_anything_to_score_is_nan_never_zero() -> None:
    result = engine(LineCase(points(), ScoreByBatch([float("nan")] * 8))).evaluate()
    assert np.isnan(result.metric)
    assert np.isfinite(result.extras["loss"]), "the loss was defined on every batch"


def test_state_restores_model_optimizer_schedule_scaler_and_the_data_position() -> None:
    first = engine(LineCase(points()), SCALED, lr=0.05)
    lr_of_each_update(first, 7)
    state = first.state_dict()
    resumed = engine(LineCase(points()), SCALED, lr=0.05)
    resumed.load_state_dict(state)
    assert resumed.step == 7 and resumed.learning_rate() == first.learning_rate()
    assert resumed.scaler.get_scale() == first.scaler.get_scale()
    torch.testing.assert_close(resumed.model.weight, first.model.weight)
    (expected,), (restored,) = first.feed.next(), resumed.feed.next()
    assert torch.equal(expected["x"], restored["x"])
    assert first.train_step([expected]).item() == resumed.train_step([restored]).item()


def test_compiling_the_model_trains_to_the_same_losses_as_eager_and_is_recorded_as_a_swap() -> None:
    events: list[tuple] = []
    eager = engine(LineCase(points()), lr=0.05, warmup=0.0, compile="off")
    torch.manual_seed(0)
    settled = config(lr=0.05, warmup=0.0, compile="on")
    compiled = Engine(LineCase(points()), CPUVendor(), torch.device("cpu"), FP32, settled,
                      CoreConfig.from_values(settled), {}, RankPlace(0, 1),
                      lambda key, value=None, **meta: events.append((key, value)))
    for _ in range(5):
        assert compiled.train_step(compiled.feed.next()).item() == pytest.approx(
            eager.train_step(eager.feed.next()).item(), rel=1e-5)
    torch.testing.assert_close(compiled.model.weight, eager.model.weight, rtol=1e-5, atol=1e-6)
    assert ("swap", "torch.compile") in events


def test_compile_on_a_torch_without_it_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Iluvatar's CoreX ships torch 1.13, which has no torch.compile."""
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(BenchbaseError, match="has no torch.compile") as refused:
        check_compile_available(CoreConfig.from_values(config(compile="on")), vendor_default=False)
    assert "compile=off" in str(refused.value)
    # Nothing to refuse when it is off, whatever the vendor's default.
    check_compile_available(CoreConfig.from_values(config(compile="off")), vendor_default=True)
