"""The NVIDIA vendor without an NVIDIA GPU.

Discovery errors are checked against the real pynvml on this GPU-less machine. Everything that needs a device runs
against :class:`RecordedNvml`, which stands in for the pynvml module: it keeps pynvml's real error classes and
constants and replays a stored device description (``data/nvml_a100_sxm4_40gb.json``, provenance inside) in NVML's
raw units, so the unit conversions under test are the ones a real board needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchbase.config import merge_parameters
from benchbase_cpm.case import CPMCase
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
import torch
import yaml

from benchbase import topology
from benchbase.cuda_like import table_peak, visible_device_order
from benchbase.errors import BenchbaseError
from benchbase_nvidia.models import short_model
from benchbase_nvidia.peak_flops import PEAK_FLOPS, peak_model
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

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.devices = recording["devices"]
        self.open_sessions = 0
        self.failing: dict[str, pynvml.NVMLError] = {}

    def _field(self, call: str, handle: int, key: str) -> Any:
        if call in self.failing:
            raise self.failing[call]
        value = self.devices[handle][key]
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

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(**self._field("memory", handle, "memory"))

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
    assert {"tf32_matmul", "tf32_cudnn"} <= set(env)
    assert recorded.open_sessions == 0


@pytest.mark.parametrize(
    ("long_name", "short"),
    [
        ("NVIDIA A100-SXM4-40GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H200", "H200"),
        ("Tesla V100-SXM2-32GB", "V100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA GeForce RTX 4090", "GeForce-RTX-4090"),
    ],
)
def test_long_product_names_become_config_file_model_names(long_name: str, short: str) -> None:
    assert short_model(long_name) == short


def peak_flops_for(long_name: str, dtype: str) -> float | None:
    return table_peak(PEAK_FLOPS, peak_model(long_name), dtype)


def test_peak_flops_are_dense_datasheet_figures_and_none_for_unlisted_boards(recorded: RecordedNvml) -> None:
    assert peak_flops_for("NVIDIA A100-SXM4-40GB", "fp16") == 312e12
    assert peak_flops_for("NVIDIA A100-SXM4-40GB", "tf32") == 156e12
    assert peak_flops_for("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
    assert peak_flops_for("NVIDIA H100 80GB HBM3", "fp32") == 67e12
    assert peak_flops_for("NVIDIA H200", "tf32") == 494.7e12
    assert peak_flops_for("NVIDIA H100 PCIe", "bf16") is None
    assert peak_flops_for("Tesla V100-SXM2-32GB", "fp16") is None
    assert NvidiaVendor(nvml=recorded).peak_flops("bf16") == 312e12


def test_auto_is_bf16_from_ampere_on_and_fp16_with_loss_scaling_before() -> None:
    ampere = nvidia_precision_policy("auto", (8, 0), tf32_matmul=False)
    assert (ampere.label, ampere.autocast_dtype, ampere.loss_scaling) == ("BF16", torch.bfloat16, False)
    volta = nvidia_precision_policy("amp", (7, 0), tf32_matmul=False)
    assert (volta.label, volta.autocast_dtype, volta.flops_dtype) == ("FP16", torch.float16, "fp16")
    assert (volta.loss_scaling, volta.initial_scale, volta.growth_interval) == (True, 2.0**32, 1000)


def test_explicit_precisions_are_honoured_and_bf16_before_ampere_is_refused() -> None:
    assert nvidia_precision_policy("fp16", (9, 0), tf32_matmul=False).autocast_dtype == torch.float16
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
        assert set(values) <= MUTABLE_KEYS, path.name
        assert nvidia_precision_policy(values["precision"], (9, 0), tf32_matmul=False)
        assert isinstance(values["activation_checkpointing"], bool)
        if path.name.startswith(("H100", "H200")):
            assert "not vendor-tuned" in path.read_text()
    reference = yaml.safe_load((folder / "A100x1x8.yaml").read_text())
    assert (reference["batch_size"], reference["lr"], reference["max_steps"]) == (32, 0.0005, 4000)
