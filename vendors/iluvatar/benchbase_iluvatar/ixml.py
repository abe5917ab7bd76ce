"""Iluvatar's NVML-compatible management library (``libixml.so``), driven through the ``pynvml`` bindings.

``pynvml`` keeps its library in the module global ``nvmlLib`` and loads ``libnvidia-ml.so.1`` only while that is
``None`` (``_LoadNvmlLibrary``); each of its calls then looks its C symbol up by name in that library
(``_nvmlGetFunctionPointer``, a ``getattr`` on the ``ctypes.CDLL``; a missing symbol is ``FunctionNotFound``). So
loading ``libixml.so`` with ``ctypes.CDLL`` and storing it there, under pynvml's ``libLoadLock``, makes every
``pynvml`` call go to ixml.

Which symbols ixml exports: Iluvatar's own Go binding, go-ixml ("compatible with IX driver version 4.2.0"), declares
the *versioned* NVML entry points only - ``nvmlInit_v2``, ``nvmlDeviceGetCount_v2``, ``nvmlDeviceGetHandleByIndex_v2``,
``nvmlDeviceGetPciInfo_v3`` (its ``pkg/ixml/api.h``). pynvml asks for the last three under exactly those names, but
its ``nvmlInit`` calls ``nvmlInitWithFlags``, which ixml lacks. So each of the four is made through pynvml first and,
on ``FunctionNotFound``, through ixml's own symbols with pynvml's ctypes types: initialisation tries
``nvmlInit_v2`` and then the unversioned ``nvmlInit``; enumeration and PCI info, whose versioned names pynvml has
already tried, fall back to the unversioned ``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex`` and
``nvmlDeviceGetPciInfo`` (v1 layout) of libraries that export only those. Every other query is a plain pynvml call;
what ixml lacks (the energy counter, ``nvmlErrorString``) reads as ``None`` or pynvml's own wording.
Enumeration in CUDA's order and the queries themselves are the kit's (:class:`benchbase.kit.NvmlStyleSession`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbase.kit import NvmlStyleSession, sysfs_bus_id
from benchbase.errors import BenchbaseError
from benchbase_iluvatar.models import short_model

IXML_ENV = "IXML_LIBRARY"
STANDARD_PATHS = (Path("/usr/local/corex/lib64/libixml.so"), Path("/usr/local/corex/lib/libixml.so"))

#: ixml's initialisers, newest first: go-ixml's ``nvmlInit_v2``, then the unversioned name of older libraries.
_INIT_SYMBOLS = ("nvmlInit_v2", "nvmlInit")

#: NVML's unit is the milliwatt and ixml follows it; a live accelerator draws tens of watts, i.e. tens of thousands
#: of mW. A raw value below this cannot be milliwatts of a running board, so it is read as watts.
MILLIWATT_THRESHOLD = 1000.0


def ixml_power_watts(raw: float) -> float:
    """Convert ixml's power reading to watts (milliwatts normally; see :data:`MILLIWATT_THRESHOLD`)."""
    return raw / 1000.0 if raw >= MILLIWATT_THRESHOLD else raw


def looked_for(candidates: Sequence[Path] = STANDARD_PATHS) -> str:
    return ", ".join([IXML_ENV, *map(str, candidates)])


def locate_ixml(env: Mapping[str, str], candidates: Sequence[Path] = STANDARD_PATHS) -> Path | None:
    """``$IXML_LIBRARY`` if set (and then it must exist), else the first standard CoreX path that exists."""
    explicit = env.get(IXML_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BenchbaseError(
                f"{IXML_ENV}={explicit} does not exist",
                f"point {IXML_ENV} at CoreX's libixml.so (e.g. {STANDARD_PATHS[0]}) or unset it",
            )
        return path
    return next((path for path in candidates if path.is_file()), None)


def _load(nvml: Any, library: Path, cdll: Callable[[str], Any]) -> Any:
    """Put ixml into pynvml's library slot, reusing it if an earlier session already did."""
    with nvml.libLoadLock:
        loaded = nvml.nvmlLib
        if loaded is not None:
            if getattr(loaded, "_name", None) == str(library):
                return loaded
            raise BenchbaseError(
                f"another NVML library ({getattr(loaded, '_name', loaded)}) is already loaded in this process",
                "query Iluvatar devices from a process that has not used NVIDIA's NVML",
            )
        try:
            lib = cdll(str(library))
        except OSError as exc:
            raise BenchbaseError(
                f"cannot load {library} ({exc})",
                "check that the CoreX driver and SDK match (LD_LIBRARY_PATH should include /usr/local/corex/lib64)",
            ) from exc
        nvml.nvmlLib = lib
    return lib


class IxmlSession(NvmlStyleSession):
    """ixml loaded into ``nvml`` (the pynvml module), initialised, with the visible devices' handles."""

    source = "ixml"
    unknown_name = "unknown Iluvatar device"

    def __init__(
        self,
        nvml: Any,
        library: Path,
        visible: str | None = None,
        cdll: Callable[[str], Any] = ctypes.CDLL,
    ) -> None:
        self.library = library
        self._lib = _load(nvml, library, cdll)
        super().__init__(nvml, visible)

    def _init_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(
            f"ixml at {self.library} could not be initialised ({exc})",
            "check that /dev/iluvatar* exist and the CoreX driver is loaded, or set IXML_LIBRARY to the right "
            "libixml.so",
        )

    def _listing_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(
            f"ixml at {self.library} could not list the devices ({exc})", "check the CoreX driver with ixsmi"
        )

    def _model(self, long_name: str) -> str:
        return short_model(long_name)

    def _extra(self, physical: int, handle: Any) -> dict[str, Any]:
        return {"physical_index": physical, "telemetry": self.source}

    def _power_watts(self, raw: float) -> float:
        return ixml_power_watts(raw)

    def _plain(self, symbols: Sequence[str], *args: Any) -> None:
        """Call the first of ``symbols`` the library exports; ``FunctionNotFound`` when it exports none of them."""
        function = next((f for f in (getattr(self._lib, s, None) for s in symbols) if f is not None), None)
        if function is None:
            raise self.nvml.NVMLError(self.nvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        result = function(*args)
        if result != 0:
            raise self.nvml.NVMLError(result)

    def _missing(self, exc: BaseException) -> bool:
        """Whether pynvml failed only because ixml lacks the versioned symbol it asked for."""
        return getattr(exc, "value", None) == self.nvml.NVML_ERROR_FUNCTION_NOT_FOUND

    def _init(self) -> None:
        try:
            self.nvml.nvmlInit()
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                raise
            self._plain(_INIT_SYMBOLS)

    def _count(self) -> int:
        try:
            return int(self.nvml.nvmlDeviceGetCount())
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                raise
        count = ctypes.c_uint()
        self._plain(("nvmlDeviceGetCount",), ctypes.byref(count))
        return count.value

    def _handle(self, index: int) -> Any:
        try:
            return self.nvml.nvmlDeviceGetHandleByIndex(index)
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                raise
        handle = self.nvml.c_nvmlDevice_t()
        self._plain(("nvmlDeviceGetHandleByIndex",), ctypes.c_uint(index), ctypes.byref(handle))
        return handle

    def pci_bus_id(self, handle: Any) -> str | None:
        try:
            return sysfs_bus_id(self.nvml.nvmlDeviceGetPciInfo(handle).busId)
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                return None
        info = self.nvml.nvmlPciInfo_t()
        try:
            self._plain(("nvmlDeviceGetPciInfo",), handle, ctypes.byref(info))
        except self.nvml.NVMLError:
            return None
        # The unversioned call fills the v1/v2 layout, whose first field is the 16-byte id (busIdLegacy in v3).
        return sysfs_bus_id(info.busIdLegacy or info.busId)
