"""The memory estimate before launch (benchbase/run/memory_estimate.py, docs/memory.md): its parts, what sharding
divides, and the one-line refusal of a configuration that cannot fit."""

from __future__ import annotations

import pytest

from benchbase.cli.output import memory_line
from benchbase.config.parameters import CORE_PARAMETERS, CoreConfig
from benchbase.contract import Case, MemoryFootprint, ModelSpec, PrecisionPolicy
from benchbase.errors import BenchbaseError
from benchbase.run.memory_estimate import check_fits, estimate_memory, plan_memory
from benchbase_cpm.memory import footprint, parameter_count
from benchbase_cpm.shapes import config_for

FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")
FP16 = PrecisionPolicy(name="fp16", label="AMP", autocast_dtype="float16", flops_dtype="fp16", loss_scaling=True)
GIB = 2**30


def core(**values: object) -> CoreConfig:
    return CoreConfig.from_values({**{k: p.default for k, p in CORE_PARAMETERS.items()}, **values})


MODEL = MemoryFootprint(parameters=1000, activation_bytes_per_sample=10.0, largest_block_parameters=100)


def test_ddp_holds_every_byte_on_every_rank_with_its_gradient_buckets() -> None:
    parts = estimate_memory(MODEL, core(batch_size=3), FP32, world_size=4, ranks_per_device=1).parts
    assert parts == {"weights": 4000, "optimizer_moments": 8000, "gradients": 4000, "activations": 30.0,
                     "ddp_buckets": 4000}


def test_one_rank_has_no_buckets_and_a_16_bit_autocast_keeps_a_copy_of_the_weights() -> None:
    parts = estimate_memory(MODEL, core(batch_size=1), FP16, world_size=1, ranks_per_device=1).parts
    assert "ddp_buckets" not in parts and parts["autocast_copies"] == 2000


def test_fsdp_peaks_where_the_backward_starts_when_activations_dominate() -> None:
    model = MemoryFootprint(parameters=1000, activation_bytes_per_sample=10_000.0, largest_block_parameters=100,
                            root_parameters=200)
    parts = estimate_memory(model, core(parallelism="fsdp", batch_size=4), FP32, world_size=4,
                            ranks_per_device=1).parts
    assert parts == {"weights": 1000, "optimizer_moments": 2000, "activations": 40_000.0,
                     "root_gathered": 4 * 200, "prefetched_block": 2 * 4 * 100}


def test_fsdp_peaks_where_the_backward_ends_when_the_root_unit_dominates() -> None:
    model = MemoryFootprint(parameters=1000, activation_bytes_per_sample=10.0, largest_block_parameters=100,
                            root_parameters=600)
    parts = estimate_memory(model, core(parallelism="fsdp"), FP32, world_size=4, ranks_per_device=1).parts
    assert parts == {"weights": 1000, "optimizer_moments": 2000, "gradients": 1000, "root_gathered": 4 * 600,
                     "root_gradient": 3 * 4 * 600, "reduce_scatter_staging": 4 * 4 * 100}


def test_fsdp_peaks_in_the_evaluation_that_gathers_the_whole_model() -> None:
    parts = estimate_memory(MODEL, core(parallelism="fsdp", eval_batch_size=70), FP32, world_size=4,
                            ranks_per_device=1).parts
    assert parts == {"weights": 1000, "optimizer_moments": 2000, "full_weights": 4000, "eval_activations": 700.0}


def test_the_evaluation_counts_the_forward_only_bytes_a_case_gives_for_it() -> None:
    model = MemoryFootprint(parameters=1000, activation_bytes_per_sample=10.0, largest_block_parameters=100,
                            eval_activation_bytes_per_sample=3.0)
    parts = estimate_memory(model, core(parallelism="fsdp", eval_batch_size=1000), FP32, world_size=4,
                            ranks_per_device=1).parts
    assert parts["eval_activations"] == 3000.0


def test_fsdp_accumulating_micro_batches_holds_unsharded_gradients_and_16_bits_the_autocast_copies() -> None:
    model = MemoryFootprint(parameters=1000, activation_bytes_per_sample=100_000.0, largest_block_parameters=100)
    parts = estimate_memory(model, core(parallelism="fsdp", grad_accum=2), FP16, world_size=4,
                            ranks_per_device=1).parts
    assert parts["accumulated_gradients"] == 4000 and parts["autocast_copies"] == 2000
    assert parts["root_gathered"] == 4 * 100  # a footprint without its root unit: the largest block stands in


def test_fsdp_on_one_rank_trains_the_model_as_it_is() -> None:
    parts = estimate_memory(MODEL, core(parallelism="fsdp"), FP32, world_size=1, ranks_per_device=1).parts
    assert parts == {"weights": 4000, "optimizer_moments": 8000, "gradients": 4000, "activations": 10.0}


def test_ranks_sharing_one_device_add_up() -> None:
    one = estimate_memory(MODEL, core(), FP32, world_size=2, ranks_per_device=1)
    two = estimate_memory(MODEL, core(), FP32, world_size=2, ranks_per_device=2)
    assert two.per_device_gib == pytest.approx(2 * one.per_device_gib)


def test_cpm_large_needs_fsdp_on_eight_32_gb_devices() -> None:
    large = config_for("large", dropout=0.5, activation_checkpointing=True)
    assert parameter_count(large) == 2_597_073_920  # plugins/cpm/docs/reference.md, "Model"
    shape = footprint(large, 200, 2)
    ddp = estimate_memory(shape, core(batch_size=32), FP16, world_size=8, ranks_per_device=1)
    fsdp = estimate_memory(shape, core(batch_size=32, eval_batch_size=32, parallelism="fsdp"), FP16, world_size=8, ranks_per_device=1)
    assert ddp.per_device_gib > 48 and fsdp.per_device_gib < 16
    assert "full_weights" in fsdp.parts  # its evaluation, which gathers all 2.6B parameters, is its peak
    with pytest.raises(BenchbaseError, match=r"does not fit BI-V100's 32.0 GiB.*use parallelism: fsdp"):
        check_fits(ddp, 32.0, "BI-V100")
    check_fits(fsdp, 32.0, "BI-V100")


def test_under_fsdp_the_fix_offered_is_a_smaller_micro_batch_or_more_devices() -> None:
    estimate = estimate_memory(MODEL, core(parallelism="fsdp"), FP32, world_size=2, ranks_per_device=1)
    with pytest.raises(BenchbaseError) as refused:
        check_fits(estimate, 1e-9, "A1")
    assert "use parallelism: fsdp" not in str(refused.value)
    assert "a smaller batch_size with a larger grad_accum; or more devices" in str(refused.value)


def test_nothing_is_refused_where_the_model_or_the_device_memory_is_unknown() -> None:
    estimate = estimate_memory(MODEL, core(), FP32, world_size=1, ranks_per_device=1)
    check_fits(None, 1e-9, "A1")
    check_fits(estimate, None, "A1")


def test_the_dry_run_line_says_unknown_for_a_case_without_a_footprint() -> None:
    assert memory_line(None, 32.0) == "unknown (the case does not describe its model's memory)"
    estimate = estimate_memory(MODEL, core(), FP32, world_size=1, ranks_per_device=1).describe()
    assert memory_line(estimate, None).startswith("0.00 GiB estimated (the device's memory unknown) (ddp;")


class Odd(ModelSpec):
    """A third-party model spec whose footprint is not one."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def build(self, config, prepared):  # type: ignore[no-untyped-def]
        raise AssertionError("a dry run builds no model")

    def flops_per_sample(self, config, prepared):  # type: ignore[no-untyped-def]
        return 0.0

    def forward(self, model, batch):  # type: ignore[no-untyped-def]
        raise AssertionError("a dry run runs no forward")

    def loss(self, outputs, batch):  # type: ignore[no-untyped-def]
        raise AssertionError("a dry run computes no loss")

    def memory_footprint(self, config, prepared, element_bytes):  # type: ignore[no-untyped-def]
        return self.answer


class OddCase(Case):
    name = "odd"

    def __init__(self, answer: object) -> None:
        self.model = Odd(answer)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("2 GB", "not a benchbase.contract.MemoryFootprint"),
        (MemoryFootprint(parameters=-1, activation_bytes_per_sample=1.0), "a parameter count that is not a whole"),
        (MemoryFootprint(parameters=1, activation_bytes_per_sample=float("nan")), "activation bytes that are not"),
        (MemoryFootprint(parameters=1, activation_bytes_per_sample=1.0, root_parameters=-2),
         "a parameter count that is not a whole"),
        (MemoryFootprint(parameters=1, activation_bytes_per_sample=1.0, eval_activation_bytes_per_sample=-1.0),
         "activation bytes that are not"),
    ],
)
def test_a_footprint_that_is_not_one_is_refused_in_one_line_naming_the_case(answer: object, problem: str) -> None:
    with pytest.raises(BenchbaseError) as refused:
        plan_memory(OddCase(answer), {}, None, core(), FP32, 1, 1)
    message = str(refused.value)
    assert message.startswith("case 'odd': model.memory_footprint() returned ") and problem in message
    assert "\n" not in message


def test_a_case_without_a_footprint_gets_no_estimate() -> None:
    assert plan_memory(OddCase(None), {}, None, core(), FP32, 1, 1) is None
