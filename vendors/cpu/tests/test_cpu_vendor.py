"""The CPU vendor, end to end on this machine; and the three first-party vendors loading through entry points.

Only RAPL is faked: this machine exposes no powercap tree, so a small fake one (same file names and units as the
kernel's) stands in for it, with a controllable clock.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import psutil
import pytest
import torch

from benchbase.hardware import topology
from benchbase.errors import BenchbaseError
from benchbase.registry.plugins import load_registry
from benchbase_cpu.facts import cpu_model_name, native_bf16
from benchbase_cpu.rapl import RaplCounter
from benchbase_cpu.sensors import CPUSensors
from benchbase_cpu.vendor import CPUVendor

#: A package counter's wrap point as Intel servers commonly report it (``max_energy_range_uj``: 2^32 units of 61 uJ).
MAX_RANGE_UJ = 262143328850


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def powercap_tree(root: Path, package_uj: list[int]) -> Path:
    """Package domains ``intel-rapl:N`` plus a core sub-domain that must not be counted twice."""
    base = root / "class/powercap"
    for index, energy in enumerate(package_uj):
        zone = base / f"intel-rapl:{index}"
        zone.mkdir(parents=True)
        (zone / "name").write_text(f"package-{index}\n")
        (zone / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
    core = base / "intel-rapl:0:0"
    core.mkdir()
    (core / "name").write_text("core\n")
    (core / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
    (core / "energy_uj").write_text("999999999\n")
    return root


def set_energy(root: Path, package: int, microjoules: int) -> None:
    (root / f"class/powercap/intel-rapl:{package}/energy_uj").write_text(f"{microjoules}\n")


def test_discovery_reports_the_host_as_one_device_named_after_the_cpu() -> None:
    (device,) = CPUVendor().discover()
    assert device.index == 0
    assert device.model == cpu_model_name()
    assert device.memory_total_gib == pytest.approx(psutil.virtual_memory().total / 2**30)
    assert device.extra["logical_cpus"] == os.cpu_count()


def test_cpu_model_name_comes_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz\nflags\t\t: fpu avx512f\n"
    )
    assert cpu_model_name(cpuinfo) == "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz"
    assert native_bf16(cpuinfo) is False
    assert cpu_model_name(tmp_path / "missing")  # falls back to the platform module, never empty


def test_configs_are_generic_so_the_device_model_is_cpu() -> None:
    vendor = CPUVendor()
    assert vendor.device_model() == "cpu" == vendor.default_device_model
    assert vendor.config_dir is None
    assert vendor.distributed_backend == "gloo"
    assert vendor.ranks_share_devices is True  # every rank trains on the one host "device"


def test_environment_names_the_cpu_and_the_sdk() -> None:
    env = CPUVendor().environment()
    assert env["found"] is True
    assert env["sdk"] == f"torch {torch.__version__}"
    assert env["torch"] == torch.__version__
    assert env["cpu_model"] == cpu_model_name()
    assert env["logical_cpus"] == os.cpu_count()
    # What only the imported torch knows is the core's host.torch in env.json, so `benchbase env` imports no torch.
    assert not {"torch_threads", "mkl", "onednn"} & set(env)


def test_cpu_peak_flops_are_unknown_rather_than_invented() -> None:
    assert all(CPUVendor().peak_flops(dtype) is None for dtype in ("fp32", "bf16", "fp16", "tf32"))


def test_a_reading_without_rapl_has_no_power_and_no_rank_memory_while_no_rank_runs(tmp_path: Path) -> None:
    """Memory on the CPU is the run's own ranks' resident set (never the host's used memory), so before a rank
    starts there is nothing to read; a real run's ranks are read in tests/cli/test_report_from_runs.py."""
    sensors = CPUVendor(sysfs_root=tmp_path).open_sensors([0])
    (reading,) = sensors.read()
    assert reading.device == 0
    assert reading.power_w is None and reading.energy_j is None
    total = psutil.virtual_memory().total / 2**30
    assert reading.memory_total_gib == pytest.approx(total)
    assert reading.memory_used_gib is None
    assert 0.0 <= reading.utilization_pct <= 100.0


def test_rapl_power_is_energy_over_time_summed_over_packages(tmp_path: Path) -> None:
    root = powercap_tree(tmp_path, [5_000_000, 7_000_000])
    clock = ManualClock()
    sensors = CPUSensors(root, clock=clock)
    clock.now += 2.0
    set_energy(root, 0, 5_000_000 + 100_000_000)  # +100 J
    set_energy(root, 1, 7_000_000 + 60_000_000)  # +60 J
    (reading,) = sensors.read()
    assert reading.power_w == pytest.approx(80.0)  # 160 J over 2 s
    assert reading.energy_j == pytest.approx(160.0)


def test_rapl_counter_wrap_around_is_corrected(tmp_path: Path) -> None:
    root = powercap_tree(tmp_path, [MAX_RANGE_UJ - 10_000_000, 0])
    clock = ManualClock()
    sensors = CPUSensors(root, clock=clock)
    clock.now += 0.5
    set_energy(root, 0, 40_000_000)  # wrapped: 10 J to the top, 40 J after it
    (reading,) = sensors.read()
    assert reading.power_w == pytest.approx(100.0)
    clock.now += 1.0
    set_energy(root, 0, 90_000_000)
    (reading,) = sensors.read()
    assert reading.power_w == pytest.approx(50.0)
    assert reading.energy_j == pytest.approx(100.0)


def test_a_powercap_tree_without_package_domains_means_no_power(tmp_path: Path) -> None:
    zone = tmp_path / "class/powercap/intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("psys\n")
    (zone / "max_energy_range_uj").write_text("1000\n")
    (zone / "energy_uj").write_text("5\n")
    assert RaplCounter(tmp_path).available is False
    assert RaplCounter(tmp_path).energy_j() is None


@pytest.mark.parametrize("requested", ["auto", "fp32", "FP32"])
def test_auto_and_fp32_train_in_plain_fp32(requested: str) -> None:
    policy = CPUVendor().precision_policy(requested)
    assert (policy.label, policy.autocast_dtype, policy.flops_dtype) == ("FP32", None, "fp32")
    assert policy.loss_scaling is False


@pytest.mark.parametrize("requested", ["bf16", "amp"])
def test_bf16_and_amp_autocast_matmuls_to_bf16_on_the_cpu(requested: str) -> None:
    policy = CPUVendor().precision_policy(requested)
    assert policy.label == "BF16" and policy.flops_dtype == "bf16" and not policy.loss_scaling
    with policy.autocast(torch.device("cpu")):
        product = torch.ones(4, 4) @ torch.ones(4, 4)
    assert product.dtype == torch.bfloat16


def test_fp16_on_the_cpu_is_refused_with_the_alternatives() -> None:
    with pytest.raises(BenchbaseError, match="fp16 is not supported on the CPU.*precision=fp32.*precision=bf16"):
        CPUVendor().precision_policy("fp16")
    with pytest.raises(BenchbaseError, match="unknown precision 'int8'"):
        CPUVendor().precision_policy("int8")


def test_setup_keeps_the_thread_count_the_core_set() -> None:
    """The core sizes every rank's pool by one policy before ``setup_device``; the CPU vendor changes nothing."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert CPUVendor().setup_device(0) == torch.device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_peak_memory_is_the_peak_resident_set_of_this_process() -> None:
    vendor = CPUVendor()
    peak = vendor.peak_memory_gib(torch.device("cpu"))
    assert peak == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, rel=0.05)
    assert peak >= psutil.Process().memory_info().rss / 2**30 * 0.99


def test_binding_gives_cpu_ranks_disjoint_numa_slices(tmp_path: Path) -> None:
    """A two-node sysfs tree stands in for a two-socket host."""
    for node, cpus in ((0, "0-3"), (1, "4-7")):
        path = tmp_path / f"devices/system/node/node{node}/cpulist"
        path.parent.mkdir(parents=True)
        path.write_text(cpus + "\n")
    (tmp_path / "devices/system/node/online").write_text("0-1\n")
    (tmp_path / "devices/system/cpu").mkdir(parents=True)
    (tmp_path / "devices/system/cpu/online").write_text("0-7\n")
    vendor = CPUVendor()
    first = vendor.binding(0, 0, tmp_path, local_world_size=2)
    second = vendor.binding(1, 0, tmp_path, local_world_size=2)
    assert (first.cpus, first.numa_node) == ((0, 1, 2, 3), 0)
    assert (second.cpus, second.numa_node) == ((4, 5, 6, 7), 1)


def test_without_the_number_of_local_ranks_every_rank_gets_the_whole_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    binding = CPUVendor().binding(1, 0, Path("/sys"))
    assert binding.local_rank == 1
    assert binding.cpus == topology.online_cpus(Path("/sys"))
    assert "number of local ranks unknown" in binding.source
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert CPUVendor().binding(1, 0, Path("/sys")).source.startswith(("sysfs: NUMA node", "fallback:"))


def test_entry_points_register_all_three_first_party_vendors_without_errors() -> None:
    registry = load_registry()
    assert {"cpu", "nvidia", "iluvatar"} <= set(registry.vendors)
    mine = [p for p in registry.plugins if p.name in ("cpu", "nvidia", "iluvatar")]
    assert sorted(p.name for p in mine) == ["cpu", "iluvatar", "nvidia"]
    assert all(p.error is None and p.hooks == ["benchbase_register_vendors"] for p in mine)
    assert registry.vendors["nvidia"].distributed_backend == registry.vendors["iluvatar"].distributed_backend == "nccl"
