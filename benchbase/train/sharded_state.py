"""The model and optimizer state of a sharded (``parallelism: fsdp``) run, saved and loaded by every rank at once.

Under FSDP no rank holds the whole model, so ``state.pt`` cannot carry it: each rank writes its own shards through
``torch.distributed.checkpoint`` (DCP) into a folder of the checkpoint, and reads them back at the same world size
(a resume at another world size is refused before anything starts, as under DDP; :mod:`benchbase.run.resume`).
Only tensors go into the folder; the optimizer's parameter groups (learning rates, betas: plain numbers) travel in
``state.pt`` with the rest of the workload, so the folder never holds pickled objects and
:mod:`benchbase.train.shard_files` can read it without unpickling any. Imported by sharded runs only: DCP and FSDP
cost seconds of import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import FileSystemWriter
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from benchbase.record import disk_space
from benchbase.train.shard_files import VettedShardReader, read_metadata

#: The top-level parts of the saved tensors.
MODEL, OPTIMIZER = "model", "optimizer"


class ShardedWorkload:
    """One rank's view of a sharded model and its optimizer, for the checkpoint (:mod:`benchbase.train.checkpoint`)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def _tensors(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The state to save or fill, keyed by parameter name (torch's ``get_state_dict``: the names of the unwrapped
        model, so a checkpoint can be vetted against the case's model built on the meta device), and the
        optimizer's parameter groups apart from it."""
        model_state, optimizer_state = get_state_dict(self.model, self.optimizer)
        tensors = {MODEL: model_state, OPTIMIZER: {"state": optimizer_state["state"]}}
        return tensors, optimizer_state["param_groups"]

    def save(self, folder: Path, fix: str) -> list[dict[str, Any]]:
        """Write this rank's shards into ``folder`` (every rank calls it together); returns the optimizer's parameter
        groups, for ``state.pt``. A disk that refuses a write is one line naming the folder, on every rank."""
        tensors, groups = self._tensors()
        try:
            dcp.save(tensors, storage_writer=FileSystemWriter(folder, thread_count=1))
        except OSError as exc:
            raise disk_space.unwritable(exc, f"checkpoint {folder}", fix) from None
        except CheckpointException as exc:  # some rank's write failed; DCP tells every rank
            refused = next((error for error, _trace in exc.failures.values() if isinstance(error, OSError)), None)
            if refused is None:
                raise RuntimeError(f"sharded checkpoint {folder} was not written: {exc}") from None
            raise disk_space.unwritable(refused, f"checkpoint {folder}", fix) from None
        return groups

    def load(self, folder: Path, groups: list[dict[str, Any]]) -> None:
        """Fill the model and optimizer with the shards in ``folder`` (every rank calls it together) and the saved
        parameter ``groups``: exactly the state they were saved with, at the same world size."""
        # Vetted here first: inside DCP's collective the reader's refusal would come back wrapped in a traceback.
        read_metadata(folder)
        tensors, _ = self._tensors()
        dcp.load(tensors, storage_reader=VettedShardReader(folder))
        set_state_dict(
            self.model,
            self.optimizer,
            model_state_dict=tensors[MODEL],
            optim_state_dict={"state": tensors[OPTIMIZER]["state"], "param_groups": groups},
        )
