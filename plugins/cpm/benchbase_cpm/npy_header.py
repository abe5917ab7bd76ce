"""The header of a ``.npy`` file read without NumPy, so that checking a cached window array (every run, every dry
run, a cached ``prepare``) does not import NumPy's 70 ms for a few hundred bytes.

The layout is NumPy's documented format (``numpy.lib.format``, NEP 1): the magic ``\\x93NUMPY``, a major and minor
version byte, the header's length (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), then the header
itself, a Python dict literal with ``descr``, ``fortran_order`` and ``shape``.
"""

from __future__ import annotations

import ast
from typing import BinaryIO, NamedTuple

MAGIC = b"\x93NUMPY"
#: Bytes of the header length, per major version.
_LENGTH_BYTES = {1: 2, 2: 4, 3: 4}
#: The header's dtype strings of the two dtypes windows are built in (:func:`benchbase_cpm.windows.window_dtype`),
#: little-endian as this host writes them, and their NumPy names.
DTYPE_NAMES = {"<u2": "uint16", "<i4": "int32"}


class NpyHeader(NamedTuple):
    """What a ``.npy`` header says about its array."""

    version: tuple[int, int]
    descr: str
    fortran_order: bool
    shape: tuple[int, ...]

    @property
    def dtype_name(self) -> str:
        """The dtype as ``str(array.dtype)`` names it for the dtypes windows use; the header's own string else."""
        return DTYPE_NAMES.get(self.descr, self.descr)


def read_npy_header(handle: BinaryIO) -> NpyHeader:
    """The header at the start of ``handle``; ``ValueError`` saying what is wrong when it is not a ``.npy`` header."""
    start = handle.read(len(MAGIC) + 2)
    if len(start) < len(MAGIC) + 2 or not start.startswith(MAGIC):
        raise ValueError("the file does not start with the .npy magic")
    version = (start[-2], start[-1])
    length_bytes = _LENGTH_BYTES.get(version[0])
    if length_bytes is None:
        raise ValueError(f"unknown .npy format version {version}")
    length = int.from_bytes(handle.read(length_bytes), "little")
    text = handle.read(length)
    if len(text) < length:
        raise ValueError("the .npy header is cut short")
    try:
        header = ast.literal_eval(text.decode("utf-8" if version[0] >= 3 else "latin1"))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the .npy header is not a dict literal ({exc})") from None
    if (not isinstance(header, dict) or not isinstance(header.get("descr"), str)
            or not isinstance(header.get("fortran_order"), bool) or not isinstance(header.get("shape"), tuple)
            or not all(isinstance(size, int) for size in header["shape"])):
        raise ValueError(f"the .npy header lacks descr, fortran_order or shape: {header!r}")
    return NpyHeader(version, header["descr"], header["fortran_order"], header["shape"])
