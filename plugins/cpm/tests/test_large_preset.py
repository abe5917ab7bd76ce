"""CPM large: the released 2.6B model as a preset of its own, started from the released model-parallel shards, with
tuned files that shard it (FSDP) on eight devices, each within its device's memory by the core's estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchbase.config.parameters import CoreConfig
from benchbase.contract import PrecisionPolicy
from benchbase.config.resolve import resolve_for
from benchbase.errors import BenchbaseError
from benchbase.run.memory_estimate import estimate_memory
from benchbase_cpm.case import CPMCase, LARGE_FOLDER_NAME
from benchbase_cpm.checkpoint import split_model_parallel
from benchbase_cpm.memory import footprint
from benchbase_cpm.model import CPMModel
from benchbase_cpm.shapes import CPMConfig
from benchbase_cpm.workload import CPMModelSpec, model_config
from benchbase_iluvatar.vendor import IluvatarVendor
from benchbase_nvidia.vendor import NvidiaVendor

HALF = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype="bfloat16", flops_dtype="bf16")
SMALL = CPMConfig(vocab_size=96, n_positions=32, n_layer=2, n_embd=32, n_head=2, dropout=0.0)


class On(NvidiaVendor):
    """NVIDIA's vendor on a named board, as discovery would report it (no GPU here)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model

    def device_model(self) -> str:
        return self.model


@pytest.mark.parametrize(
    ("vendor", "memory_gib"),
    [(IluvatarVendor(), 32.0), (On("A100"), 40.0), (On("H100"), 79.6)],
    ids=["BI-V100", "A100", "H100"],
)
def test_the_large_preset_on_eight_devices_takes_its_own_tuned_file_which_shards_and_fits(vendor, memory_gib) -> None:
    resolved = resolve_for(CPMCase(), vendor, "large", 1, 8, {}, False, None)
    assert Path(resolved.vendor_file or "").name == f"{vendor.device_model()}x1x8-large.yaml"
    assert resolved.official and resolved.values["model_size"] == "large"
    core = CoreConfig.from_values(resolved.values)
    assert core.parallelism == "fsdp" and core.precision in ("amp", "bf16")  # a 16-bit autocast: 2-byte activations
    shape = model_config(resolved.values, {"vocab_size": 30000})
    estimate = estimate_memory(footprint(shape, 200, 2), core, HALF, 8, 1)
    assert vendor.memory_budget_gib(None) == memory_gib
    assert estimate.per_device_gib < memory_gib / 2, estimate.describe()


def test_the_medium_preset_keeps_the_plain_tuned_file_of_the_same_topology() -> None:
    resolved = resolve_for(CPMCase(), IluvatarVendor(), "official", 1, 8, {}, False, None)
    assert Path(resolved.vendor_file or "").name == "BI-V100x1x8.yaml"
    assert resolved.values["parallelism"] == "ddp"


def released_shards(folder: Path, weights: dict[str, torch.Tensor]) -> None:
    """Two model-parallel shards named as the released model's, weights under ``module``."""
    folder.mkdir(parents=True)
    for rank, shard in enumerate(split_model_parallel(weights, 2)):
        torch.save({"module": shard}, folder / f"mp_rank_{rank:02d}_model_states.pt")


def test_the_large_preset_starts_from_the_released_shards_in_the_data_folder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = CPMModel(SMALL).state_dict()
    released_shards(tmp_path / LARGE_FOLDER_NAME, weights)
    found = CPMCase._initial_checkpoint({"model_size": "large", "init_checkpoint": ""}, tmp_path)
    assert found == tmp_path / LARGE_FOLDER_NAME
    model, said = CPMModel(SMALL), []
    CPMModelSpec().load_initial(model, {"init_checkpoint": str(found)}, {}, lambda *a, **k: said.append((a, k)))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    assert said == [(("provenance", f"initial weights: {found}"), {"tensors": len(weights)})]


def test_the_medium_preset_does_not_take_the_large_folder(tmp_path: Path) -> None:
    (tmp_path / LARGE_FOLDER_NAME).mkdir()
    assert CPMCase._initial_checkpoint({"model_size": "medium", "init_checkpoint": ""}, tmp_path) is None


def case_values() -> dict[str, object]:
    from benchbase.config.resolve import merge_parameters

    case = CPMCase()
    merged = merge_parameters(case.name, case.parameters(), case.defaults())
    return {key: param.default for key, param in merged.items()} | dict(case.presets()["demo"].values)


def test_a_missing_shard_is_refused_before_any_rank_starts(tmp_path: Path) -> None:
    folder = tmp_path / LARGE_FOLDER_NAME
    released_shards(folder, CPMModel(SMALL).state_dict())
    (folder / "mp_rank_00_model_states.pt").unlink()
    case = CPMCase()
    with pytest.raises(BenchbaseError, match="shard mp_rank_00_model_states.pt is missing"):
        case.prepare({**case_values(), "dataset": "demo", "model_size": "large"}, tmp_path, tmp_path / "cache",
                     lambda *_: None)

