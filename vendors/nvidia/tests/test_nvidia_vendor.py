"""The NVIDIA vendor without an NVIDIA GPU.

Discovery errors are checked against the real pynvml on this GPU-less machine. Everything that needs a device runs
against :class:`RecordedNvml`, which stands in for the pynvml module: it keeps pynvml's real error classes and
constants and replays a stored device description (``data/nvml_a100_sxm4_40gb.json``, provenance inside) in NVML's
raw units, so the unit conversions under test are the ones a real board needs. Boards this project has no recording
of (H100 PCIe/NVL, H200 NVL, GH200, a GPU in MIG mode, a machine of two models) are *scripted*: the recording with
the product name or one field changed by :func:`scripted`, each change named in the test.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from benchbase.config.resolve import merge_parameters, vendor_config_path
from benchbase_cpm.case import CPMCase
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
import torch
import yaml

from benchbase.hardware import topology
from benchbase.hardware.cuda_like import table_peak, visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.record.telemetry_file import TelemetryWriter, counter_energy_j, read_telemetry
from benchbase_nvidia.device_order import cuda_device_order
from benchbase_nvidia.models import short_model
from benchbase_nvidia.peak_flops import PEAK_FLOPS
from benchbase_nvidia.precision import nvidia_precision_policy
from benchbase_nvidia.vendor import NvidiaVendor

DATA = Path(__file__).resolve().parent / "data"
GIB = 2**30
# The keys a vendor file may set are the mutable keys of the real CPM case and the core (the allow-list).
MUTABLE_KEYS = {k for k, p in merge_parameters("cpm", CPMCase().parameters()).items() if p.mutable}


class RecordedNvml:
    """Stands in for the pynvml module on a machine without an NVIDIA GPU (see the module docstring)."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_DEVICE_MIG_ENABLE = pynvml.NVML_DEVICE_MIG_ENABLE
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.devices = recording["devices"]
        self.open_sessions = 0
        self.failing: dict[str, pynvml.NVMLError] = {}

    def _field(self, call: str, handle: int, key: str) -> Any:
        """The recorded value; ``null`` or a key the recording lacks answers ``NotSupported``."""
        if call in self.failing:
            raise self.failing[call]
        value = self.devices[handle].get(key)
        if value is None:
            raise pynvml.NVMLError_NotSupported()
        return value

    def nvmlInit(self) -> None:
        self.open_sessions += 1

    def nvmlShutdown(self) -> None:
        self.open_sessions -= 1

    def nvmlDeviceGetCount(self) -> int:
        if "count" in self.failing:
            raise self.failing["count"]
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._field("name", handle, "name")

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._field("uuid", handle, "uuid")

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(busId=self._field("pci", handle, "pci_bus_id").encode())

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return tuple(self._field("capability", handle, "compute_capability"))

    def nvmlDeviceGetCpuAffinity(self, handle: int, words: int) -> list[int]:
        return self._field("affinity", handle, "cpu_affinity")

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        """v1, or v2 when a version is passed. A recording without ``reserved`` is of a driver before v2 (R470), which
        answers ``FunctionNotFound`` to v2; with it, v1's ``used`` counts the reserve as NVML's v1 does."""
        memory = dict(self._field("memory", handle, "memory"))
        if version is None:
            memory["used"] += memory.pop("reserved", 0)
            return SimpleNamespace(**memory)
        if "reserved" not in memory:
            raise pynvml.NVMLError_FunctionNotFound()
        assert version == pynvml.nvmlMemory_v2
        return SimpleNamespace(version=version, **memory)

    def nvmlDeviceGetMigMode(self, handle: int) -> list[int]:
        return list(self._field("mig", handle, "mig_mode"))

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._field("power", handle, "power_mw")

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        return self._field("energy", handle, "energy_mj")

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._field("utilization", handle, "utilization_gpu"), memory=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._field("temperature", handle, "temperature_c")

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        assert clock == pynvml.NVML_CLOCK_SM
        return self._field("clock", handle, "sm_clock_mhz")

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.recording["driver_version"]

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.recording["cuda_driver_version"]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordedNvml:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return RecordedNvml(json.loads((DATA / "nvml_a100_sxm4_40gb.json").read_text()))


def scripted(recorded: RecordedNvml, **changes: dict[str, Any]) -> RecordedNvml:
    """The recording with fields of some devices replaced: ``scripted(r, d1={"name": ...})`` changes device 1."""
    recording = copy.deepcopy(recorded.recording)
    for key, fields in changes.items():
        recording["devices"][int(key.removeprefix("d"))].update(fields)
    return RecordedNvml(recording)


@pytest.fixture
def no_nvidia_driver() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return
    pynvml.nvmlShutdown()
    pytest.skip("an NVIDIA driver is present; this test is about machines without one")


def test_without_a_driver_discovery_is_one_line_saying_what_failed_and_what_to_do(no_nvidia_driver: None) -> None:
    with pytest.raises(BenchbaseError) as caught:
        NvidiaVendor().discover()
    message = str(caught.value)
    assert message.startswith("no NVIDIA GPU found: NVML could not be initialised (")
    assert message.endswith("run on a machine with an NVIDIA driver, or pick another --vendor")
    assert "\n" not in message


def test_without_a_driver_environment_reports_not_found_instead_of_raising(no_nvidia_driver: None) -> None:
    vendor = NvidiaVendor()
    env = vendor.environment()
    assert env["found"] is False and env["reason"].startswith("no NVIDIA GPU found")
    assert vendor.device_model() == "A100"  # the default model still picks configs for --dry-run
    assert vendor.peak_flops("bf16") is None
    fallback = vendor.binding(0, 0, Path("/sys"), local_world_size=8)
    assert fallback is not None and fallback.source.startswith("fallback:"), "a dry-run still shows a labelled plan"


def test_without_cuda_in_torch_setup_device_fails_in_one_line() -> None:
    if torch.cuda.is_available():
        pytest.skip("torch can use CUDA here")
    with pytest.raises(BenchbaseError, match=r"torch.cuda.is_available\(\) is False.*CUDA build of PyTorch"):
        NvidiaVendor().setup_device(0)


def test_discovery_lists_each_gpu_with_its_short_model_memory_and_pci_address(recorded: RecordedNvml) -> None:
    devices = NvidiaVendor(nvml=recorded).discover()
    assert [d.model for d in devices] == ["A100", "A100"]
    assert devices[0].memory_total_gib == 40.0
    assert [d.pci_bus_id for d in devices] == ["0000:07:00.0", "0000:87:00.0"]
    assert devices[0].extra["name"] == "NVIDIA A100-SXM4-40GB"
    assert devices[0].extra["compute_capability"] == "8.0"
    assert recorded.open_sessions == 0  # NVML is shut down again after discovery


def test_cuda_visible_devices_renumbers_devices_like_cuda_does(
    recorded: RecordedNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    (device,) = NvidiaVendor(nvml=recorded).discover()
    assert (device.index, device.extra["nvml_index"], device.pci_bus_id) == (0, 1, "0000:87:00.0")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-9e04b6f1")
    assert NvidiaVendor(nvml=recorded).discover()[0].extra["nvml_index"] == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with pytest.raises(BenchbaseError, match="CUDA_VISIBLE_DEVICES entry '7' names no single device"):
        NvidiaVendor(nvml=recorded).discover()
    assert recorded.open_sessions == 0


def test_a_driver_that_cannot_list_devices_is_a_one_line_error(recorded: RecordedNvml) -> None:
    recorded.failing["count"] = pynvml.NVMLError_DriverNotLoaded()
    with pytest.raises(BenchbaseError, match=r"NVML could not list the devices \(Driver Not Loaded\)"):
        NvidiaVendor(nvml=recorded).discover()
    assert recorded.open_sessions == 0


def test_visible_device_order_follows_the_variable() -> None:
    uuids = ["GPU-aaa", "GPU-bbb", "GPU-ccc"]
    assert visible_device_order(None, uuids) == [0, 1, 2]
    assert visible_device_order("2,0", uuids) == [2, 0]
    assert visible_device_order("", uuids) == []
    with pytest.raises(BenchbaseError, match="twice"):
        visible_device_order("1,GPU-bbb", uuids)


def test_sensors_convert_nvml_units_to_watts_joules_and_gib(recorded: RecordedNvml) -> None:
    sensors = NvidiaVendor(nvml=recorded).open_sensors([0, 1])
    idle, busy = sensors.read()
    assert idle.device == 0 and busy.device == 1
    assert idle.power_w == pytest.approx(57.34)  # 57340 mW
    assert busy.power_w == pytest.approx(312.486)
    assert idle.energy_j == pytest.approx(8139062.548)  # mJ counter -> J
    assert idle.memory_total_gib == 40.0 and idle.memory_used_gib == 0.0
    assert busy.memory_used_gib == pytest.approx(13851688960 / GIB)
    assert (busy.utilization_pct, busy.temperature_c, busy.clock_mhz) == (97.0, 58.0, 1410.0)
    sensors.close()
    assert recorded.open_sessions == 0


def test_energy_comes_from_nvmls_counter_through_telemetry_csv(recorded: RecordedNvml, tmp_path: Path) -> None:
    sensors = NvidiaVendor(nvml=recorded).open_sensors([0])
    path = tmp_path / "telemetry.csv"
    start_mj = recorded.devices[0]["energy_mj"]
    with TelemetryWriter(path, node=0) as writer:
        for second in range(5):
            recorded.devices[0]["energy_mj"] = start_mj + 250_000 * second  # scripted: 250 W, in NVML's mJ
            writer.write(sensors.read(), rss_gib=None, time_ms=1_000.0 * second)
    sensors.close()
    assert counter_energy_j(read_telemetry(path), 500.0, 3500.0) == {(0, 0): pytest.approx(3.0 * 250.0)}


def test_an_unsupported_energy_counter_reads_none_and_the_rest_still_reads(recorded: RecordedNvml) -> None:
    busy = NvidiaVendor(nvml=recorded).open_sensors([1]).read()[0]
    assert busy.energy_j is None
    assert busy.power_w is not None and busy.memory_used_gib is not None


def test_any_nvml_refusal_mid_run_becomes_none_never_a_crash(recorded: RecordedNvml) -> None:
    sensors = NvidiaVendor(nvml=recorded).open_sensors([0])
    recorded.failing["power"] = pynvml.NVMLError_GpuIsLost()
    recorded.failing["temperature"] = pynvml.NVMLError_FunctionNotFound()
    (reading,) = sensors.read()
    assert reading.power_w is None and reading.temperature_c is None
    assert reading.memory_total_gib == 40.0


def test_environment_names_driver_cuda_devices_and_the_sdk_label(recorded: RecordedNvml) -> None:
    env = NvidiaVendor(nvml=recorded).environment()
    assert env["found"] is True
    assert env["driver"] == "470.129.06" and env["cuda_driver"] == "11.4"
    cuda = torch.version.cuda or "11.4"
    assert env["sdk"] == f"CUDA {cuda}, driver 470.129.06"
    assert [d["name"] for d in env["devices"]] == ["NVIDIA A100-SXM4-40GB"] * 2
    assert env["peak_flops"]["bf16"] == 312e12
    assert env["torch_cuda"] == torch.version.cuda
    assert recorded.open_sessions == 0


@pytest.mark.parametrize(
    ("long_name", "short"),
    [
        ("NVIDIA A100-SXM4-40GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA A100-PCIE-40GB", "A100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA H200 NVL", "H200-NVL"),
        ("NVIDIA GH200 480GB", "GH200"),
        ("NVIDIA GH200 144G HBM3e", "GH200"),
        ("Tesla V100-SXM2-32GB", "V100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA GeForce RTX 4090", "GeForce-RTX-4090"),
    ],
)
def test_long_product_names_become_config_file_model_names(long_name: str, short: str) -> None:
    assert short_model(long_name) == short


def peak_flops_for(long_name: str, dtype: str) -> float | None:
    return table_peak(PEAK_FLOPS, short_model(long_name), dtype)


def test_peak_flops_are_dense_datasheet_figures_and_none_for_unlisted_boards(recorded: RecordedNvml) -> None:
    assert peak_flops_for("NVIDIA A100-SXM4-40GB", "fp16") == 312e12
    assert peak_flops_for("NVIDIA A100-SXM4-40GB", "tf32") == 156e12
    assert peak_flops_for("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
    assert peak_flops_for("NVIDIA H100 80GB HBM3", "fp32") == 67e12
    assert peak_flops_for("NVIDIA H200", "tf32") == 494.7e12
    assert peak_flops_for("Tesla V100-SXM2-32GB", "fp16") is None
    assert NvidiaVendor(nvml=recorded).peak_flops("bf16") == 312e12


def test_h100_pcie_and_nvl_and_h200_nvl_have_their_own_peaks_half_the_sparsity_figures() -> None:
    assert (peak_flops_for("NVIDIA H100 PCIe", "fp32"), peak_flops_for("NVIDIA H100 PCIe", "bf16")) == (51e12, 756.5e12)
    assert peak_flops_for("NVIDIA H100 PCIe", "tf32") == 378e12
    for nvl in ("NVIDIA H100 NVL", "NVIDIA H200 NVL"):
        assert [peak_flops_for(nvl, dtype) for dtype in ("fp32", "tf32", "bf16", "fp16")] == [
            60e12, 417.5e12, 835.5e12, 835.5e12,
        ]  # fmt: skip


def test_gh200_is_its_own_model_not_an_h200_by_substring() -> None:
    assert short_model("NVIDIA GH200 480GB") == "GH200" != short_model("NVIDIA H200")
    assert peak_flops_for("NVIDIA GH200 480GB", "bf16") == 989.4e12  # the GH200 datasheet's dense 990, unrounded
    assert all(table_peak(PEAK_FLOPS, model, "fp32") for model in PEAK_FLOPS)


def test_pcie_and_nvl_boards_are_discovered_under_their_own_names_and_find_no_sxm_tuned_file(
    recorded: RecordedNvml,
) -> None:
    config_dir = NvidiaVendor().config_dir
    assert vendor_config_path(config_dir, "cpm", "H100", 1, 8, None) == config_dir / "cpm/H100x1x8.yaml"
    for name, model, bf16 in (("NVIDIA H100 PCIe", "H100-PCIe", 756.5e12), ("NVIDIA H200 NVL", "H200-NVL", 835.5e12)):
        board = scripted(recorded, d0={"name": name}, d1={"name": name})  # scripted: the A100 recording renamed
        vendor = NvidiaVendor(nvml=board)
        assert vendor.device_model() == model and vendor.peak_flops("bf16") == bf16
        assert vendor.environment()["device_model"] == model
        assert vendor_config_path(config_dir, "cpm", model, 1, 8, None) is None  # case defaults, not SXM tuning


def test_memory_is_read_through_the_v2_call_where_the_driver_has_it(recorded: RecordedNvml) -> None:
    # scripted: device 1 as a v2-capable driver reports it, 512 MiB of its v1 "used" being the driver's reserve
    board = scripted(recorded, d1={"memory": {"total": 42949672960, "reserved": 536870912, "used": 13851688960,
                                              "free": 28561113088}})  # fmt: skip
    idle, busy = NvidiaVendor(nvml=board).open_sensors([0, 1]).read()
    assert busy.memory_used_gib == pytest.approx(13851688960 / GIB)  # allocated only, as nvidia-smi shows it
    assert busy.memory_total_gib == 40.0
    assert idle.memory_used_gib == 0.0  # device 0 kept the R470 recording: v2 is FunctionNotFound, v1 answers


def test_cuda_device_order_pci_bus_id_sorts_by_bus_and_one_model_fastest_first_is_bus_order_too() -> None:
    buses = ["0000:87:00.0", "0000:07:00.0"]
    exact = cuda_device_order("PCI_BUS_ID", ["NVIDIA A100-SXM4-40GB", "NVIDIA T400"], buses)
    assert (exact.indices, exact.certain) == ([1, 0], True)
    same = cuda_device_order(None, ["NVIDIA H100 80GB HBM3"] * 2, buses)
    assert (same.indices, same.certain) == ([1, 0], True) and "one GPU model" in same.basis
    assert cuda_device_order("pci_bus_id", ["NVIDIA H100 80GB HBM3"] * 2, buses).basis.startswith("FASTEST_FIRST")


def test_fastest_first_over_two_models_is_recorded_as_uncertain_with_the_fix() -> None:
    mixed = cuda_device_order("FASTEST_FIRST", ["NVIDIA T400", "NVIDIA H100 PCIe"], ["0000:07:00.0", "0000:87:00.0"])
    assert (mixed.indices, mixed.certain) == ([0, 1], False)
    assert "2 GPU models (NVIDIA H100 PCIe, NVIDIA T400)" in mixed.basis
    assert mixed.basis.endswith("set CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA numbers the GPUs as NVML does")
    unknown = cuda_device_order("PCI_BUS_ID", ["NVIDIA A100-SXM4-40GB"] * 2, ["0000:07:00.0", None])
    assert (unknown.indices, unknown.certain) == ([0, 1], False)


def test_environment_says_how_nvml_devices_were_mapped_to_cuda(
    recorded: RecordedNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = NvidiaVendor(nvml=recorded).environment()["device_order"]
    assert order["certain"] is True and order["cuda_device_order"].startswith("FASTEST_FIRST (CUDA's default")
    board = scripted(recorded, d0={"name": "NVIDIA T400"})  # scripted: a display GPU beside the A100
    assert NvidiaVendor(nvml=board).environment()["device_order"]["certain"] is False
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    order = NvidiaVendor(nvml=board).environment()["device_order"]
    assert (order["cuda_device_order"], order["certain"]) == ("PCI_BUS_ID", True)


def test_cuda_visible_devices_indices_count_in_cuda_order(
    recorded: RecordedNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scripted: NVML answering the recording's two boards in the other order (its order is not promised)
    swapped = copy.deepcopy(recorded.recording)
    swapped["devices"].reverse()
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    (device,) = NvidiaVendor(nvml=RecordedNvml(swapped)).discover()
    assert (device.index, device.pci_bus_id, device.extra["nvml_index"]) == (0, "0000:07:00.0", 1)


def test_a_visible_gpu_in_mig_mode_is_refused_in_one_line(
    recorded: RecordedNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = scripted(recorded, d0={"mig_mode": [0, 0]}, d1={"mig_mode": [1, 1]})  # scripted: MIG on for GPU 1
    with pytest.raises(BenchbaseError) as caught:
        NvidiaVendor(nvml=board).discover()
    message = str(caught.value)
    assert message.startswith("NVIDIA GPU 1 (NVML index) is in MIG mode: benchbase measures whole GPUs")
    assert message.endswith("(nvidia-smi -i 1 -mig 0, as root) or leave it out of CUDA_VISIBLE_DEVICES")
    assert "\n" not in message and board.open_sessions == 0
    assert NvidiaVendor(nvml=board).environment()["reason"] == message
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert [d.extra["nvml_index"] for d in NvidiaVendor(nvml=board).discover()] == [0]


def test_a_mig_device_in_cuda_visible_devices_is_refused_before_nvml_opens(
    recorded: RecordedNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-8e1a7c9d-3b2f-5e60-9d4a-1c7b2e8f0a53")
    with pytest.raises(BenchbaseError, match=r"^CUDA_VISIBLE_DEVICES names MIG device MIG-8e1a7c9d-.*whole GPUs"):
        NvidiaVendor(nvml=recorded).discover()
    assert recorded.open_sessions == 0


def test_auto_is_bf16_from_ampere_on_and_fp16_with_loss_scaling_before() -> None:
    ampere = nvidia_precision_policy("auto", (8, 0), tf32_matmul=False)
    assert (ampere.label, ampere.autocast_dtype, ampere.loss_scaling) == ("BF16", "bfloat16", False)
    volta = nvidia_precision_policy("amp", (7, 0), tf32_matmul=False)
    assert (volta.label, volta.autocast_dtype, volta.flops_dtype) == ("FP16", "float16", "fp16")
    assert (volta.loss_scaling, volta.initial_scale, volta.growth_interval) == (True, 2.0**32, 1000)


def test_explicit_precisions_are_honoured_and_bf16_before_ampere_is_refused() -> None:
    assert nvidia_precision_policy("fp16", (9, 0), tf32_matmul=False).autocast_dtype == "float16"
    assert nvidia_precision_policy("bf16", None, tf32_matmul=False).label == "BF16"
    with pytest.raises(BenchbaseError, match="bf16 needs compute capability 8.0.*has 7.0"):
        nvidia_precision_policy("bf16", (7, 0), tf32_matmul=False)
    with pytest.raises(BenchbaseError, match="cannot resolve precision 'auto' without a visible NVIDIA GPU"):
        nvidia_precision_policy("auto", None, tf32_matmul=False)


def test_fp32_says_when_matmuls_run_as_tf32() -> None:
    plain = nvidia_precision_policy("fp32", (8, 0), tf32_matmul=False)
    tf32 = nvidia_precision_policy("fp32", (8, 0), tf32_matmul=True)
    assert (plain.label, plain.flops_dtype) == ("FP32", "fp32")
    assert (tf32.label, tf32.flops_dtype, tf32.autocast_dtype) == ("TF32", "tf32", None)


def test_the_vendor_reads_compute_capability_from_nvml_when_torch_has_no_gpu(recorded: RecordedNvml) -> None:
    if torch.cuda.is_available():
        pytest.skip("torch can use CUDA here, so the capability comes from torch")
    assert NvidiaVendor(nvml=recorded).precision_policy("auto").label == "BF16"


def _two_socket_sysfs(root: Path, numa_nodes: tuple[str, str]) -> Path:
    """Stands in for a two-socket host: node 0 = CPUs 0-15, node 1 = 16-31, the GPUs' PCI entries as recorded."""
    files = {
        "devices/system/cpu/online": "0-31",
        "devices/system/node/online": "0-1",
        "devices/system/node/node0/cpulist": "0-15",
        "devices/system/node/node1/cpulist": "16-31",
    }
    for bus, node in zip(("0000:07:00.0", "0000:87:00.0"), numa_nodes):
        files[f"bus/pci/devices/{bus}/numa_node"] = node
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text + "\n")
    return root


def test_binding_uses_the_gpus_pci_numa_node_from_sysfs(recorded: RecordedNvml, tmp_path: Path) -> None:
    root = _two_socket_sysfs(tmp_path, ("0", "1"))
    binding = NvidiaVendor(nvml=recorded).binding(1, 1, root)
    assert binding.numa_node == 1 and binding.cpus == topology.node_cpus(root, 1)
    assert binding.source.startswith("sysfs: PCI 0000:87:00.0 on NUMA node 1")


def test_binding_falls_back_to_nvml_affinity_then_to_an_even_split(recorded: RecordedNvml, tmp_path: Path) -> None:
    root = _two_socket_sysfs(tmp_path, ("-1", "-1"))
    vendor = NvidiaVendor(nvml=recorded)
    from_nvml = vendor.binding(0, 0, root)
    assert from_nvml.source.startswith("nvml: nvmlDeviceGetCpuAffinity")
    assert from_nvml.cpus == tuple(range(16, 32))  # bits 16-31 of the recorded mask
    unsupported = vendor.binding(1, 1, root)  # the recorded board answers NotSupported for its affinity
    assert unsupported.source.startswith("fallback:")
    assert unsupported.cpus == tuple(range(16, 32))  # second half of the online CPUs, by local rank
    assert recorded.open_sessions == 0


def test_tuned_cpm_configs_exist_for_each_model_and_scale_and_hold_only_mutable_keys() -> None:
    folder = NvidiaVendor().config_dir / "cpm"
    names = {path.name for path in folder.glob("*.yaml")}
    for model in ("A100", "H100", "H200"):
        for scale in ("1x1", "1x8", "2x8"):
            assert f"{model}x{scale}.yaml" in names
    for path in folder.glob("*.yaml"):
        assert re.fullmatch(r"(A100|H100|H200)x\d+x\d+(-[a-z0-9]+)?\.yaml", path.name)
        values = yaml.safe_load(path.read_text())
        assert set(values) - {"preset"} <= MUTABLE_KEYS, path.name
        assert nvidia_precision_policy(values["precision"], (9, 0), tf32_matmul=False)
        assert isinstance(values["activation_checkpointing"], bool)
        if path.name.startswith(("H100", "H200")):
            assert "not vendor-tuned" in path.read_text()
    reference = yaml.safe_load((folder / "A100x1x8.yaml").read_text())
    assert (reference["batch_size"], reference["lr"], reference["max_steps"]) == (32, 0.0005, 4000)


class NewerNvml(RecordedNvml):
    """The recording behind a driver and pynvml that have the instant power field and ``nvmlDeviceGetTemperatureV``
    (R530 and later; nvidia-ml-py 12.535+): a device's ``power_instant_mw`` answers the field (absent: the field's
    own return code says not supported, as on boards without it), ``temperature_v_c`` the versioned call. The field
    values come back as pynvml's own ``c_nvmlFieldValue_t`` array, the shape the real binding returns."""

    NVML_FI_DEV_POWER_INSTANT = pynvml.NVML_FI_DEV_POWER_INSTANT
    NVML_SUCCESS = pynvml.NVML_SUCCESS

    def nvmlDeviceGetFieldValues(self, handle: int, field_ids: list[int]) -> Any:
        if "fields" in self.failing:
            raise self.failing["fields"]
        values = (pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for value, field_id in zip(values, field_ids):
            value.fieldId = field_id
            instant = self.devices[handle].get("power_instant_mw")
            if field_id != self.NVML_FI_DEV_POWER_INSTANT:
                instant = None
            if instant is None:
                value.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
            else:
                value.nvmlReturn = pynvml.NVML_SUCCESS
                value.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                value.value.uiVal = instant
        return values

    def nvmlDeviceGetTemperatureV(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._field("temperature_v", handle, "temperature_v_c")


def newer(recorded: RecordedNvml, **changes: dict[str, Any]) -> NewerNvml:
    return NewerNvml(scripted(recorded, **changes).recording)


def test_power_is_the_instant_field_where_the_driver_has_it_and_the_1s_average_where_not(
    recorded: RecordedNvml,
) -> None:
    nvml = newer(recorded, d0={"power_instant_mw": 61_230})  # device 1's field answers "not supported"
    vendor = NvidiaVendor(nvml=nvml)
    instant, average = vendor.open_sensors([0, 1]).read()
    assert instant.power_w == pytest.approx(61.23)  # not nvmlDeviceGetPowerUsage's 57.34
    assert average.power_w == pytest.approx(312.486)
    assert [device.extra["power_reading"] for device in vendor.discover()] == [
        "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", "nvmlDeviceGetPowerUsage"
    ]


def test_a_driver_without_field_values_and_a_pynvml_without_the_field_read_the_average(
    recorded: RecordedNvml,
) -> None:
    nvml = newer(recorded, d0={"power_instant_mw": 61_230})
    nvml.failing["fields"] = pynvml.NVMLError_FunctionNotFound()
    assert NvidiaVendor(nvml=nvml).open_sensors([0]).read()[0].power_w == pytest.approx(57.34)
    (old,) = NvidiaVendor(nvml=recorded).open_sensors([0]).read()  # RecordedNvml: a pynvml with neither
    assert old.power_w == pytest.approx(57.34)
    assert NvidiaVendor(nvml=recorded).discover()[0].extra["power_reading"] == "nvmlDeviceGetPowerUsage"


def test_the_source_chosen_at_open_is_kept_and_a_failed_instant_read_is_none_not_an_average(
    recorded: RecordedNvml,
) -> None:
    nvml = newer(recorded, d0={"power_instant_mw": 61_230})
    sensors = NvidiaVendor(nvml=nvml).open_sensors([0])
    nvml.devices[0]["power_instant_mw"] = None
    assert sensors.read()[0].power_w is None


def test_temperature_is_read_through_temperature_v_where_present_else_the_deprecated_call(
    recorded: RecordedNvml,
) -> None:
    nvml = newer(recorded, d0={"temperature_v_c": 33})
    assert NvidiaVendor(nvml=nvml).open_sensors([0]).read()[0].temperature_c == 33.0
    nvml.failing["temperature_v"] = pynvml.NVMLError_FunctionNotFound()  # a driver older than the pynvml
    assert NvidiaVendor(nvml=nvml).open_sensors([0]).read()[0].temperature_c == 31.0
    assert NvidiaVendor(nvml=recorded).open_sensors([0]).read()[0].temperature_c == 31.0  # a pynvml without it
