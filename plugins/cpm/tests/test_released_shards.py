"""The released CPM 2.6B checkpoint as it is laid out on disk: two DeepSpeed model-parallel shards that keep, next to
the weights under ``module``, DeepSpeed's bookkeeping and the RNG states CPM-Generate's training script saved
(``np_rng_state`` is a numpy array). These tests build small shards of that exact shape and show that they load and
merge, that anything beyond plain data is still refused without running it, and that the command the refusal
suggests, run as printed, gives files that preparation accepts."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase_cpm.case import CPMCase
from benchbase_cpm.checkpoint import (
    check_file_fits,
    import_into,
    load_checkpoint_file,
    load_model_parallel_dir,
    split_model_parallel,
)
from benchbase_cpm.model import CPMModel
from benchbase_cpm.shapes import CPMConfig

LARGE_LIKE = CPMConfig(vocab_size=96, n_positions=32, n_layer=4, n_embd=64, n_head=4, dropout=0.0)
ITERATION = 80000


class RunsAShellCommand:
    """Pickles as ``os.system("touch MARKER")``: loading it unsafely would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return CPMModel(LARGE_LIKE).state_dict()


def released_shard(module: dict[str, torch.Tensor], world_size: int) -> dict[str, object]:
    """One ``mp_rank_XX_model_states.pt`` as DeepSpeed's ``save_checkpoint`` wrote it for CPM-Generate: the engine's
    own keys, then the client state of ``save_ds_checkpoint`` (iteration and RNG states). The CUDA states are CPU
    byte tensors here; on disk they are byte tensors too."""
    return {
        "module": module,
        "optimizer": None,
        "lr_scheduler": {"num_iters": ITERATION, "start_lr": 1.5e-4, "warmup_iter": 3000, "decay_style": "cosine"},
        "csr_tensor_module_names": set(),
        "skipped_steps": 0,
        "global_steps": ITERATION,
        "dp_world_size": 1,
        "mp_world_size": world_size,
        "iteration": ITERATION,
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.get_rng_state(),
        "rng_tracker_states": {"model-parallel-rng": torch.get_rng_state()},
    }


def write_release(
    root: Path, weights: dict[str, torch.Tensor], *, extra: dict[int, dict[str, object]] | None = None
) -> Path:
    """CPM-Generate's download layout: ``80000/mp_rank_0{0,1}_model_states.pt`` and the latest-iteration file.
    ``extra`` adds keys to the shard of a rank. Returns the iteration folder."""
    folder = root / str(ITERATION)
    folder.mkdir(parents=True)
    for rank, shard in enumerate(split_model_parallel(weights, 2)):
        state = released_shard(shard, 2) | (extra or {}).get(rank, {})
        torch.save(state, folder / f"mp_rank_{rank:02d}_model_states.pt")
    (root / "latest_checkpointed_iteration.txt").write_text(f"{ITERATION}\n", encoding="utf-8")
    return folder


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def run_as_printed(fix: str, env_python_dir: Path) -> None:
    """Run the ``python -c '...'`` command of a refusal's fix through the shell, exactly as printed, with this test
    environment's ``python`` first on PATH."""
    (command,) = re.findall(r"(python -c '[^']*')", fix)
    env = {**os.environ, "PATH": f"{env_python_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(command, shell=True, check=True, env=env, capture_output=True, text=True)


PYTHON_DIR = Path(sys.executable).parent


def test_the_released_shards_with_their_rng_states_load_and_merge_into_the_model(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    write_release(tmp_path, weights)
    merged = load_model_parallel_dir(tmp_path)
    assert_same_tensors(merged, weights)
    import_into(CPMModel(LARGE_LIKE), merged, str(tmp_path))


def test_a_single_deepspeed_style_starting_checkpoint_with_the_same_extras_loads(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "cpm_model_states_medium.pt"
    torch.save(released_shard(weights, 1), path)
    assert_same_tensors(load_checkpoint_file(path), weights)
    check_file_fits(path, LARGE_LIKE)


def test_a_shard_holding_code_is_refused_in_one_line_without_running_it(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    marker = tmp_path / "ran"
    folder = write_release(tmp_path / "cpm", weights, extra={1: {"args": RunsAShellCommand(marker)}})
    with pytest.raises(BenchbaseError) as error:
        load_model_parallel_dir(tmp_path / "cpm")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        f"checkpoint {folder / 'mp_rank_01_model_states.pt'} holds pickled Python objects, not only tensors "
        "(first one: posix.system); refused without running them; if you trust the shards, re-save just their weights"
    )
    assert message.endswith(f"and pass --from-large {folder.with_name(f'{ITERATION}_weights')}")
    assert not marker.exists()


def test_a_shard_holding_a_numpy_array_of_objects_is_refused(tmp_path: Path, weights: dict[str, torch.Tensor]) -> None:
    write_release(tmp_path, weights, extra={0: {"np_rng_state": np.array(["MT19937", 1], dtype=object)}})
    with pytest.raises(BenchbaseError, match=r"mp_rank_00_model_states.pt holds .*a numpy array of dtype object"):
        load_model_parallel_dir(tmp_path)


def test_the_shard_re_save_command_run_as_printed_gives_a_folder_that_from_large_reads(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    marker = tmp_path / "ran"
    folder = write_release(tmp_path / "cpm", weights, extra={0: {"args": RunsAShellCommand(marker)}})
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(BenchbaseError) as error:
        load_model_parallel_dir(tmp_path / "cpm")
    run_as_printed(str(error.value), PYTHON_DIR)  # the user trusts the file: the payload runs now, by their choice
    assert marker.exists()
    (given,) = re.findall(r"--from-large (\S+)$", str(error.value))
    assert sorted(p.name for p in Path(given).iterdir()) == sorted(originals)
    assert_same_tensors(load_model_parallel_dir(given), weights)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == originals, "the download is left as it was"


def test_the_file_re_save_command_run_as_printed_gives_a_starting_checkpoint_preparation_accepts(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "data" / "cpm_model_states_medium.pt"
    path.parent.mkdir()
    torch.save(released_shard(weights, 1) | {"args": RunsAShellCommand(tmp_path / "ran")}, path)
    with pytest.raises(BenchbaseError) as error:
        check_file_fits(path, LARGE_LIKE)
    assert "re-save just its weights: python -c '" in str(error.value)
    run_as_printed(str(error.value), PYTHON_DIR)
    (given,) = re.findall(r"--set init_checkpoint=(\S+)$", str(error.value))
    # What `benchbase prepare cpm --set init_checkpoint=...` does with the setting before any rank starts:
    found = CPMCase._initial_checkpoint({"init_checkpoint": given}, path.parent)
    assert found == Path(given) == path.with_name("cpm_model_states_medium.weights.pt")
    check_file_fits(found, LARGE_LIKE)
    assert_same_tensors(load_checkpoint_file(found), weights)
