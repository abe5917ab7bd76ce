"""A sharded checkpoint is untrusted input: its metadata is unpickled with an allow-list, and a folder that names
anything but its own tensor files is refused in one line, before torch reads a byte of it.

Each folder here is a real ``torch.distributed.checkpoint`` save (one process, no process group); the hostile ones are
that save with its ``.metadata`` rewritten the way someone handing over a run folder could rewrite it.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch import nn

from benchbase.errors import BenchbaseError
from benchbase.train.shard_files import METADATA_FILE, VettedShardReader, global_shapes, read_metadata
from benchbase.train.sharded_state import ShardedWorkload


def saved(folder: Path, state: dict | None = None) -> Path:
    dcp.save(state or {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "optimizer": {"state": {"w": {
        "step": torch.tensor(3.0)}}}}, checkpoint_id=folder)
    return folder


def rewrite_metadata(folder: Path, change) -> None:
    """Load the folder's metadata (trusted here: the test wrote it), change it, write it back."""
    path = folder / METADATA_FILE
    metadata = pickle.loads(path.read_bytes())
    change(metadata)
    path.write_bytes(pickle.dumps(metadata))


def test_a_folder_benchbase_wrote_is_read_back_with_its_whole_shapes_and_values(tmp_path: Path) -> None:
    folder = saved(tmp_path / "shards")
    assert global_shapes(read_metadata(folder)) == {"model.w": (2, 3), "optimizer.state.w.step": ()}
    into = {"model": {"w": torch.zeros(2, 3)}, "optimizer": {"state": {"w": {"step": torch.tensor(0.0)}}}}
    dcp.load(into, storage_reader=VettedShardReader(folder))
    assert torch.equal(into["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert into["optimizer"]["state"]["w"]["step"].item() == 3.0


class RunsCode:
    """Unpickling this would call ``os.system``: the classic payload of a hostile pickle."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_metadata_that_names_any_other_callable_is_refused_and_never_called(tmp_path: Path, monkeypatch) -> None:
    folder = saved(tmp_path / "shards")
    (folder / METADATA_FILE).write_bytes(pickle.dumps(RunsCode()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BenchbaseError, match=r"is not readable: it names posix\.system") as refusal:
        read_metadata(folder)
    assert "start the run again" in str(refusal.value) and "\n" not in str(refusal.value)
    assert not (tmp_path / "pwned").exists()


def test_a_folder_holding_pickled_bytes_is_refused_though_torch_would_read_them(tmp_path: Path) -> None:
    """benchbase saves tensors only; torch's own reader would unpickle these bytes with ``weights_only=False``."""
    folder = saved(tmp_path / "shards", {"model": {"w": torch.ones(2)}, "note": {"any": "object"}})
    with pytest.raises(BenchbaseError, match="BytesStorageMetadata"):
        read_metadata(folder)


def test_metadata_naming_a_file_outside_its_folder_is_refused(tmp_path: Path) -> None:
    folder = saved(tmp_path / "shards")
    (tmp_path / "elsewhere.distcp").write_bytes(b"x" * 4096)

    def escape(metadata) -> None:
        metadata.storage_data = {index: dataclasses.replace(info, relative_path="../elsewhere.distcp")
                                 for index, info in metadata.storage_data.items()}

    rewrite_metadata(folder, escape)
    with pytest.raises(BenchbaseError, match=r"names the data file '\.\./elsewhere\.distcp', not one of the folder"):
        read_metadata(folder)


def test_a_data_file_that_is_a_link_or_too_short_is_refused(tmp_path: Path) -> None:
    folder = saved(tmp_path / "shards")
    (data,) = folder.glob("*.distcp")
    content = data.read_bytes()
    data.write_bytes(content[: len(content) // 2])
    with pytest.raises(BenchbaseError, match="is shorter .* than the ranges read from it"):
        read_metadata(folder)
    (tmp_path / "real.distcp").write_bytes(content)
    data.unlink()
    data.symlink_to(tmp_path / "real.distcp")
    with pytest.raises(BenchbaseError, match="is not a regular file"):
        read_metadata(folder)


def test_a_missing_or_foreign_metadata_file_is_one_line(tmp_path: Path) -> None:
    folder = saved(tmp_path / "shards")
    (folder / METADATA_FILE).write_bytes(pickle.dumps({"not": "metadata"}))
    with pytest.raises(BenchbaseError, match="holds no checkpoint metadata"):
        read_metadata(folder)
    (folder / METADATA_FILE).unlink()
    with pytest.raises(BenchbaseError, match=r"\.metadata"):
        read_metadata(folder)


def test_a_workload_loads_back_exactly_what_it_saved_and_refuses_a_hostile_folder_in_one_line(tmp_path: Path) -> None:
    """The ranks' own load checks the folder again (it may have changed since the supervisor vetted it); the refusal
    raised inside DCP's collective comes back as the one line, not as DCP's wrapped traceback."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    groups = ShardedWorkload(model, optimizer).save(tmp_path / "shards", "free space")
    fresh = nn.Linear(3, 2)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.5)
    ShardedWorkload(fresh, fresh_optimizer).load(tmp_path / "shards", groups)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters()))
    saved_state, loaded_state = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(saved_state[0][key], loaded_state[0][key]) for key in ("step", "exp_avg", "exp_avg_sq"))
    assert fresh_optimizer.param_groups[0]["lr"] == 0.1, "the parameter groups travel beside the shards"

    (tmp_path / "shards" / METADATA_FILE).write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(BenchbaseError, match=r"posix\.system"):
        ShardedWorkload(fresh, fresh_optimizer).load(tmp_path / "shards", groups)
