"""The reference optimizer recipe: which parameters decay, AdamW's settings, and the benchmark's lr schedule."""

from __future__ import annotations

import copy

import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.model import CPMModel, parameter_count
from benchbase_cpm.optimizer import make_optimizer, make_schedule, parameter_groups
from benchbase_cpm.reference_rules import reference_lr
from benchbase_cpm.shapes import config_for

PEAK = 5e-4


@pytest.fixture
def tiny() -> CPMModel:
    torch.manual_seed(0)
    return CPMModel(config_for("tiny", vocab_size=300, dropout=0.0))


def names_of(model: CPMModel, group: dict) -> set[str]:
    by_id = {id(p): name for name, p in model.named_parameters()}
    return {by_id[id(p)] for p in group["params"]}


def test_weights_and_embeddings_decay_while_biases_and_layernorms_do_not(tiny: CPMModel) -> None:
    decay, no_decay = parameter_groups(tiny, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    layer = "transformer.layers.1"
    assert names_of(tiny, decay) >= {
        "word_embeddings.weight",
        "position_embeddings.weight",
        f"{layer}.attention.query_key_value.weight",
        f"{layer}.mlp.dense_4h_to_h.weight",
    }
    assert names_of(tiny, no_decay) >= {
        f"{layer}.attention.dense.bias",
        f"{layer}.input_layernorm.weight",
        f"{layer}.input_layernorm.bias",
        "transformer.final_layernorm.weight",
    }
    assert all(name.endswith(".bias") or "layernorm" in name for name in names_of(tiny, no_decay))
    assert all(name.endswith(".weight") and "layernorm" not in name for name in names_of(tiny, decay))


def test_every_parameter_is_in_exactly_one_group(tiny: CPMModel) -> None:
    groups = parameter_groups(tiny, 0.05)
    assert sum(p.numel() for group in groups for p in group["params"]) == parameter_count(tiny)
    assert len({id(p) for group in groups for p in group["params"]}) == len(list(tiny.parameters()))


def test_the_optimizer_is_adamw_with_the_reference_settings_and_the_fused_kernel_where_torch_has_one(
    tiny: CPMModel,
) -> None:
    optimizer = make_optimizer(tiny, PEAK, 0.05)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["betas"] == (0.9, 0.999) and optimizer.defaults["eps"] == 1e-8
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.05, 0.0]
    assert optimizer.defaults["fused"] == (torch.__version__ >= (2, 4))
    assert not make_optimizer(tiny, PEAK, 0.05, fused=False).defaults["fused"]


def test_the_fused_kernel_takes_the_same_steps_as_the_default_one(tiny: CPMModel) -> None:
    twin = copy.deepcopy(tiny)
    optimizers = [make_optimizer(tiny, PEAK, 0.05, fused=True), make_optimizer(twin, PEAK, 0.05, fused=False)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=generator) * 1e-3 for p in tiny.parameters()]
        for model, optimizer in zip((tiny, twin), optimizers):
            for param, grad in zip(model.parameters(), grads):
                param.grad = grad.clone()
            optimizer.step()
    for fused_param, default_param in zip(tiny.parameters(), twin.parameters()):
        torch.testing.assert_close(fused_param, default_param, rtol=1e-5, atol=1e-7)


def test_lr_warms_up_from_zero_then_decays_linearly_as_the_benchmark_references_do() -> None:
    lr = lambda step: reference_lr(step, PEAK, 100, 0.2)  # noqa: E731
    assert lr(0) == 0.0
    assert lr(10) == pytest.approx(PEAK / 2)
    assert lr(20) == pytest.approx(PEAK)
    assert lr(21) == pytest.approx(PEAK * 99 / 100)
    assert lr(50) == pytest.approx(PEAK * 70 / 100)


def test_the_decay_is_not_capped_and_reaches_zero_only_past_the_budget() -> None:
    """FlagPerf's and DeepSparkHub's AnnealingLR: peak * max(0, 1 - (n - W) / max_steps), no cap on n."""
    assert reference_lr(80, PEAK, 100, 0.2) == pytest.approx(PEAK * 0.4)
    assert reference_lr(99, PEAK, 100, 0.2) == pytest.approx(PEAK * 0.21)
    assert reference_lr(100, PEAK, 100, 0.2) == pytest.approx(PEAK * 0.2)
    assert reference_lr(120, PEAK, 100, 0.2) == 0.0
    assert reference_lr(500, PEAK, 100, 0.2) == 0.0


def test_the_official_schedule_gives_the_lr_of_the_published_a100_log() -> None:
    """FlagPerf's A100 1x8 log: peak 5e-4, 4000 steps, warmup 0.2, lr 1.75375e-4 logged at global step 3397."""
    assert reference_lr(3397, PEAK, 4000, 0.2) == pytest.approx(1.75375e-4, abs=1e-9)
    assert reference_lr(3999, PEAK, 4000, 0.2) == pytest.approx(1.00125e-4, abs=1e-9)


def test_without_warmup_the_first_update_uses_the_peak() -> None:
    assert reference_lr(0, PEAK, 100, 0.0) == PEAK
    assert reference_lr(100, PEAK, 100, 0.0) == 0.0


def test_the_scheduler_gives_exactly_the_reference_lr_at_every_update(tiny: CPMModel) -> None:
    optimizer = make_optimizer(tiny, 1.0, 0.05)
    schedule = make_schedule(optimizer, PEAK, 30, 0.2)
    seen = []
    for _ in range(35):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        schedule.step()
    assert seen == [[reference_lr(step, PEAK, 30, 0.2)] * 2 for step in range(35)]


def test_a_restored_scheduler_continues_where_it_stopped(tiny: CPMModel) -> None:
    optimizer = make_optimizer(tiny, PEAK, 0.05)
    schedule = make_schedule(optimizer, PEAK, 30, 0.2)
    for _ in range(9):
        optimizer.step()
        schedule.step()
    resumed_optimizer = make_optimizer(tiny, PEAK, 0.05)
    resumed = make_schedule(resumed_optimizer, PEAK, 30, 0.2)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(schedule.state_dict())
    resumed_optimizer.step()
    resumed.step()
    assert resumed_optimizer.param_groups[0]["lr"] == reference_lr(10, PEAK, 30, 0.2)


@pytest.mark.parametrize(("max_steps", "warmup", "message"), [(0, 0.2, "max_steps is 0"), (10, 1.5, "outside")])
def test_a_schedule_the_formula_cannot_express_is_an_error(max_steps: int, warmup: float, message: str) -> None:
    with pytest.raises(BenchbaseError, match=message):
        reference_lr(0, PEAK, max_steps, warmup)
