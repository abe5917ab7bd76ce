"""The ``.npy`` header read without NumPy says what NumPy itself wrote, and names what is not a header."""

from __future__ import annotations

import io

import numpy as np
import pytest

from benchbase_cpm.npy_header import read_npy_header


def saved(array: np.ndarray) -> io.BytesIO:
    handle = io.BytesIO()
    np.save(handle, array, allow_pickle=False)
    handle.seek(0)
    return handle


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_the_header_gives_the_shape_and_the_dtype_name_numpy_gives(dtype: type) -> None:
    array = np.zeros((7, 201), dtype=dtype)
    header = read_npy_header(saved(array))
    assert header.version == (1, 0)
    assert (header.shape, header.dtype_name, header.fortran_order) == (array.shape, str(array.dtype), False)


def test_a_version_2_header_is_read_too() -> None:
    handle = io.BytesIO()
    np.lib.format.write_array(handle, np.ones((3, 5), dtype=np.uint16), version=(2, 0))
    handle.seek(0)
    header = read_npy_header(handle)
    assert (header.version, header.shape, header.dtype_name) == ((2, 0), (3, 5), "uint16")


def test_another_dtype_keeps_the_header_string() -> None:
    assert read_npy_header(saved(np.zeros(4, dtype=np.float32))).dtype_name == "<f4"


@pytest.mark.parametrize(("data", "problem"), [
    (b"PK\x03\x04 not numpy at all", "magic"),
    (b"\x93NUMPY\x09\x00\x10\x00", "version"),
    (b"\x93NUMPY\x01\x00\x40\x00{'descr': '<u2'", "cut short"),
    (b"\x93NUMPY\x01\x00\x08\x00[1, 2] \n", "lacks"),
    (b"\x93NUMPY\x01\x00\x08\x00{'a': (\n", "dict literal"),
])
def test_what_is_not_a_header_is_a_value_error_saying_why(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        read_npy_header(io.BytesIO(data))
