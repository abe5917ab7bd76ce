"""Checkpoint import: the file layouts CPM ships in, strict loading, model-parallel shards, and the reference's
large-to-medium truncation, all on small models with the real parameter names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.checkpoint import (
    check_file_fits,
    import_into,
    load_checkpoint_file,
    load_model_parallel_dir,
    merge_model_parallel,
    split_model_parallel,
    truncate_large_to_medium,
)
from benchbase_cpm.model import CPMModel
from benchbase_cpm.shapes import CPMConfig

LARGE_LIKE = CPMConfig(vocab_size=96, n_positions=32, n_layer=4, n_embd=64, n_head=4, dropout=0.0)
MEDIUM_LIKE = CPMConfig(vocab_size=96, n_positions=32, n_layer=2, n_embd=32, n_head=2, dropout=0.0)
QKV = "transformer.layers.0.attention.query_key_value.weight"


class NotATensor:
    """A custom class, pickled into a checkpoint to prove such files are refused rather than executed."""


def model_of(config: CPMConfig, seed: int = 0) -> CPMModel:
    torch.manual_seed(seed)
    return CPMModel(config).eval()


@pytest.fixture
def state_dict() -> dict[str, torch.Tensor]:
    return model_of(LARGE_LIKE).state_dict()


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("layout", ["flat", "module", "model"])
def test_each_released_layout_loads_strictly_and_reproduces_the_model(
    tmp_path: Path, state_dict: dict[str, torch.Tensor], layout: str
) -> None:
    path = tmp_path / "cpm.pt"
    torch.save(state_dict if layout == "flat" else {layout: state_dict, "iteration": 80000}, path)
    fresh = model_of(LARGE_LIKE, seed=1)
    import_into(fresh, load_checkpoint_file(path), str(path))
    tokens = torch.randint(0, 96, (2, 8))
    assert torch.equal(fresh(tokens), model_of(LARGE_LIKE)(tokens))


def test_a_legacy_non_zip_torch_file_loads(tmp_path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "old.pt"
    torch.save(state_dict, path, _use_new_zipfile_serialization=False)
    assert_same_tensors(load_checkpoint_file(path), state_dict)


def test_a_missing_tensor_is_named_with_how_many_more(state_dict: dict[str, torch.Tensor]) -> None:
    del state_dict["transformer.layers.2.mlp.dense_4h_to_h.bias"]
    with pytest.raises(BenchbaseError) as error:
        import_into(model_of(LARGE_LIKE), state_dict, "cpm.pt")
    assert str(error.value).startswith(
        "checkpoint cpm.pt does not fit the model: missing transformer.layers.2.mlp.dense_4h_to_h.bias; "
    )
    assert "more" not in str(error.value)
    del state_dict["word_embeddings.weight"], state_dict["position_embeddings.weight"]
    with pytest.raises(BenchbaseError, match=r"missing word_embeddings.weight \(and 2 more mismatches\)"):
        import_into(model_of(LARGE_LIKE), state_dict, "cpm.pt")


def test_an_extra_tensor_is_named(state_dict: dict[str, torch.Tensor]) -> None:
    state_dict["lm_head.weight"] = torch.zeros(1)
    with pytest.raises(BenchbaseError, match="unexpected lm_head.weight"):
        import_into(model_of(LARGE_LIKE), state_dict, "cpm.pt")


def test_a_wrong_shape_is_named_and_the_fix_says_what_the_checkpoint_looks_like(
    state_dict: dict[str, torch.Tensor],
) -> None:
    with pytest.raises(BenchbaseError) as error:
        import_into(model_of(MEDIUM_LIKE), state_dict, "large.pt")
    message = str(error.value)
    assert "unexpected transformer.layers.2." in message
    assert "it looks like 4 layers, hidden 64, vocabulary 96" in message
    assert "\n" not in message
    state_dict = model_of(LARGE_LIKE).state_dict()
    state_dict[QKV] = state_dict[QKV][:-3]
    with pytest.raises(BenchbaseError, match=rf"{QKV} has shape \(189, 64\), the model needs \(192, 64\)"):
        import_into(model_of(LARGE_LIKE), state_dict, "cpm.pt")


def test_a_file_is_checked_against_a_model_built_on_the_meta_device_before_any_rank_loads_it(
    tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "large_like.pt"
    torch.save(state_dict, path)
    check_file_fits(path, LARGE_LIKE)
    with pytest.raises(BenchbaseError, match="does not fit the model: .*it looks like 4 layers, hidden 64"):
        check_file_fits(path, MEDIUM_LIKE)


def test_a_truncated_file_is_reported_as_damaged(tmp_path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "cpm.pt"
    torch.save(state_dict, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BenchbaseError, match=rf"checkpoint {path} is truncated or corrupted.*download or copy it"):
        load_checkpoint_file(path)


def test_a_text_file_is_reported_as_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n", encoding="utf-8")
    with pytest.raises(BenchbaseError, match=rf"{path} is not a PyTorch checkpoint"):
        load_checkpoint_file(path)


def test_an_empty_or_absent_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").touch()
    with pytest.raises(BenchbaseError, match="is empty"):
        load_checkpoint_file(tmp_path / "empty.pt")
    with pytest.raises(BenchbaseError, match="does not exist"):
        load_checkpoint_file(tmp_path / "absent.pt")


def test_a_file_with_pickled_objects_is_refused_and_the_class_named(tmp_path: Path) -> None:
    path = tmp_path / "cpm.pt"
    torch.save({"module": {"w": torch.zeros(1)}, "args": NotATensor()}, path)
    with pytest.raises(BenchbaseError, match=r"holds pickled Python objects.*NotATensor.*if you trust the file"):
        load_checkpoint_file(path)


def test_an_unknown_layout_lists_its_top_level_keys(tmp_path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "cpm.pt"
    torch.save({"weights": state_dict, "step": torch.tensor(3)}, path)
    with pytest.raises(BenchbaseError, match=r"unknown layout \(top-level keys: 'weights', 'step'\)"):
        load_checkpoint_file(path)


def test_splitting_into_two_shards_and_merging_gives_back_every_tensor(state_dict: dict[str, torch.Tensor]) -> None:
    assert_same_tensors(merge_model_parallel(split_model_parallel(state_dict, 2)), state_dict)
    assert_same_tensors(merge_model_parallel(split_model_parallel(state_dict, 4)), state_dict)


def test_shards_follow_megatrons_tensor_parallel_layout(state_dict: dict[str, torch.Tensor]) -> None:
    first, second = split_model_parallel(state_dict, 2)
    h = 64
    # Each rank's QKV rows are [q | k | v] of its own half of the heads.
    q, k, v = state_dict[QKV].chunk(3)
    assert torch.equal(second[QKV], torch.cat([q[h // 2 :], k[h // 2 :], v[h // 2 :]]))
    assert torch.equal(first["word_embeddings.weight"], state_dict["word_embeddings.weight"][:48])
    dense = "transformer.layers.1.attention.dense"
    assert torch.equal(second[f"{dense}.weight"], state_dict[f"{dense}.weight"][:, h // 2 :])
    assert torch.equal(second[f"{dense}.bias"], state_dict[f"{dense}.bias"])
    up = "transformer.layers.1.mlp.dense_h_to_4h"
    assert torch.equal(second[f"{up}.bias"], state_dict[f"{up}.bias"][2 * h :])
    down = "transformer.layers.1.mlp.dense_4h_to_h.weight"
    assert first[down].shape == (h, 2 * h)
    assert torch.equal(second["transformer.final_layernorm.weight"], state_dict["transformer.final_layernorm.weight"])


def test_a_model_parallel_folder_is_read_in_rank_order_and_merged(
    tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    for rank, shard in enumerate(split_model_parallel(state_dict, 2)):
        torch.save({"module": shard}, tmp_path / f"mp_rank_{rank:02d}_model_states.pt")
    merged = load_model_parallel_dir(tmp_path)
    assert_same_tensors(merged, state_dict)
    import_into(model_of(LARGE_LIKE, seed=3), merged, str(tmp_path))


def test_a_megatron_checkpoint_root_is_followed_to_its_latest_iteration(
    tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    (tmp_path / "80000").mkdir()
    for rank, shard in enumerate(split_model_parallel(state_dict, 2)):
        torch.save({"module": shard}, tmp_path / "80000" / f"mp_rank_{rank:02d}_model_states.pt")
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("80000\n", encoding="utf-8")
    assert_same_tensors(load_model_parallel_dir(tmp_path), state_dict)


def test_a_gap_in_the_shard_ranks_or_no_shards_is_an_error(
    tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    with pytest.raises(BenchbaseError, match="no mp_rank_XX_model_states.pt files"):
        load_model_parallel_dir(tmp_path)
    shards = split_model_parallel(state_dict, 4)
    for rank in (0, 1, 3):
        torch.save(shards[rank], tmp_path / f"mp_rank_{rank:02d}_model_states.pt")
    with pytest.raises(BenchbaseError, match=r"mp_rank_02_model_states.pt is missing .* \(found ranks \[0, 1, 3\]\)"):
        load_model_parallel_dir(tmp_path)


def test_shards_of_different_checkpoints_are_not_merged(state_dict: dict[str, torch.Tensor]) -> None:
    first, second = split_model_parallel(state_dict, 2)
    del second["transformer.final_layernorm.bias"]
    with pytest.raises(BenchbaseError, match="shard 1 and shard 0 hold different tensors"):
        merge_model_parallel([first, second])


def test_a_size_that_does_not_split_evenly_is_an_error(state_dict: dict[str, torch.Tensor]) -> None:
    with pytest.raises(BenchbaseError, match="word_embeddings.weight has 96 entries on dim 0.*5 model-parallel"):
        split_model_parallel(state_dict, 5)


def test_truncation_keeps_the_leading_block_and_loads_strictly_into_the_smaller_model(
    state_dict: dict[str, torch.Tensor],
) -> None:
    truncated = truncate_large_to_medium(state_dict, n_layer=2, n_embd=32, n_head=2)
    import_into(model_of(MEDIUM_LIKE), truncated, "truncated")
    assert truncated["word_embeddings.weight"].shape == (96, 32)
    assert truncated["position_embeddings.weight"].shape == (32, 32)
    assert torch.equal(truncated[QKV], state_dict[QKV][:96, :32])
    up = "transformer.layers.1.mlp.dense_h_to_4h.weight"
    assert torch.equal(truncated[up], state_dict[up][:128, :32])
    down = "transformer.layers.1.mlp.dense_4h_to_h.weight"
    assert torch.equal(truncated[down], state_dict[down][:32, :128])
    assert not any(name.startswith("transformer.layers.2.") for name in truncated)


def test_truncated_qkv_is_all_query_rows_and_the_start_of_key_with_no_value_rows(
    state_dict: dict[str, torch.Tensor],
) -> None:
    """The reference's oddity, kept: first 3h rows of a [Q|K|V] matrix of 3H rows, with 3h > H."""
    truncated = truncate_large_to_medium(state_dict, n_layer=2, n_embd=32, n_head=2)[QKV]
    large_q, large_k, _ = state_dict[QKV].chunk(3)
    assert torch.equal(truncated[:64], large_q[:, :32])
    assert torch.equal(truncated[64:], large_k[:32, :32])


def test_truncation_defaults_are_the_medium_model(state_dict: dict[str, torch.Tensor]) -> None:
    with pytest.raises(BenchbaseError, match="too small to truncate to 24 layers and hidden 1024"):
        truncate_large_to_medium(state_dict)
