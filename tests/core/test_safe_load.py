"""Reading torch files benchbase did not write: tensors and plain numbers load, numpy RNG states load when asked for,
anything else is refused before it is built, and every failure is one line that names the file and the fix."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase.record.safe_load import Fixes, load_torch_file


class RunsAShellCommand:
    """Pickles as ``os.system("touch MARKER")``: loading it unsafely would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


class WritesAFile:
    """Pickles as ``Path.write_text(MARKER, "ran")`` (reached through ``getattr``), from a module torch does not block
    outright."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "ran"))


def saved(path: Path, obj: object, *, legacy: bool = False) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def rng_states() -> dict[str, object]:
    """What Megatron and DeepSpeed save next to the weights, as CPM-Generate's training script does."""
    return {
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
    }


def test_tensors_and_plain_containers_load_on_the_cpu(tmp_path: Path) -> None:
    path = saved(tmp_path / "w.pt", {"w": torch.arange(4.0), "step": 3, "names": ["a", "b"], "seen": {1, 2}})
    loaded = load_torch_file(path)
    assert torch.equal(loaded["w"], torch.arange(4.0)) and loaded["w"].device.type == "cpu"
    assert (loaded["step"], loaded["names"], loaded["seen"]) == (3, ["a", "b"], {1, 2})


def test_a_legacy_pre_zip_file_loads_unless_only_zip_archives_are_allowed(tmp_path: Path) -> None:
    path = saved(tmp_path / "old.pt", {"w": torch.ones(2)}, legacy=True)
    assert torch.equal(load_torch_file(path)["w"], torch.ones(2))
    with pytest.raises(BenchbaseError, match=r"is not a PyTorch checkpoint \(no torch.save zip archive\)"):
        load_torch_file(path, allow_legacy=False)


def test_mmap_maps_a_zip_archive_and_reads_a_legacy_file_whole(tmp_path: Path) -> None:
    assert torch.equal(load_torch_file(saved(tmp_path / "new.pt", torch.ones(3)), mmap=True), torch.ones(3))
    old = saved(tmp_path / "old.pt", torch.ones(3), legacy=True)
    assert torch.equal(load_torch_file(old, mmap=True), torch.ones(3))


def test_an_rng_state_from_numpy_is_refused_unless_numpy_is_allowed(tmp_path: Path) -> None:
    path = saved(tmp_path / "states.pt", rng_states())
    with pytest.raises(BenchbaseError, match=r"holds pickled Python objects.*\(first one: numpy\.\S*_reconstruct\)"):
        load_torch_file(path)
    loaded = load_torch_file(path, allow_numpy=True)
    name, keys, pos, has_gauss, cached = loaded["np_rng_state"]
    expected = np.random.get_state()
    assert (name, keys.dtype, keys.shape) == ("MT19937", np.uint32, (624,))
    assert np.array_equal(keys, expected[1]) and (pos, has_gauss, cached) == expected[2:]
    np.random.set_state(loaded["np_rng_state"])
    assert loaded["random_rng_state"] == random.getstate()


def test_numpy_is_allowed_for_that_one_load_only_even_when_it_fails(tmp_path: Path) -> None:
    path = saved(tmp_path / "states.pt", rng_states())
    before = set(torch.serialization.get_safe_globals())
    load_torch_file(path, allow_numpy=True)
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)
    refused = saved(tmp_path / "code.pt", {**rng_states(), "extra": WritesAFile(tmp_path / "ran")})
    with pytest.raises(BenchbaseError):
        load_torch_file(refused, allow_numpy=True)
    assert set(torch.serialization.get_safe_globals()) == before


def test_plain_numeric_arrays_and_scalars_of_any_width_load(tmp_path: Path) -> None:
    values = {
        "floats": np.linspace(0, 1, 5, dtype=np.float32),
        "ints": np.arange(6, dtype=np.int64).reshape(2, 3),
        "flags": np.array([True, False]),
        "scalar": np.float64(0.25),
        "count": np.int32(7),
    }
    loaded = load_torch_file(saved(tmp_path / "numbers.pt", values), allow_numpy=True)
    for key, value in values.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value), key


def test_a_file_from_numpy_1_names_numpy_core_and_loads_under_numpy_2(tmp_path: Path) -> None:
    """Checkpoints from 2020 were pickled by numpy 1, whose arrays rebuild through ``numpy.core.multiarray``."""
    path = saved(tmp_path / "old_numpy.pt", rng_states(), legacy=True)
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray\n_reconstruct" in path.read_bytes()
    assert load_torch_file(path, allow_numpy=True)["np_rng_state"][1].shape == (624,)


@pytest.mark.parametrize(("payload", "first_global"), [(RunsAShellCommand, "posix.system"), (WritesAFile, "getattr")])
def test_an_object_that_would_run_code_is_refused_without_running_it(
    tmp_path: Path, payload: type, first_global: str
) -> None:
    marker = tmp_path / "ran"
    path = saved(tmp_path / "evil.pt", {**rng_states(), "module": {"w": torch.zeros(1)}, "extra": payload(marker)})
    with pytest.raises(BenchbaseError) as error:
        load_torch_file(path, allow_numpy=True)
    message = str(error.value)
    assert "\n" not in message
    assert f"checkpoint {path} holds pickled Python objects" in message and "refused without running them" in message
    assert f"(first one: {first_global})" in message
    assert not marker.exists()


def test_a_numpy_array_of_python_objects_is_refused_before_its_items_are_built(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = saved(tmp_path / "objects.pt", {"np_rng_state": np.array([WritesAFile(marker), 1], dtype=object)})
    with pytest.raises(BenchbaseError, match=r"\(first one: a numpy array of dtype object\); refused without running"):
        load_torch_file(path, allow_numpy=True)
    assert not marker.exists()


class ObjectArrayWithoutADtype:
    """Pickles as ``numpy.ndarray((2,), "O")``: an array of Python objects that never names ``numpy.dtype``."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (np.ndarray, ((2,), "O"))


def test_an_array_of_objects_made_without_naming_a_dtype_is_refused_too(tmp_path: Path) -> None:
    path = saved(tmp_path / "sneaky.pt", {"np_rng_state": ObjectArrayWithoutADtype()})
    with pytest.raises(BenchbaseError, match=r"\(first one: a numpy array of dtype object\); refused without running"):
        load_torch_file(path, allow_numpy=True)


def test_a_structured_numpy_array_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path / "records.pt", {"table": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])})
    with pytest.raises(BenchbaseError, match=r"first one: a numpy array of dtype \|V12"):
        load_torch_file(path, allow_numpy=True)


def test_a_torch_without_named_safe_globals_refuses_numpy_and_says_which_torch_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(torch.serialization, "safe_globals")
    path = saved(tmp_path / "states.pt", rng_states())
    with pytest.raises(BenchbaseError, match=r"first one: numpy.*or upgrade torch to 2\.6 or newer"):
        load_torch_file(path, allow_numpy=True)


def test_bytes_that_were_never_a_torch_file_are_named_as_such(tmp_path: Path) -> None:
    page = tmp_path / "page.pt"
    page.write_text("<!DOCTYPE html><html><body>404</body></html>\n", encoding="utf-8")
    with pytest.raises(BenchbaseError, match=rf"checkpoint {page} is not a PyTorch checkpoint \(neither a torch"):
        load_torch_file(page)
    (tmp_path / "empty.pt").touch()
    with pytest.raises(BenchbaseError, match="empty.pt is empty; download or copy it again"):
        load_torch_file(tmp_path / "empty.pt")


def test_a_missing_path_or_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="absent.pt does not exist; give the path of a .pt file"):
        load_torch_file(tmp_path / "absent.pt")
    with pytest.raises(BenchbaseError, match=rf"checkpoint {tmp_path} is a directory"):
        load_torch_file(tmp_path)


def test_a_truncated_file_is_reported_as_damaged(tmp_path: Path) -> None:
    path = saved(tmp_path / "cut.pt", {"w": torch.zeros(4096)})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BenchbaseError, match=r"cut.pt is truncated or corrupted \(\w+: .*\); download or copy it"):
        load_torch_file(path)


def test_the_caller_names_the_file_and_chooses_the_fixes(tmp_path: Path) -> None:
    again = "start the run again"
    page = tmp_path / "state.pt"
    page.write_text("not a checkpoint", encoding="utf-8")
    with pytest.raises(BenchbaseError) as error:
        load_torch_file(page, what="checkpoint file", allow_legacy=False, fixes=Fixes.same(again))
    assert str(error.value) == (
        f"checkpoint file {page} is not a PyTorch checkpoint (no torch.save zip archive); {again}"
    )
    code = saved(tmp_path / "code.pt", {"loop": WritesAFile(tmp_path / "ran")})
    with pytest.raises(BenchbaseError, match=rf"refused without running them; {again}$"):
        load_torch_file(code, fixes=Fixes(refused=again))
