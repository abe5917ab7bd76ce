"""The Iluvatar vendor without Iluvatar hardware.

Stand-ins for the absent hardware, and nothing else:
* ``ixsmi`` answers are replayed from text files in ``data/`` (see ``data/README.md`` for what each stands in for);
* ``libixml.so`` is replaced by a real shared library compiled from ``data/fake_libixml.c`` with the C compiler: it
  exports exactly the symbols Iluvatar's go-ixml declares for libixml and returns fixed readings, and it is driven by
  a fresh copy of the real ``pynvml`` module, so pynvml's symbol look-ups, ctypes types and struct layouts all run.
  Those tests skip, saying so, where no C compiler exists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

from benchbase.config.resolve import merge_parameters
from benchbase_cpm.case import CPMCase
from types import ModuleType
from typing import Any

import pynvml
import pytest
import torch
import yaml

from benchbase.hardware import topology
from benchbase.hardware.cuda_like import table_peak
from benchbase.errors import BenchbaseError
from benchbase_iluvatar.ixml import ixml_power_watts, locate_ixml
from benchbase_iluvatar.ixsmi import SENSOR_FIELDS, gib, parse_csv, sensor_readings
from benchbase_iluvatar.models import short_model
from benchbase_iluvatar.peak_flops import PEAK_FLOPS
from benchbase_iluvatar.precision import iluvatar_precision_policy
from benchbase_iluvatar.probe import Probe
from benchbase_iluvatar.sdk import corex_version, sdk_label
from benchbase_iluvatar.vendor import IluvatarVendor

DATA = Path(__file__).resolve().parent / "data"
IXSMI = "/usr/local/corex/bin/ixsmi"
FAKE_IXML_SOURCE = DATA / "fake_libixml.c"
#: What go-ixml declares for libixml.so - the functions of pkg/ixml/api.h in github.com/Deep-Spark/go-ixml at commit
#: a1a4e06 (Iluvatar's binding for IX driver 4.2.0); the stand-in must export these and nothing else.
GO_IXML_SYMBOLS = frozenset(
    {
        "nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
        "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetHandleByPciBusId_v2", "nvmlDeviceGetMinorNumber",
        "nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlSystemGetDriverVersion", "nvmlSystemGetNVMLVersion",
        "nvmlSystemGetCudaDriverVersion", "nvmlSystemGetCudaDriverVersion_v2", "nvmlDeviceGetTemperature",
        "nvmlDeviceGetTemperatureThreshold", "nvmlDeviceGetFanSpeed", "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetFanSpeed_v2",
        "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetComputeMode", "nvmlDeviceGetCudaComputeCapability",
        "nvmlDeviceGetEccMode", "nvmlDeviceGetDefaultEccMode", "nvmlDeviceGetBoardId", "nvmlDeviceGetMultiGpuBoard",
        "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMaxPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkWidth",
        "nvmlDeviceGetCurrPcieLinkGeneration", "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetPcieThroughput",
        "nvmlDeviceGetPcieReplayCounter", "nvmlDeviceGetIndex", "nvmlDeviceGetSerial", "nvmlDeviceGetHandleBySerial",
        "nvmlDeviceGetVbiosVersion", "nvmlDeviceGetBoardPartNumber", "nvmlDeviceSetEccMode", "nvmlDeviceGetPowerUsage",
        "nvmlDeviceOnSameBoard", "nvmlDeviceGetComputeRunningProcesses", "nvmlGpmMetricsGet",
        "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleFree", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet",
        "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetPowerManagementLimitConstraints",
        "nvmlDeviceGetPowerManagementDefaultLimit", "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetSupportedClocksThrottleReasons", "nvmlDeviceGetTopologyCommonAncestor", "nvmlEventSetCreate",
        "nvmlDeviceRegisterEvents", "nvmlDeviceGetSupportedEventTypes", "nvmlEventSetWait_v2", "nvmlEventSetFree",
        "ixmlDeviceGetBoardPosition", "ixmlDeviceGetGPUVoltage", "ixmlDeviceGetEccErros", "ixmlDeviceGetHealth",
    }
)  # fmt: skip
_PRIVATE_COPIES = itertools.count()
# The keys a vendor file may set are the mutable keys of the real CPM case and the core (the allow-list).
MUTABLE_KEYS = {k for k, p in merge_parameters("cpm", CPMCase().parameters()).items() if p.mutable}


def fresh_pynvml() -> ModuleType:
    """A private instance of the real pynvml module, so loading a library into it leaves the shared one alone.

    It gets its own module name because pynvml attaches its error classes to ``sys.modules[__name__]`` on import.
    """
    origin = importlib.util.find_spec("pynvml").origin
    name = f"pynvml_private_{next(_PRIVATE_COPIES)}"
    spec = importlib.util.spec_from_file_location(name, origin)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


class ReplayedIxsmi:
    """Stands in for running ``ixsmi``: answers each query from a recorded file and remembers the argument lists."""

    def __init__(self, sensors: str = "ixsmi_sensors_bi_v100x8.csv", reject_power_draw: bool = False) -> None:
        self.sensors = sensors
        self.reject_power_draw = reject_power_draw
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.broken = False

    def __call__(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((args, kwargs))
        query = args[1].removeprefix("--query-gpu=")
        if self.broken:
            return subprocess.CompletedProcess(args, 255, "", "Failed to initialize IXML: Driver Not Loaded\n")
        if query.startswith("index,name,uuid"):
            return subprocess.CompletedProcess(args, 0, (DATA / "ixsmi_devices_bi_v100x8.csv").read_text(), "")
        if ",power.draw," in f",{query}," and self.reject_power_draw:
            return subprocess.CompletedProcess(args, 2, (DATA / "ixsmi_invalid_power_field.txt").read_text(), "")
        if "power.draw" in query:
            return subprocess.CompletedProcess(args, 0, (DATA / self.sensors).read_text(), "")
        return subprocess.CompletedProcess(args, 2, f'Field "{query}" is not a valid field to query.\n', "")


def ixsmi_only(run: ReplayedIxsmi) -> Probe:
    return Probe(env={}, library_paths=(), which=lambda name: IXSMI if name == "ixsmi" else None, run=run)


def nothing_installed(library_paths: tuple[Path, ...] = ()) -> Probe:
    return Probe(env={}, library_paths=library_paths, which=lambda name: None, ixsmi_paths=())


def compile_ixml(folder: Path, *defines: str) -> Path:
    """``data/fake_libixml.c`` compiled into ``folder``'s CoreX path with the given ``-D`` defines (see the source)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc) to build the stand-in libixml.so from data/fake_libixml.c")
    path = folder / "corex/lib64/libixml.so"
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-shared", "-fPIC", "-fvisibility=hidden", *(f"-D{define}" for define in defines)]
    subprocess.run([compiler, *flags, "-o", str(path), str(FAKE_IXML_SOURCE)], check=True, capture_output=True)
    return path


def ixml_probe(tmp_path: Path, *defines: str) -> tuple[Probe, ModuleType, Path]:
    """The compiled stand-in 'installed' at a CoreX path under tmp_path; returns the probe, its pynvml, the path."""
    path = compile_ixml(tmp_path, *defines)
    nvml = fresh_pynvml()
    probe = Probe(env={}, library_paths=(path,), which=lambda name: None, ixsmi_paths=(), nvml=nvml)
    return probe, nvml, path


def still_initialised(library: Path) -> bool:
    """Whether the loaded library still counts an initialisation (it answers Uninitialized once all are shut)."""
    version = ctypes.create_string_buffer(80)
    answer = ctypes.CDLL(str(library)).nvmlSystemGetDriverVersion(version, ctypes.c_uint(80))
    return answer != pynvml.NVML_ERROR_UNINITIALIZED


def test_recorded_ixsmi_csv_parses_with_unavailable_fields_as_none() -> None:
    rows = parse_csv((DATA / "ixsmi_sensors_bi_v100x8.csv").read_text(), SENSOR_FIELDS)
    assert len(rows) == 8
    assert rows[0]["power.draw"] == "156.27" and rows[0]["name"] == "Iluvatar BI-V100"
    assert rows[3]["power.draw"] is None  # N/A
    assert rows[4]["temperature.gpu"] is None  # [N/A]
    assert rows[6]["utilization.gpu"] is None  # [Not Supported]


def test_units_headers_and_stray_lines_are_handled() -> None:
    rows = parse_csv((DATA / "ixsmi_sensors_with_units.csv").read_text(), SENSOR_FIELDS)
    assert [row["index"] for row in rows] == ["0", "1"]
    first, second = sensor_readings(rows, [(0, 0), (1, 1)])
    assert first.power_w == 156.27 and first.memory_used_gib == pytest.approx(21094 / 1024)
    assert first.utilization_pct == 98.0 and first.temperature_c == 52.0
    assert second.power_w is None and second.memory_total_gib == 32.0
    assert gib("32 GiB") == 32.0 and gib("N/A") is None


def test_ixsmi_discovery_lists_eight_bi_v100_with_sysfs_pci_addresses() -> None:
    run = ReplayedIxsmi()
    devices = IluvatarVendor(probe=ixsmi_only(run)).discover()
    assert [d.model for d in devices] == ["BI-V100"] * 8
    assert devices[0].memory_total_gib == 32.0
    assert devices[4].pci_bus_id == "0000:88:00.0"
    assert devices[0].extra["telemetry"] == "ixsmi"
    args, kwargs = run.calls[0]
    assert args == [IXSMI, "--query-gpu=index,name,uuid,memory.total,pci.bus_id", "--format=csv,noheader,nounits"]
    assert "shell" not in kwargs and kwargs["timeout"] > 0


def test_ixsmi_sensors_read_watts_gib_and_none_for_unavailable_fields() -> None:
    run = ReplayedIxsmi()
    sensors = IluvatarVendor(probe=ixsmi_only(run)).open_sensors([0, 3, 4, 6])
    first, no_power, no_temperature, no_utilization = sensors.read()
    assert [r.device for r in (first, no_power, no_temperature, no_utilization)] == [0, 3, 4, 6]
    assert first.power_w == 156.27
    assert first.memory_used_gib == pytest.approx(20.6, abs=0.01) and first.memory_total_gib == 32.0
    assert (first.utilization_pct, first.temperature_c) == (98.0, 52.0)
    assert first.energy_j is None  # ixsmi has no energy counter
    assert no_power.power_w is None and no_power.memory_used_gib is not None
    assert no_temperature.temperature_c is None
    assert no_utilization.utilization_pct is None
    assert run.calls[-1][0][1] == f"--query-gpu={','.join(SENSOR_FIELDS)}"


def test_a_build_that_rejects_power_draw_is_asked_for_gpu_power_draw_once() -> None:
    run = ReplayedIxsmi(reject_power_draw=True)
    sensors = IluvatarVendor(probe=ixsmi_only(run)).open_sensors([0])
    assert sensors.read()[0].power_w == 156.27
    assert sensors.read()[0].power_w == 156.27
    queries = [args[1] for args, _ in run.calls[1:]]
    assert queries[0].count(",power.draw,") == 1 and all("gpu.power.draw" in q for q in queries[1:])
    assert len(queries) == 3  # rejected once, then the new name on both reads


def test_a_failed_ixsmi_sample_reads_all_none_and_does_not_stop_the_sampler() -> None:
    run = ReplayedIxsmi()
    sensors = IluvatarVendor(probe=ixsmi_only(run)).open_sensors([0, 1])
    run.broken = True
    readings = sensors.read()
    assert [r.device for r in readings] == [0, 1]
    assert all(r.power_w is None and r.memory_used_gib is None for r in readings)


def test_with_neither_library_nor_ixsmi_discovery_says_what_it_looked_for(tmp_path: Path) -> None:
    vendor = IluvatarVendor(probe=nothing_installed((tmp_path / "lib64/libixml.so",)))
    with pytest.raises(BenchbaseError) as caught:
        vendor.discover()
    message = str(caught.value)
    assert message.startswith(
        f"no Iluvatar BI-V100 found: looked for libixml.so (IXML_LIBRARY, {tmp_path}/lib64/libixml.so) "
        "and ixsmi on PATH; install the CoreX driver"
    )
    assert message.endswith("or pick another --vendor")
    env = vendor.environment()
    assert env["found"] is False and env["reason"] == message
    assert vendor.device_model() == "BI-V100" and vendor.peak_flops("fp16") is None


def test_ixml_library_env_var_naming_a_missing_file_is_an_error_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere/libixml.so"
    with pytest.raises(BenchbaseError, match=f"IXML_LIBRARY={missing} does not exist; point IXML_LIBRARY at"):
        locate_ixml({"IXML_LIBRARY": str(missing)})
    assert locate_ixml({}, candidates=(missing,)) is None


def test_a_file_that_is_not_a_loadable_library_is_reported_with_the_loader_error(tmp_path: Path) -> None:
    bogus = tmp_path / "libixml.so"
    bogus.write_text("not an ELF file\n")
    vendor = IluvatarVendor(probe=nothing_installed((bogus,)))
    with pytest.raises(BenchbaseError, match=f"and ixsmi on PATH; cannot load {bogus} \\("):
        vendor.discover()


def test_a_real_library_without_nvml_symbols_cannot_be_initialised() -> None:
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library name to load")
    probe = Probe(env={"IXML_LIBRARY": "/bin/sh"}, which=lambda name: None, ixsmi_paths=(), nvml=fresh_pynvml(),
                  cdll=lambda _: ctypes.CDLL(libc))  # fmt: skip
    with pytest.raises(BenchbaseError, match="ixml at /bin/sh could not be initialised \\(Function Not Found\\)"):
        probe.open()


def test_the_stand_in_exports_exactly_go_ixmls_symbols(tmp_path: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm (binutils) to list the stand-in's dynamic symbols")
    listing = subprocess.run([nm, "-D", "--defined-only", str(compile_ixml(tmp_path))], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    assert {line.split()[-1] for line in listing.splitlines() if line.strip()} == GO_IXML_SYMBOLS


def test_ixml_exporting_only_go_ixmls_versioned_symbols_initialises_through_nvml_init_v2(tmp_path: Path) -> None:
    probe, nvml, library = ixml_probe(tmp_path)
    exported = ctypes.CDLL(str(library))
    assert not any(hasattr(exported, name) for name in ("nvmlInit", "nvmlInitWithFlags", "nvmlDeviceGetCount"))
    devices = IluvatarVendor(probe=probe).discover()
    assert nvml.nvmlLib._name == str(library)
    assert [d.model for d in devices] == ["BI-V100", "BI-V100"]
    assert [d.pci_bus_id for d in devices] == ["0000:13:00.0", "0000:88:00.0"]  # from nvmlDeviceGetPciInfo_v3
    assert devices[0].memory_total_gib == 32.0 and devices[0].extra["telemetry"] == "ixml"
    # go-ixml declares no nvmlDeviceGetFieldValues: power is the only reading ixml has
    assert devices[0].extra["power_reading"] == "nvmlDeviceGetPowerUsage"
    assert not still_initialised(library)


def test_ixml_exporting_unversioned_symbols_falls_back_to_them(tmp_path: Path) -> None:
    probe, _, library = ixml_probe(tmp_path, "IXML_UNVERSIONED")
    assert not hasattr(ctypes.CDLL(str(library)), "nvmlInit_v2")
    devices = IluvatarVendor(probe=probe).discover()
    assert [d.pci_bus_id for d in devices] == ["0000:13:00.0", "0000:88:00.0"]  # from the v1 layout
    assert [d.extra["physical_index"] for d in devices] == [0, 1]
    assert not still_initialised(library)


def test_ixml_sensors_convert_milliwatts_and_leave_missing_calls_as_none(tmp_path: Path) -> None:
    probe, _, library = ixml_probe(tmp_path)
    sensors = IluvatarVendor(probe=probe).open_sensors([0, 1])
    busy, idle = sensors.read()
    assert busy.power_w == pytest.approx(156.27) and idle.power_w == pytest.approx(61.02)
    assert busy.energy_j is None  # ixml exports no nvmlDeviceGetTotalEnergyConsumption
    # nvmlDeviceGetMemoryInfo_v2: the allocated bytes, without the 256 MiB v1 would add as the driver's reserve
    assert busy.memory_used_gib == pytest.approx(21.09375) and busy.memory_total_gib == 32.0
    # the temperature through nvmlDeviceGetTemperature: ixml lacks nvmlDeviceGetTemperatureV (FunctionNotFound)
    assert (busy.utilization_pct, busy.temperature_c, busy.clock_mhz) == (98.0, 52.0, 1500.0)
    assert still_initialised(library)  # the sensors hold the session open until closed
    sensors.close()
    assert not still_initialised(library)


def test_ixml_power_in_watts_is_recognised_by_its_magnitude(tmp_path: Path) -> None:
    assert ixml_power_watts(156270) == pytest.approx(156.27)
    assert ixml_power_watts(156) == 156.0
    probe, _, _ = ixml_probe(tmp_path, "POWER0_MW=156", "POWER1_MW=61")
    assert [r.power_w for r in IluvatarVendor(probe=probe).open_sensors([0, 1]).read()] == [156.0, 61.0]


def test_environment_reports_telemetry_source_driver_and_peaks(tmp_path: Path) -> None:
    probe, _, _ = ixml_probe(tmp_path)
    env = IluvatarVendor(probe=probe, corex_root=tmp_path / "no-corex").environment()
    assert env["found"] is True and env["telemetry"] == "ixml" and env["driver"] == "4.2.0"
    assert env["device_model"] == "BI-V100" and env["peak_flops"]["fp16"] == 147e12
    assert env["sdk"] == sdk_label(env["corex_version"])


@pytest.mark.parametrize(
    ("requested", "label", "dtype", "scaled"),
    [
        ("auto", "AMP", "float16", True),
        ("amp", "AMP", "float16", True),
        ("fp16", "FP16", "float16", True),
        ("bf16", "BF16", "bfloat16", False),
        ("fp32", "FP32", None, False),
    ],
)
def test_precision_policies_follow_the_reference_recipe(requested: str, label: str, dtype: Any, scaled: bool) -> None:
    policy = iluvatar_precision_policy(requested)
    assert (policy.label, policy.autocast_dtype, policy.loss_scaling) == (label, dtype, scaled)
    if scaled:
        assert (policy.initial_scale, policy.growth_interval) == (2.0**32, 1000)


def test_an_unknown_precision_names_the_valid_ones() -> None:
    with pytest.raises(BenchbaseError, match="unknown precision 'int8'; use one of auto, amp, bf16, fp16, fp32"):
        iluvatar_precision_policy("int8")


def test_peak_flops_are_the_published_bi_v100_figures_only() -> None:
    assert (table_peak(PEAK_FLOPS, "BI-V100", "fp32"), table_peak(PEAK_FLOPS, "BI-V100", "fp16")) == (37e12, 147e12)
    assert table_peak(PEAK_FLOPS, "BI-V100", "bf16") == 147e12
    assert table_peak(PEAK_FLOPS, "BI-V100", "tf32") is None and table_peak(PEAK_FLOPS, "BI-V150", "fp16") is None
    assert IluvatarVendor(probe=ixsmi_only(ReplayedIxsmi())).peak_flops("fp16") == 147e12


def test_model_names_normalise_for_config_files() -> None:
    assert short_model("Iluvatar BI-V100") == "BI-V100"
    assert short_model("Iluvatar MR-V100") == "MR-V100"
    assert short_model("Iluvatar Something New") == "Something-New"


def test_sdk_version_is_read_from_the_version_file_the_install_dir_or_torch(tmp_path: Path) -> None:
    root = tmp_path / "corex"
    (root / "include").mkdir(parents=True)
    (root / "include/corex_version").write_text("Version: 3.2.1\n")
    assert corex_version(root, "2.13.0")[0] == "3.2.1"
    versioned = tmp_path / "corex-2.2.0"
    versioned.mkdir()
    link = tmp_path / "corex-link"
    link.symlink_to(versioned)
    assert corex_version(link, "2.13.0") == ("2.2.0", f"install directory {versioned}")
    assert corex_version(tmp_path / "absent", "1.10.2+corex.3.2.1")[0] == "3.2.1"
    version, reason = corex_version(tmp_path / "absent", "2.13.0+cpu")
    assert version is None and "no +corex torch build" in reason
    assert (sdk_label("2.2"), sdk_label(None)) == ("SDK V2.2", "CoreX (version unknown)")


def test_binding_reads_numa_nodes_of_the_pci_addresses_ixsmi_reports(tmp_path: Path) -> None:
    """A two-socket sysfs tree stands in for the host: the first four boards on node 0, the rest on node 1."""
    files = {
        "devices/system/cpu/online": "0-15",
        "devices/system/node/online": "0-1",
        "devices/system/node/node0/cpulist": "0-7",
        "devices/system/node/node1/cpulist": "8-15",
    }
    for index, bus in enumerate(["13", "14", "48", "49", "88", "89", "c8", "c9"]):
        files[f"bus/pci/devices/0000:{bus}:00.0/numa_node"] = str(index // 4)
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text + "\n")
    vendor = IluvatarVendor(probe=ixsmi_only(ReplayedIxsmi()))
    sixth = vendor.binding(5, 5, tmp_path)
    assert (sixth.numa_node, sixth.cpus) == (1, (10, 11))
    assert topology.node_cpus(tmp_path, 1) == tuple(range(8, 16))
    pair = vendor.binding(1, 1, tmp_path, local_world_size=2)
    assert (pair.numa_node, pair.cpus) == (0, (4, 5, 6, 7))


def test_without_cuda_in_torch_setup_device_fails_in_one_line() -> None:
    if torch.cuda.is_available():
        pytest.skip("torch can use a cuda device here")
    with pytest.raises(BenchbaseError, match=r"torch cannot use any Iluvatar device.*CoreX's PyTorch build"):
        IluvatarVendor().setup_device(0)


def test_tuned_cpm_configs_carry_the_reference_recipe() -> None:
    vendor = IluvatarVendor()
    assert (vendor.default_device_model, vendor.distributed_backend) == ("BI-V100", "nccl")
    folder = vendor.config_dir / "cpm"
    names = sorted(path.name for path in folder.glob("*.yaml"))
    assert names == ["BI-V100x1x1.yaml", "BI-V100x1x8-bs128.yaml", "BI-V100x1x8-large.yaml", "BI-V100x1x8.yaml",
                     "BI-V100x2x8.yaml"]
    for name in names:
        values = yaml.safe_load((folder / name).read_text())
        assert set(values) - {"preset"} <= MUTABLE_KEYS
        assert (values["lr"], values["warmup"], values["max_steps"], values["precision"]) == (5e-4, 0.2, 4000, "amp")
        assert values["batch_size"] == (16 if "bs128" in name else 32)
        # CPM large's model state does not fit a 32 GB device whole (docs/memory.md): its file shards it.
        assert values.get("parallelism", "ddp") == ("fsdp" if values["preset"] == "large" else "ddp")
