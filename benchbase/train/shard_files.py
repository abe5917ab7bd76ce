"""Reading a sharded checkpoint (``torch.distributed.checkpoint``'s folder format) that benchbase did not write in this
process, without running anything it names.

A run folder can be copied between machines, so its checkpoint is untrusted input. torch's own reader unpickles the
folder's ``.metadata`` with plain ``pickle`` (any callable the file names would run) and loads the non-tensor items
with ``weights_only=False``. Here the metadata is unpickled with an allow-list of the metadata's own classes and
torch's sizes, dtypes and layouts; benchbase saves tensors only, so a checkpoint holding pickled bytes is refused
rather than read; and every data file the metadata names must be a plain file of the folder (no path, no link),
large enough for the ranges read from it. The tensors themselves torch reads with ``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import stat
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta, TensorStorageMetadata

from benchbase.errors import BenchbaseError
from benchbase.record.files import read_record_bytes

#: The file DCP writes its plan of the folder to.
METADATA_FILE = ".metadata"
#: The metadata of a checkpoint of tens of thousands of tensors is a few MiB; far more is no metadata of ours.
METADATA_LIMIT = 256 * 2**20
#: The data files DCP's file-system writer names: ``__<rank>_<file>.distcp``, in the folder itself.
DATA_FILE = re.compile(r"__\d{1,9}_\d{1,9}\.distcp")

_METADATA_CLASSES = frozenset((
    "Metadata", "TensorStorageMetadata", "TensorProperties", "ChunkStorageMetadata", "MetadataIndex", "StorageMeta",
    "_MEM_FORMAT_ENCODING",
))
_ALLOWED: dict[str, frozenset[str]] = {
    "torch.distributed.checkpoint.metadata": _METADATA_CLASSES,
    "torch.distributed.checkpoint.filesystem": frozenset(("_StorageInfo",)),
    "torch.serialization": frozenset(("_get_layout",)),
    # StorageMeta names the folder it was written to; a path is plain data.
    "pathlib": frozenset(("PosixPath", "PurePosixPath")),
    "pathlib._local": frozenset(("PosixPath", "PurePosixPath")),
}
_AGAIN = "this checkpoint cannot be resumed; start the run again (benchbase writes checkpoints itself)"


class _MetadataUnpickler(pickle.Unpickler):
    """Builds only what a DCP metadata file holds; any other global is a refusal, never an import."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which no checkpoint of benchbase holds")


def read_metadata(folder: Path) -> Metadata:
    """The vetted metadata of the sharded checkpoint in ``folder``; one-line :class:`BenchbaseError` otherwise."""
    path = folder / METADATA_FILE
    data = read_record_bytes(path, METADATA_LIMIT)
    try:
        metadata = _MetadataUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted file is the same refusal
        raise BenchbaseError(f"sharded checkpoint {path} is not readable: {str(exc)[:200]}", _AGAIN) from None
    problem = _problem(metadata, folder)
    if problem:
        raise BenchbaseError(f"sharded checkpoint {path}: {problem}", _AGAIN)
    return metadata  # type: ignore[no-any-return]


def global_shapes(metadata: Metadata) -> dict[str, tuple[int, ...]]:
    """Each saved tensor's name (``model.<fqn>``, ``optimizer.state.<fqn>.<key>``) and its whole, unsharded shape."""
    return {name: tuple(entry.size) for name, entry in metadata.state_dict_metadata.items()}


def _problem(metadata: Any, folder: Path) -> str | None:
    """What makes ``metadata`` no checkpoint benchbase wrote into ``folder``, or ``None``."""
    if not isinstance(metadata, Metadata) or not isinstance(metadata.state_dict_metadata, dict):
        return "it holds no checkpoint metadata"
    if not isinstance(metadata.storage_meta, (StorageMeta, type(None))):
        return "its storage facts are no storage facts"
    for name, entry in metadata.state_dict_metadata.items():
        if not isinstance(entry, TensorStorageMetadata):
            return f"{name} is no tensor (benchbase saves tensors only)"
        if not isinstance(entry.size, torch.Size) or any(not isinstance(d, int) or d < 0 for d in entry.size):
            return f"{name} has no shape"
    if not isinstance(metadata.storage_data, dict):
        return "it names no data files"
    sizes: dict[str, int] = {}
    for info in metadata.storage_data.values():
        name = getattr(info, "relative_path", None)
        if not isinstance(name, str) or not DATA_FILE.fullmatch(name):
            return f"it names the data file {str(name)[:80]!r}, not one of the folder's own"
        if getattr(info, "transform_descriptors", None):
            return f"{name} is stored transformed, which benchbase never does"
        if name not in sizes:
            try:
                status = os.lstat(folder / name)
            except OSError:
                return f"its data file {name} is missing"
            if not stat.S_ISREG(status.st_mode):
                return f"its data file {name} is not a regular file"
            sizes[name] = status.st_size
        offset, length = getattr(info, "offset", None), getattr(info, "length", None)
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            return f"a range of {name} is not a pair of sizes"
        if offset + length > sizes[name]:
            return f"{name} is shorter ({sizes[name]} bytes) than the ranges read from it"
    return None


class VettedShardReader(FileSystemReader):
    """torch's file-system reader, with the metadata read by :func:`read_metadata` instead of ``pickle.load``."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        metadata = read_metadata(Path(self.path))
        # As torch's own reader does: the metadata carries the id of the load that read it.
        if metadata.storage_meta is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata
