"""The one way benchbase reads a ``torch.save`` file it did not write in this process.

Checkpoints are downloaded from the internet or copied between machines, and ``torch.load`` without
``weights_only=True`` runs whatever code the pickle names. So every file is read with ``weights_only=True``: tensors,
plain containers and numbers only; a file that names any other Python object is refused before that object is built.

Released training checkpoints also carry their RNG states next to the weights (Megatron and DeepSpeed save
``np.random.get_state()`` as ``np_rng_state``), and those are numpy arrays, which ``weights_only`` refuses by
default. ``allow_numpy=True`` lets exactly the numpy pieces of a plain numeric array through, and only inside a
``torch.serialization.safe_globals`` context for the one load (never process-wide). Each piece is a small wrapper
that checks its arguments before numpy sees them: an array of Python objects (``dtype=object``) or a structured
array could carry arbitrary objects, so those are refused like any other pickled object.

Every failure is a one-line :class:`~benchbase.errors.BenchbaseError` naming the file and what to do; the caller
chooses the wording of the fixes (:class:`Fixes`), since "download it again" and "start the run again" depend on
where the file came from.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchbase.errors import BenchbaseError

#: The first bytes of a ``torch.save`` zip archive (the format of torch 1.6 and later).
ZIP_MAGIC = b"PK"
#: A legacy (pre-zip) ``torch.save`` file is a pickle stream; protocol 2 and later start with the PROTO opcode.
PICKLE_PROTO_OPCODE = 0x80

#: numpy dtype kinds an allowed array or scalar may have: bool, signed and unsigned integers, floats, complex.
#: Not ``O`` (Python objects) nor ``V`` (structured records, which can hold objects).
PLAIN_DTYPE_KINDS = frozenset("biufc")

#: The torch release whose ``safe_globals`` accepts ``(callable, "module.name")`` pairs (torch 2.5 had the context
#: manager, 2.6 added the explicit names). The names must be explicit: the wrappers below live in this module, and
#: numpy 2 moved ``numpy.core`` to ``numpy._core`` while old checkpoints still name ``numpy.core``.
NUMPY_NEEDS_TORCH = (2, 6)

#: torch names the global it stopped at: "Unsupported global: GLOBAL x.y", or "unsupported GLOBAL posix.system whose
#: module posix is blocked" for the modules it never allows.
_UNSUPPORTED_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)")
_WEIGHTS_ONLY_FAILED = "Weights only load failed"
_REFUSED_NUMPY = "benchbase refuses "
_REFUSED_DETAIL = re.compile(re.escape(_REFUSED_NUMPY) + r"([^\n]+)")


@dataclass(frozen=True)
class Fixes:
    """What to tell the user, per way a file can fail. The defaults fit a file the user downloaded or copied."""

    missing: str = "give the path of a .pt file written by torch.save"
    not_torch: str = "point the checkpoint setting at the .pt file written by torch.save"
    damaged: str = "download or copy it again and compare its size with the source"
    refused: str = "if you trust the file, load it with torch.load(..., weights_only=False) and torch.save its tensors"

    @classmethod
    def same(cls, fix: str) -> Fixes:
        """One fix for every failure: for files benchbase wrote itself, where the only remedy is to start over."""
        return cls(missing=fix, not_torch=fix, damaged=fix, refused=fix)


def numpy_allowed() -> bool:
    """Whether this torch can let numpy RNG states through (see :data:`NUMPY_NEEDS_TORCH`)."""
    return hasattr(torch.serialization, "safe_globals") and torch.__version__ >= NUMPY_NEEDS_TORCH


def load_torch_file(
    path: str | Path,
    *,
    what: str = "checkpoint",
    allow_numpy: bool = False,
    allow_legacy: bool = True,
    mmap: bool = False,
    fixes: Fixes = Fixes(),
) -> Any:
    """What ``torch.save`` wrote to ``path``, read on the CPU with ``weights_only=True``.

    ``what`` names the file in messages ("checkpoint", "checkpoint file"). ``allow_numpy`` also admits plain
    numeric numpy arrays and scalars, as in ``np.random.get_state()``; on a torch older than
    :data:`NUMPY_NEEDS_TORCH` such files are refused like any other pickled object. ``allow_legacy`` admits the
    pre-zip format (released checkpoints from torch < 1.6); without it only zip archives are read. ``mmap`` maps a
    zip archive's tensors instead of reading them (a legacy file cannot be mapped and is read whole).

    The bytes are checked first, so an HTML error page or a text file is named as not a checkpoint rather than
    reported as pickled code (``torch.load`` reads any non-zip bytes as a legacy pickle).
    """
    path = Path(path)
    legacy = _check_bytes(path, what, allow_legacy, fixes)
    allowed = _numpy_globals_allowed() if allow_numpy and numpy_allowed() else nullcontext()
    try:
        with allowed:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and not legacy)
    except pickle.UnpicklingError as exc:
        if _WEIGHTS_ONLY_FAILED not in str(exc):
            raise _damaged(path, what, exc, fixes) from None
        raise _refused(path, what, str(exc), allow_numpy, fixes) from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises KeyError, EOFError, RuntimeError... for bad bytes
        raise _damaged(path, what, exc, fixes) from None
    if allow_numpy:
        _refuse_object_arrays(loaded, path, what, fixes)
    return loaded


def _check_bytes(path: Path, what: str, allow_legacy: bool, fixes: Fixes) -> bool:
    """Refuse a path that is not a file, or bytes that were never a torch file; True for a legacy pickle."""
    if path.is_dir():
        raise BenchbaseError(f"{what} {path} is a directory", fixes.missing)
    try:
        with path.open("rb") as handle:
            head = handle.read(len(ZIP_MAGIC))
    except FileNotFoundError:
        raise BenchbaseError(f"{what} {path} does not exist", fixes.missing) from None
    except OSError as exc:
        raise BenchbaseError(f"cannot read {what} {path} ({exc.strerror or exc})", fixes.missing) from None
    if not head:
        raise BenchbaseError(f"{what} {path} is empty", fixes.damaged)
    if head == ZIP_MAGIC:
        return False
    if allow_legacy and head[0] == PICKLE_PROTO_OPCODE:
        return True
    formats = "neither a torch.save zip archive nor a legacy pickle" if allow_legacy else "no torch.save zip archive"
    raise BenchbaseError(f"{what} {path} is not a PyTorch checkpoint ({formats})", fixes.not_torch)


def _damaged(path: Path, what: str, exc: BaseException, fixes: Fixes) -> BenchbaseError:
    """The bytes start like a torch file (checked before loading) but do not load: a damaged file."""
    reason = (str(exc).strip().splitlines() or [""])[0][:120]
    return BenchbaseError(f"{what} {path} is truncated or corrupted ({type(exc).__name__}: {reason})", fixes.damaged)


def _refused(path: Path, what: str, message: str, allow_numpy: bool, fixes: Fixes) -> BenchbaseError:
    """``weights_only`` stopped at a global it does not allow; nothing that global names was built."""
    found = _REFUSED_DETAIL.search(message) or _UNSUPPORTED_GLOBAL.search(message)
    first = f" (first one: {found.group(1).rstrip('.')})" if found else ""
    fix = fixes.refused
    if allow_numpy and not numpy_allowed() and found and found.group(1).startswith("numpy"):
        version = ".".join(map(str, NUMPY_NEEDS_TORCH))
        fix += f"; or upgrade torch to {version} or newer, which can read numpy RNG states"
    return BenchbaseError(
        f"{what} {path} holds pickled Python objects, not only tensors{first}; refused without running them", fix
    )


# -- the numpy pieces of a plain array ---------------------------------------------------------------------------
# A pickled ndarray is ``_reconstruct(ndarray, (0,), b"b")`` followed by ``ndarray.__setstate__((version, shape,
# dtype, fortran, raw bytes))``; its dtype is ``numpy.dtype("u4", False, True)`` followed by ``__setstate__``, which
# the weights-only unpickler only calls on classes it allows, hence the concrete dtype classes (``UInt32DType``...).
# A numpy scalar is ``scalar(dtype, raw bytes)``. The wrappers refuse any other use of these names.


class _Refusal(pickle.UnpicklingError):
    """Raised inside the unpickler; torch turns it into its "Weights only load failed" message with this text."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{_REFUSED_NUMPY}{detail}")


def _numpy() -> Any:
    import numpy

    return numpy


def _plain_dtype(spec: object, align: object = False, copy: object = True) -> Any:
    np = _numpy()
    if not isinstance(spec, str):
        raise _Refusal(f"a numpy dtype built from a {type(spec).__name__}")
    dtype = np.dtype(spec)
    if dtype.kind not in PLAIN_DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refusal(f"a numpy array of dtype {dtype}")
    return np.dtype(spec, align=bool(align), copy=bool(copy))


def _plain_array(subtype: object, shape: object, typecode: object) -> Any:
    np = _numpy()
    if subtype is not np.ndarray:
        raise _Refusal(f"a numpy array of class {getattr(subtype, '__name__', type(subtype).__name__)}")
    return _numpy_reconstruct()(subtype, shape, typecode)


def _plain_scalar(dtype: object, data: object = None) -> Any:
    if type(dtype) not in _plain_dtype_classes() or not isinstance(data, bytes):
        raise _Refusal(f"a numpy scalar of dtype {dtype}")
    return _numpy_scalar()(dtype, data)


def _numpy_reconstruct() -> Callable[..., Any]:
    """numpy's own array rebuilder, wherever this numpy keeps it (``numpy.core`` before 2.0, ``numpy._core`` after)."""
    return _numpy().zeros(1).__reduce__()[0]  # type: ignore[no-any-return]


def _numpy_scalar() -> Callable[..., Any]:
    return _numpy().float64(0).__reduce__()[0]  # type: ignore[no-any-return]


def _plain_dtype_classes() -> set[type]:
    np = _numpy()
    return {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}


def _numpy_safe_globals() -> list[tuple[Any, str]]:
    """The (object, name in the pickle) pairs a plain numeric array or scalar needs, under both numpy spellings."""
    allowed: list[tuple[Any, str]] = [(_numpy().ndarray, "numpy.ndarray"), (_plain_dtype, "numpy.dtype")]
    for core in ("numpy.core", "numpy._core"):
        allowed += [(_plain_array, f"{core}.multiarray._reconstruct"), (_plain_scalar, f"{core}.multiarray.scalar")]
    allowed += [(cls, f"{cls.__module__}.{cls.__qualname__}") for cls in _plain_dtype_classes()]
    return allowed


@contextmanager
def _numpy_globals_allowed() -> Iterator[None]:
    """The numpy pairs, allowed for the loads inside this block only. A process without numpy gets nothing extra."""
    try:
        allowed = _numpy_safe_globals()
    except ImportError:
        allowed = []
    with torch.serialization.safe_globals(allowed):
        yield


def _refuse_object_arrays(loaded: object, path: Path, what: str, fixes: Fixes) -> None:
    """A second check after loading: no numpy array of Python objects got through, whatever its pickle said.

    The dtype wrapper refuses ``dtype("O")``, but ``numpy.ndarray`` itself must be allowed (it is the class the
    rebuilt array is checked against), and ``ndarray((2,), "O")`` makes an array of ``None`` without that wrapper.
    Nothing ran to build it, yet such an array is no RNG state, so it is refused all the same."""
    try:
        np = _numpy()
    except ImportError:
        return
    pending = [loaded]
    while pending:
        item = pending.pop()
        if isinstance(item, np.ndarray) and item.dtype.hasobject:
            raise _refused(path, what, f"{_REFUSED_NUMPY}a numpy array of dtype {item.dtype}", True, fixes)
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
