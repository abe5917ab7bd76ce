"""Iluvatar's NVML-compatible management library (``libixml.so``), driven through the ``pynvml`` bindings.

``pynvml`` keeps its library in the module global ``nvmlLib`` and loads ``libnvidia-ml.so.1`` only while that is
``None`` (``_LoadNvmlLibrary``), so loading ``libixml.so`` with ``ctypes.CDLL`` and storing it there, under pynvml's
``libLoadLock``, makes every ``pynvml`` call go to ixml.

ixml exports the *unversioned* NVML symbols (Iluvatar's own device plugin resolves ``nvmlInit``,
``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex``, ``nvmlDeviceGetPciInfo``), while pynvml calls the versioned
ones for four of them (``nvmlInitWithFlags``, ``..._v2``, ``nvmlDeviceGetPciInfo_v3``). Each of those four is tried
through pynvml first and, on ``FunctionNotFound``, made through the unversioned symbol with pynvml's own ctypes
types. Every other query is a plain pynvml call; what ixml lacks (e.g. the energy counter) reads as ``None``.
"""

from __future__ import annotations

import ctypes
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbase.contract import DeviceInfo, Sensors
from benchbase.cuda_like import visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.nvml_like import NvmlSensors, nvml_value
from benchbase.topology import normalise_pci_bus_id
from benchbase_iluvatar.models import short_model

IXML_ENV = "IXML_LIBRARY"
STANDARD_PATHS = (Path("/usr/local/corex/lib64/libixml.so"), Path("/usr/local/corex/lib/libixml.so"))

#: NVML's unit is the milliwatt and ixml follows it; a live accelerator draws tens of watts, i.e. tens of thousands
#: of mW. A raw value below this cannot be milliwatts of a running board, so it is read as watts.
MILLIWATT_THRESHOLD = 1000.0

_GIB = float(2**30)


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


def import_pynvml() -> Any:
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise BenchbaseError(
            f"cannot drive libixml.so: the nvidia-ml-py package is not installed ({exc})", "pip install nvidia-ml-py"
        ) from exc


class IxmlSession:
    """ixml loaded into ``nvml`` (the pynvml module), initialised, with the visible devices' handles."""

    source = "ixml"

    def __init__(
        self,
        nvml: Any,
        library: Path,
        visible: str | None = None,
        cdll: Callable[[str], Any] = ctypes.CDLL,
    ) -> None:
        self.nvml = nvml
        self.library = library
        self._lib = self._load(library, cdll)
        try:
            self._init()
        except nvml.NVMLError as exc:
            raise BenchbaseError(
                f"ixml at {library} could not be initialised ({exc})",
                "check that /dev/iluvatar* exist and the CoreX driver is loaded, or set IXML_LIBRARY to the right "
                "libixml.so",
            ) from exc
        try:
            physical = [self._handle(i) for i in range(self._count())]
            uuids = [nvml_value(nvml, nvml.nvmlDeviceGetUUID, h) for h in physical]
            order = visible_device_order(visible, uuids)
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            problem = f"ixml at {library} could not list the devices ({exc})"
            raise BenchbaseError(problem, "check the CoreX driver with ixsmi") from exc
        except BenchbaseError:
            nvml.nvmlShutdown()
            raise
        self.physical_indices = order
        self.handles = [physical[i] for i in order]

    def _load(self, library: Path, cdll: Callable[[str], Any]) -> Any:
        """Put ixml into pynvml's library slot, reusing it if an earlier session already did."""
        with self.nvml.libLoadLock:
            loaded = self.nvml.nvmlLib
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
            self.nvml.nvmlLib = lib
        return lib

    def _plain(self, symbol: str, *args: Any) -> None:
        function = getattr(self._lib, symbol, None)
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
            self._plain("nvmlInit")

    def _count(self) -> int:
        try:
            return int(self.nvml.nvmlDeviceGetCount())
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                raise
        count = ctypes.c_uint()
        self._plain("nvmlDeviceGetCount", ctypes.byref(count))
        return count.value

    def _handle(self, index: int) -> Any:
        try:
            return self.nvml.nvmlDeviceGetHandleByIndex(index)
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                raise
        handle = self.nvml.c_nvmlDevice_t()
        self._plain("nvmlDeviceGetHandleByIndex", ctypes.c_uint(index), ctypes.byref(handle))
        return handle

    def pci_bus_id(self, handle: Any) -> str | None:
        """The device's PCI address in sysfs form; ``None`` when ixml will not say."""
        try:
            info = self.nvml.nvmlDeviceGetPciInfo(handle)
            raw = info.busId
        except self.nvml.NVMLError as exc:
            if not self._missing(exc):
                return None
            info = self.nvml.nvmlPciInfo_t()
            try:
                self._plain("nvmlDeviceGetPciInfo", handle, ctypes.byref(info))
            except self.nvml.NVMLError:
                return None
            # The unversioned call fills the v1/v2 layout, whose first field is the 16-byte id (busIdLegacy in v3).
            raw = info.busIdLegacy or info.busId
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return normalise_pci_bus_id(text) if text else None

    def devices(self) -> list[DeviceInfo]:
        found = []
        for index, (physical, handle) in enumerate(zip(self.physical_indices, self.handles)):
            name = str(nvml_value(self.nvml, self.nvml.nvmlDeviceGetName, handle) or "unknown Iluvatar device")
            memory = nvml_value(self.nvml, self.nvml.nvmlDeviceGetMemoryInfo, handle)
            found.append(
                DeviceInfo(
                    index=index,
                    model=short_model(name),
                    memory_total_gib=memory.total / _GIB if memory is not None else None,
                    pci_bus_id=self.pci_bus_id(handle),
                    extra={"name": name, "physical_index": physical, "telemetry": self.source},
                )
            )
        return found

    def driver_version(self) -> str | None:
        value = nvml_value(self.nvml, self.nvml.nvmlSystemGetDriverVersion)
        return str(value) if value is not None else None

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        """Sensors that keep this session open until they are closed."""
        return NvmlSensors(
            self.nvml, [(i, self.handles[i]) for i in device_indices], self.close, power_to_watts=ixml_power_watts
        )

    def close(self) -> None:
        self.nvml.nvmlShutdown()
