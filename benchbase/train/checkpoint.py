"""The run's ``checkpoint/`` folder: one ``state.pt`` of workload and loop, one RNG file per rank, and under
``parallelism: fsdp`` one folder of every rank's model and optimizer shards (:mod:`benchbase.train.sharded_state`).

Apart from the loop so the supervisor can vet a checkpoint before a resume without importing the rank's code, and
so the order of writes that keeps the folder consistent (every rank's RNG and shards before ``state.pt``) lives in
one place.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import torch

from benchbase.contract import Vendor
from benchbase.errors import BenchbaseError
from benchbase.record import disk_space
from benchbase.record.atomic import atomic_write
from benchbase.record.safe_load import Fixes, load_torch_file
from benchbase.record.schema import CHECKPOINT_FILE
from benchbase.train.parallel import barrier

if TYPE_CHECKING:
    # Sharded runs only: importing DCP costs seconds every other run need not pay.
    from benchbase.train.sharded_state import ShardedWorkload

#: The folder of one checkpoint's shards, named by its step like the RNG files, so ``state.pt`` of step N always
#: finds the shards of step N.
SHARDS_PREFIX = "shards-step"
#: The key of ``state.pt``'s workload that holds a sharded run's optimizer parameter groups (its tensors are shards).
OPTIMIZER_GROUPS = "optimizer_groups"

#: What to do when a checkpoint cannot be written.
_UNWRITABLE_FIX = "free space on the run's disk (or make it writable), then --resume the run from its last checkpoint"


class _WriteWatch:
    """The file torch writes a checkpoint into, remembering the first error the disk gave: torch's zip writer reports
    a refused write as ``unexpected pos N vs M``, which names neither the disk nor the file."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.refused: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.refused = self.refused or exc
            raise

    def flush(self) -> None:
        try:
            self._handle.flush()
        except OSError as exc:
            self.refused = self.refused or exc
            raise


def save_file(path: Path, state: Any) -> None:
    """``torch.save`` of ``state`` into ``path``, atomically; a disk that refuses it (full, read-only, over quota) is a
    :class:`benchbase.record.disk_space.RecordUnwritable` saying so and naming the checkpoint, the earlier checkpoint
    intact. A run's status must say why it stopped, and "unexpected pos 704 vs 598" does not."""
    watched: list[_WriteWatch] = []

    def fill(handle: BinaryIO) -> None:
        watched.append(_WriteWatch(handle))
        try:
            torch.save(state, watched[0])
        except Exception:
            if watched[0].refused is not None:
                raise watched[0].refused from None
            raise

    try:
        atomic_write(path, fill)
    except OSError as exc:
        raise disk_space.unwritable(exc, f"checkpoint {path}", _UNWRITABLE_FIX) from None


def read_checkpoint(
    path: Path, *, mmap: bool = False, layout: tuple[str, ...] = ("workload", "loop")
) -> dict[str, Any]:
    """A file of the run's ``checkpoint/`` folder, read with ``weights_only=True``: tensors and plain containers only.

    A checkpoint folder can be copied between machines, so a file that would need arbitrary pickled code is refused,
    never executed. ``mmap=True`` maps tensors instead of reading them, so the supervisor can vet a large checkpoint
    before it touches the run. ``layout`` names the keys the file must hold.
    """
    again = "this checkpoint cannot be resumed; start the run again (benchbase writes checkpoints itself)"
    state = load_torch_file(path, what="checkpoint file", allow_legacy=False, mmap=mmap, fixes=Fixes.same(again))
    if not isinstance(state, dict) or not all(key in state for key in layout):
        raise BenchbaseError(f"checkpoint file {path} does not hold {', '.join(layout)}", again)
    return state


def _rng_state(vendor: Vendor, device: torch.device) -> dict[str, Any]:
    """The host's generators and, through the vendor, the device's: whatever the device type, dropout continues
    exactly after a resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    device_state = vendor.rng_state(device)
    if device_state is not None:
        state["device"] = device_state
    return state


def _set_rng_state(vendor: Vendor, device: torch.device, state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "device" in state:
        vendor.set_rng_state(device, state["device"])


def _rng_file_name(rank: int, step: int) -> str:
    return f"rng-rank{rank}-step{step}.pt"


def shards_folder_name(step: int) -> str:
    """The folder of the shards saved at ``step``."""
    return f"{SHARDS_PREFIX}{step}"


class Checkpoints:
    """One rank's view of the checkpoint folder: rank 0 writes the shared state, every rank its own RNG."""

    def __init__(self, folder: Path, rank: int, world_size: int, vendor: Vendor, device: torch.device) -> None:
        self.folder = folder
        self.rank = rank
        self.world_size = world_size
        self.vendor = vendor
        self.device = device

    @property
    def state_path(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    def save(self, step: int, state: Callable[[], dict[str, Any]], shards: ShardedWorkload | None = None) -> Path:
        """Write this rank's RNG of ``step`` (and its ``shards``, under FSDP) and, on rank 0, ``state()`` as
        ``state.pt``; returns its path.

        RNG files and shard folders are named by step and all written before ``state.pt`` is replaced, so whenever
        ``state.pt`` exists every rank's RNG and shards of the same step exist too, even if the run is killed between
        any two writes. ``state`` is called only on rank 0, after every rank's RNG and shards are on disk.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise disk_space.unwritable(exc, f"checkpoint folder {self.folder}", _UNWRITABLE_FIX) from None
        rng_file = self.folder / _rng_file_name(self.rank, step)
        rng = _rng_state(self.vendor, self.device)
        save_file(rng_file, rng)
        groups = shards.save(self.folder / shards_folder_name(step), _UNWRITABLE_FIX) if shards else None
        barrier(self.world_size)
        if self.rank == 0:
            snapshot = state()
            if groups is not None:
                snapshot["workload"][OPTIMIZER_GROUPS] = groups
            save_file(self.state_path, snapshot)
        barrier(self.world_size)
        for old in self.folder.glob(f"rng-rank{self.rank}-step*.pt"):
            if old != rng_file:
                old.unlink(missing_ok=True)
        if self.rank == 0:
            self._drop_older_shards(shards_folder_name(step))
        return self.state_path

    def _drop_older_shards(self, current: str) -> None:
        """Remove the shard folders of earlier checkpoints, once ``state.pt`` names a newer step."""
        for old in self.folder.glob(f"{SHARDS_PREFIX}*"):
            if old.name != current and old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)

    def restore(
        self, load_workload: Callable[[Mapping[str, Any]], None], shards: ShardedWorkload | None = None
    ) -> dict[str, Any]:
        """Load the saved ``shards`` (under FSDP), hand the saved workload to ``load_workload``, restore this rank's
        RNG, and return the saved loop state."""
        state = read_checkpoint(self.state_path)
        loop: dict[str, Any] = state["loop"]
        if loop["world_size"] != self.world_size:
            raise BenchbaseError(
                f"checkpoint was written by {loop['world_size']} ranks but this run has {self.world_size}",
                f"resume with the topology the run started with (world size {loop['world_size']})",
            )
        groups = state["workload"].get(OPTIMIZER_GROUPS)
        if (shards is not None) != isinstance(groups, list):
            written, wanted = ("sharded", "unsharded") if shards is None else ("unsharded", "sharded")
            raise BenchbaseError(
                f"checkpoint {self.state_path} holds {written} state, and this run trains {wanted}",
                "resume with the parallelism the run started with, or start the run again",
            )
        if shards is not None:
            shards.load(self.folder / shards_folder_name(loop["step"]), groups)
        load_workload(state["workload"])
        rng = read_checkpoint(self.folder / _rng_file_name(self.rank, loop["step"]), layout=("torch", "python"))
        _set_rng_state(self.vendor, self.device, rng)
        return loop
