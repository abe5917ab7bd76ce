"""The CUDA-like kit (:mod:`benchbase.hardware.cuda_like`) on a machine without any accelerator.

Stand-ins for the absent hardware, and nothing else:
* :class:`ScriptedSession` stands in for an opened management library or tool (what a vendor's ``open_session``
  returns on a machine that has the devices); it answers from a list of :class:`DeviceInfo` and counts opens/closes;
* :class:`ScriptedNvml` stands in for the ``pynvml`` module over two boards: it keeps pynvml's real error classes
  and answers NVML's calls in NVML's raw units;
* sysfs trees under ``tmp_path`` stand in for the host's topology, with the kernel's file names and formats.
The ``torch.cuda`` calls themselves need a device; here only their refusal without one is checked.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
import torch

from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy, Sensors
from benchbase.hardware.cuda_like import CudaLikeVendor, NvmlStyleSession, import_pynvml, table_peak
from benchbase.errors import BenchbaseError

TABLE = {"X100": {"fp32": 20e12, "bf16": 300e12}}
BUSES = ("0000:07:00.0", "0000:87:00.0")


class ScriptedSession:
    """Stands in for an opened management library (see the module docstring)."""

    def __init__(self, devices: list[DeviceInfo], log: list[str]) -> None:
        self._devices = devices
        self._log = log
        self.physical_indices = [d.index for d in devices]
        log.append("open")

    def devices(self) -> list[DeviceInfo]:
        return list(self._devices)

    def driver_version(self) -> str | None:
        return "1.2.3"

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        self._log.append(f"sensors {list(device_indices)}")
        return SimpleNamespace(close=self.close)  # type: ignore[return-value]

    def close(self) -> None:
        self._log.append("close")


class KitVendor(CudaLikeVendor[ScriptedSession]):
    """The smallest vendor the kit supports: names, a peak table and a session; ``failures`` opens fail first."""

    name = "kit"
    device_noun = "X device"
    setup_fix = "install X's PyTorch build"
    peak_table = TABLE

    def __init__(self, devices: list[DeviceInfo], failures: int = 0) -> None:
        super().__init__()
        self.scripted = devices
        self.failures = failures
        self.log: list[str] = []

    def open_session(self) -> ScriptedSession:
        if self.failures:
            self.failures -= 1
            raise BenchbaseError("no X device found: looked for libx.so", "install the X driver")
        return ScriptedSession(self.scripted, self.log)

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        raise NotImplementedError


def board(index: int, model: str = "X100", bus: str | None = None) -> DeviceInfo:
    return DeviceInfo(index=index, model=model, memory_total_gib=32.0, pci_bus_id=bus, extra={"name": f"X {model}"})


def two_socket_sysfs(root: Path, numa_nodes: tuple[str, str]) -> Path:
    """Node 0 = CPUs 0-7, node 1 = CPUs 8-15; the two boards' PCI entries carry ``numa_nodes``."""
    files = {
        "devices/system/cpu/online": "0-15",
        "devices/system/node/online": "0-1",
        "devices/system/node/node0/cpulist": "0-7",
        "devices/system/node/node1/cpulist": "8-15",
    }
    for bus, node in zip(BUSES, numa_nodes):
        files[f"bus/pci/devices/{bus}/numa_node"] = node
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text + "\n")
    return root


def test_discovery_opens_the_library_once_and_hands_out_copies() -> None:
    vendor = KitVendor([board(0), board(1)])
    first = vendor.discover()
    first.clear()
    assert [d.index for d in vendor.discover()] == [0, 1]
    assert vendor.peak_flops("bf16") == 300e12 and vendor.device_model() == "X100"
    assert vendor.log == ["open", "close"]


def test_a_failed_discovery_is_not_cached_so_a_later_ask_tries_again() -> None:
    vendor = KitVendor([board(0)], failures=1)
    with pytest.raises(BenchbaseError, match="no X device found"):
        vendor.discover()
    assert [d.model for d in vendor.discover()] == ["X100"]


def test_peaks_come_from_the_table_and_are_none_when_unlisted_or_undetected() -> None:
    assert table_peak(TABLE, "X100", "fp32") == 20e12
    assert table_peak(TABLE, "X100", "tf32") is None and table_peak(TABLE, "X200", "fp32") is None
    assert table_peak(TABLE, None, "fp32") is None
    assert KitVendor([board(0, model="X200")]).peak_flops("fp32") is None
    assert KitVendor([], failures=1).peak_flops("fp32") is None
    assert KitVendor([]).peak_flops("fp32") is None


def test_a_vendor_can_key_its_table_by_more_than_the_short_model() -> None:
    class PerBoard(KitVendor):
        def peak_model(self, device: DeviceInfo) -> str | None:
            return None if "PCIe" in str(device.extra["name"]) else device.model

    pcie = DeviceInfo(index=0, model="X100", extra={"name": "X X100 PCIe"})
    assert PerBoard([board(0)]).peak_flops("bf16") == 300e12
    assert PerBoard([pcie]).peak_flops("bf16") is None


def test_environment_lists_devices_and_every_peak_or_says_why_nothing_was_found() -> None:
    vendor = KitVendor([board(0, bus=BUSES[0])])
    env = vendor.environment()
    assert env["found"] is True and env["driver"] == "1.2.3" and env["device_model"] == "X100"
    assert env["devices"] == [{"index": 0, "name": "X X100", "memory_total_gib": 32.0, "pci_bus_id": BUSES[0]}]
    assert env["peak_flops"] == {"fp32": 20e12, "tf32": None, "bf16": 300e12, "fp16": None}
    assert env["torch"] == torch.__version__ and vendor.log == ["open", "close"]
    reason = "no X device found: looked for libx.so; install the X driver"
    assert KitVendor([], failures=1).environment() == {"torch": torch.__version__, "found": False, "reason": reason}


def test_without_devices_binding_is_the_labelled_fallback_of_the_online_cpus(tmp_path: Path) -> None:
    root = two_socket_sysfs(tmp_path, ("0", "1"))
    binding = KitVendor([], failures=1).binding(1, 1, root, local_world_size=2)
    assert binding is not None and binding.source.startswith("fallback: no device detected on this machine")
    assert binding.cpus == tuple(range(8, 16))  # second half of the online CPUs, by local rank


def test_binding_takes_the_pci_numa_node_and_none_beyond_the_local_world(tmp_path: Path) -> None:
    root = two_socket_sysfs(tmp_path, ("0", "1"))
    vendor = KitVendor([board(0, bus=BUSES[0]), board(1, bus=BUSES[1])])
    second = vendor.binding(1, 1, root)
    assert (second.numa_node, second.cpus, second.local_rank) == (1, tuple(range(8, 16)), 1)
    assert second.source.startswith("sysfs: PCI 0000:87:00.0 on NUMA node 1")
    assert vendor.binding(1, 1, root, local_world_size=1) is None


def test_a_device_without_a_numa_node_asks_the_vendor_then_keeps_the_fallback(tmp_path: Path) -> None:
    root = two_socket_sysfs(tmp_path, ("-1", "-1"))
    asked: list[tuple[int, int, int]] = []

    class KnowsAffinity(KitVendor):
        def _binding_without_numa_node(
            self, local_rank: int, device_index: int, devices_in_use: int, sysfs_root: Path
        ) -> Binding | None:
            asked.append((local_rank, device_index, devices_in_use))
            return Binding(local_rank, device_index, (3,), None, "vendor: affinity") if device_index == 0 else None

    vendor = KnowsAffinity([board(0, bus=BUSES[0]), board(1, bus=BUSES[1])])
    assert vendor.binding(0, 0, root).source == "vendor: affinity"
    fallback = vendor.binding(1, 1, root)
    assert fallback.source.startswith("fallback: PCI 0000:87:00.0 has no NUMA node") and fallback.local_rank == 1
    assert asked == [(0, 0, 2), (1, 1, 2)]


def test_sensors_refuse_devices_that_are_not_visible_and_release_the_library() -> None:
    vendor = KitVendor([board(0), board(1)])
    with pytest.raises(ValueError, match=r"devices \[2\] are not among the 2 visible X devices"):
        vendor.open_sensors([0, 2])
    assert vendor.log == ["open", "close"]
    vendor.open_sensors([1]).close()
    assert vendor.log[2:] == ["open", "sensors [1]", "close"]


def test_without_cuda_in_torch_setup_device_names_the_hardware_and_the_fix() -> None:
    if torch.cuda.is_available():
        pytest.skip("torch can use a cuda device here")
    expected = r"^torch cannot use any X device \(torch.cuda.is_available\(\) is False\); install X's PyTorch build$"
    with pytest.raises(BenchbaseError, match=expected):
        KitVendor([]).setup_device(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a cuda device; this checks torch.cuda itself")
def test_the_device_generator_round_trips_through_rng_state() -> None:
    vendor = KitVendor([])
    device = vendor.setup_device(0)
    state = vendor.rng_state(device)
    first = torch.rand(4, device=device)
    vendor.set_rng_state(device, state)
    assert torch.equal(torch.rand(4, device=device), first)


class ScriptedNvml:
    """Stands in for the pynvml module over two boards (see the module docstring)."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(self) -> None:
        self.initialised = 0
        self.failing: set[str] = set()
        self.uuids = ["GPU-aaaa", "GPU-bbbb"]
        self.buses = [b"00000000:07:00.0", b""]

    def _check(self, call: str) -> None:
        if call in self.failing:
            raise pynvml.NVMLError_DriverNotLoaded()

    def nvmlInit(self) -> None:
        self._check("init")
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._check("count")
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self.uuids[handle]

    def nvmlDeviceGetName(self, handle: int) -> str:
        if handle == 1:
            raise pynvml.NVMLError_NotSupported()
        return "X x100"

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        """v1 only: a driver without ``nvmlDeviceGetMemoryInfo_v2`` answers ``FunctionNotFound`` to v2."""
        if version is not None:
            raise pynvml.NVMLError_FunctionNotFound()
        return SimpleNamespace(total=32 * 2**30, used=2**30)

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(busId=self.buses[handle])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 150_000

    def nvmlSystemGetDriverVersion(self) -> str:
        raise pynvml.NVMLError_NotSupported()

    def __getattr__(self, name: str) -> Any:
        """Every other NVML query is one this board does not support."""
        if not name.startswith("nvml"):
            raise AttributeError(name)

        def unsupported(*args: Any) -> Any:
            raise pynvml.NVMLError_NotSupported()

        return unsupported


class KitSession(NvmlStyleSession):
    unknown_name = "unknown X device"

    def _init_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"X library could not be initialised ({exc})", "load the X driver")

    def _listing_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"X library could not list the devices ({exc})", "check the X driver")

    def _model(self, long_name: str) -> str:
        return long_name.upper()

    def _extra(self, physical: int, handle: Any) -> dict[str, Any]:
        return {"physical_index": physical}


def test_nvml_style_enumeration_follows_cuda_visible_devices_and_reads_what_the_board_says() -> None:
    nvml = ScriptedNvml()
    session = KitSession(nvml, "GPU-bbbb,0")
    assert (session.physical_count, session.physical_indices, session.handles) == (2, [1, 0], [1, 0])
    second, first = session.devices()
    assert (second.index, second.model, second.extra["name"]) == (0, "UNKNOWN X DEVICE", "unknown X device")
    assert second.extra == {"name": "unknown X device", "power_reading": "nvmlDeviceGetPowerUsage", "physical_index": 1}
    assert second.pci_bus_id is None  # the board left the field empty
    assert (first.index, first.model, first.pci_bus_id, first.memory_total_gib) == (1, "X X100", "0000:07:00.0", 32.0)
    assert session.driver_version() is None
    (reading,) = session.open_sensors([1]).read()
    assert (reading.device, reading.power_w, reading.memory_used_gib, reading.energy_j) == (1, 150.0, 1.0, None)
    session.close()
    assert nvml.initialised == 0


@pytest.mark.parametrize(
    ("failing", "visible", "message"),
    [
        ({"init"}, None, r"X library could not be initialised \(Driver Not Loaded\); load the X driver"),
        ({"count"}, None, r"X library could not list the devices \(Driver Not Loaded\); check the X driver"),
        (set(), "GPU-cccc", "CUDA_VISIBLE_DEVICES entry 'GPU-cccc' names no single device"),
    ],
)
def test_a_failed_enumeration_is_one_line_and_leaves_the_library_shut(
    failing: set[str], visible: str | None, message: str
) -> None:
    nvml = ScriptedNvml()
    nvml.failing = failing
    with pytest.raises(BenchbaseError, match=message):
        KitSession(nvml, visible)
    assert nvml.initialised == 0


def test_without_nvidia_ml_py_the_error_says_what_cannot_be_done_and_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail as on a machine without it
    with pytest.raises(BenchbaseError, match=r"^cannot drive X: the nvidia-ml-py package is not installed \(.*; pip"):
        import_pynvml("cannot drive X", "pip install nvidia-ml-py")


def test_the_kits_policies_name_their_dtypes_and_autocast_resolves_the_name() -> None:
    from benchbase.kit import BF16, FP16

    assert (BF16.autocast_dtype, FP16.autocast_dtype) == ("bfloat16", "float16")
    assert BF16.describe()["autocast_dtype"] == "bfloat16"
    with BF16.autocast(torch.device("cpu")):
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == torch.bfloat16


def test_a_policy_given_a_dtype_object_still_works_and_a_wrong_name_is_one_line() -> None:
    given = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype=torch.bfloat16, flops_dtype="bf16")
    assert given.describe()["autocast_dtype"] == "bfloat16"
    with given.autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    wrong = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype="nn", flops_dtype="bf16")
    with pytest.raises(BenchbaseError, match="autocast_dtype 'nn' is no torch dtype"):
        wrong.autocast(torch.device("cpu"))
