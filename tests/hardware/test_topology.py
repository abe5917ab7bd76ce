"""Per-rank CPU binding from sysfs topology.

The sysfs trees built here stand in for hardware this machine does not have (two sockets, eight accelerators): they
hold only the files the kernel would expose, with the same names and formats.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchbase.hardware import topology
from benchbase.contract import Binding
from benchbase.errors import BenchbaseError

#: A two-socket, 8-GPU layout in the style of a DGX A100: four devices behind each socket.
EIGHT_DEVICES = [
    "0000:07:00.0", "0000:0f:00.0", "0000:47:00.0", "0000:4e:00.0",
    "0000:87:00.0", "0000:90:00.0", "0000:b7:00.0", "0000:bd:00.0",
]  # fmt: skip


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def cpu_topology(cpus: range, sibling_offset: int, cores_per_socket: int) -> dict[str, str]:
    """SMT siblings ``i`` and ``i + sibling_offset``, the numbering Linux uses on x86 servers."""
    files = {}
    for cpu in cpus:
        core = cpu % sibling_offset
        files[f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"] = f"{core},{core + sibling_offset}"
        files[f"devices/system/cpu/cpu{cpu}/topology/physical_package_id"] = str(core // cores_per_socket)
    return files


def one_socket_tree(root: Path, numa_node: str = "0") -> Path:
    """4 cores x 2 threads (CPUs 0-7, siblings i and i+4), one NUMA node, two devices."""
    files = {
        "devices/system/cpu/online": "0-7",
        "devices/system/node/online": "0",
        "devices/system/node/node0/cpulist": "0-7",
        **cpu_topology(range(8), sibling_offset=4, cores_per_socket=4),
    }
    for bus in ("0000:3b:00.0", "0000:86:00.0"):
        files[f"bus/pci/devices/{bus}/numa_node"] = numa_node
        files[f"bus/pci/devices/{bus}/local_cpulist"] = "0-7"
    return write(root, files)


def two_socket_tree(root: Path) -> Path:
    """2 sockets x 8 cores x 2 threads: node 0 = CPUs 0-7,16-23, node 1 = 8-15,24-31; devices 0-3 on node 0."""
    files = {
        "devices/system/cpu/online": "0-31",
        "devices/system/node/online": "0-1",
        "devices/system/node/node0/cpulist": "0-7,16-23",
        "devices/system/node/node1/cpulist": "8-15,24-31",
        **cpu_topology(range(32), sibling_offset=16, cores_per_socket=8),
    }
    for index, bus in enumerate(EIGHT_DEVICES):
        node = index // 4
        files[f"bus/pci/devices/{bus}/numa_node"] = str(node)
        files[f"bus/pci/devices/{bus}/local_cpulist"] = files[f"devices/system/node/node{node}/cpulist"]
    return write(root, files)


def test_cpulists_parse_like_the_kernel_writes_them() -> None:
    assert topology.parse_cpulist("0-3,8-11\n") == (0, 1, 2, 3, 8, 9, 10, 11)
    assert topology.parse_cpulist("5") == (5,)
    assert topology.parse_cpulist("0-7:2") == (0, 2, 4, 6)
    assert topology.parse_cpulist("\n") == ()


def test_a_malformed_cpulist_is_a_one_line_error_showing_the_right_form() -> None:
    with pytest.raises(BenchbaseError, match="malformed CPU list '0-3,x'.*0-3,8-11"):
        topology.parse_cpulist("0-3,x")


def test_pci_ids_from_management_tools_are_brought_to_sysfs_spelling() -> None:
    assert topology.normalise_pci_bus_id("00000000:3B:00.0") == "0000:3b:00.0"
    assert topology.normalise_pci_bus_id("3b:00.0") == "0000:3b:00.0"
    assert topology.normalise_pci_bus_id("0000:3b:00.0\x00") == "0000:3b:00.0"
    with pytest.raises(BenchbaseError, match="malformed PCI bus id"):
        topology.normalise_pci_bus_id("GPU-1234")


def test_sysfs_facts_are_read_from_the_tree(tmp_path: Path) -> None:
    root = two_socket_tree(tmp_path)
    assert topology.numa_nodes(root) == (0, 1)
    assert topology.online_cpus(root) == tuple(range(32))
    assert topology.node_cpus(root, 1) == tuple(range(8, 16)) + tuple(range(24, 32))
    assert topology.socket_count(root) == 2
    assert topology.pci_numa_node(root, "00000000:87:00.0") == 1
    assert topology.pci_local_cpus(root, "0000:07:00.0") == topology.node_cpus(root, 0)
    assert topology.core_groups(root, topology.node_cpus(root, 0))[:2] == [(0, 16), (1, 17)]


def test_a_device_reporting_numa_node_minus_one_has_no_node(tmp_path: Path) -> None:
    root = one_socket_tree(tmp_path, numa_node="-1")
    assert topology.pci_numa_node(root, "0000:3b:00.0") is None
    assert topology.pci_numa_node(root, "0000:ff:00.0") is None  # no such device in the tree


def test_two_devices_on_one_socket_split_its_cores_without_sharing_smt_siblings(tmp_path: Path) -> None:
    root = one_socket_tree(tmp_path)
    first, second = topology.device_bindings(root, ["0000:3b:00.0", "0000:86:00.0"])
    assert first.cpus == (0, 1, 4, 5)
    assert second.cpus == (2, 3, 6, 7)
    assert first.numa_node == second.numa_node == 0
    assert first.source.startswith("sysfs: PCI 0000:3b:00.0 on NUMA node 0")


def test_eight_devices_on_two_sockets_each_get_disjoint_cpus_of_their_own_socket(tmp_path: Path) -> None:
    root = two_socket_tree(tmp_path)
    bindings = topology.device_bindings(root, EIGHT_DEVICES)
    assert [b.numa_node for b in bindings] == [0, 0, 0, 0, 1, 1, 1, 1]
    for binding in bindings:
        assert set(binding.cpus) <= set(topology.node_cpus(root, binding.numa_node))
        assert len(binding.cpus) == 4  # two whole cores of the socket's eight, both threads of each
    every_cpu = [cpu for b in bindings for cpu in b.cpus]
    assert sorted(every_cpu) == list(range(32))
    assert bindings[4].cpus == (8, 9, 24, 25)


def test_binding_for_one_device_needs_only_the_ranks_sharing_its_node(tmp_path: Path) -> None:
    root = two_socket_tree(tmp_path)
    binding = topology.binding_for_device(root, 1, 5, EIGHT_DEVICES[5], ranks_sharing=[0, 1])
    assert binding == Binding(1, 5, (12, 13, 14, 15, 28, 29, 30, 31), 1, binding.source)
    assert "cores split 2 ways, share 2" in binding.source


def test_numa_node_minus_one_falls_back_to_an_even_split_of_online_cpus_by_local_rank(tmp_path: Path) -> None:
    root = one_socket_tree(tmp_path, numa_node="-1")
    first, second = topology.device_bindings(root, ["0000:3b:00.0", "0000:86:00.0"])
    assert first.source.startswith("fallback: PCI 0000:3b:00.0 has no NUMA node in sysfs")
    assert (first.cpus, second.cpus) == ((0, 1, 4, 5), (2, 3, 6, 7))
    assert first.numa_node is None


def test_a_device_without_pci_information_falls_back_too(tmp_path: Path) -> None:
    root = one_socket_tree(tmp_path)
    binding = topology.binding_for_device(root, 0, 0, None, ranks_sharing=[0])
    assert binding.source.startswith("fallback: the device has no PCI address")
    assert binding.cpus == tuple(range(8))


def test_more_ranks_than_cores_split_threads_then_oversubscribe(tmp_path: Path) -> None:
    root = one_socket_tree(tmp_path)
    cpus, how = topology.split_evenly(root, range(8), 8, 3)
    assert cpus == (3,) and "threads" in how
    cpus, how = topology.split_evenly(root, range(8), 10, 9)
    assert cpus == (1,) and how.startswith("oversubscribed")


def test_one_cpu_only_rank_uses_the_whole_host(tmp_path: Path) -> None:
    root = two_socket_tree(tmp_path)
    binding = topology.host_binding(root, 0, 1)
    assert binding.cpus == tuple(range(32)) and binding.numa_node is None


def test_cpu_only_ranks_prefer_whole_numa_nodes_then_split_them(tmp_path: Path) -> None:
    root = two_socket_tree(tmp_path)
    two = [topology.host_binding(root, r, 2) for r in range(2)]
    assert [b.numa_node for b in two] == [0, 1]
    assert two[0].cpus == topology.node_cpus(root, 0)
    four = [topology.host_binding(root, r, 4) for r in range(4)]
    assert [b.numa_node for b in four] == [0, 1, 0, 1]
    assert four[0].cpus == (0, 1, 2, 3, 16, 17, 18, 19)
    assert four[2].cpus == (4, 5, 6, 7, 20, 21, 22, 23)
    assert sorted(cpu for b in four for cpu in b.cpus) == list(range(32))


def test_cpu_only_ranks_without_numa_information_split_the_online_cpus(tmp_path: Path) -> None:
    root = write(tmp_path, {"devices/system/cpu/online": "0-3"})
    binding = topology.host_binding(root, 1, 2)
    assert binding.cpus == (2, 3)
    assert binding.source.startswith("fallback: no NUMA nodes in sysfs")


def test_applying_a_binding_pins_this_process_and_restoring_works() -> None:
    before = os.sched_getaffinity(0)
    target = (min(before),)
    try:
        applied = topology.apply_binding(Binding(0, 0, target, None, "test"))
        assert applied == target
        assert os.sched_getaffinity(0) == set(target)
    finally:
        os.sched_setaffinity(0, before)


def test_a_binding_to_cpus_this_process_may_not_use_is_refused() -> None:
    with pytest.raises(BenchbaseError, match="names no CPU this process may use"):
        topology.apply_binding(Binding(0, 0, (100_000,), None, "test"))


def test_numactl_prefix_keeps_the_split_and_binds_memory_to_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """numactl is not installed here; the lookup is answered as if it were."""
    binding = Binding(0, 0, (8, 9, 24, 25), 1, "test")
    monkeypatch.setattr(topology.shutil, "which", lambda name: "/usr/bin/numactl" if name == "numactl" else None)
    assert topology.numactl_prefix(binding) == ["numactl", "--physcpubind=8-9,24-25", "--membind=1"]
    assert topology.numactl_prefix(Binding(0, 0, (0, 1), None, "test")) == ["numactl", "--physcpubind=0-1"]
    monkeypatch.setattr(topology.shutil, "which", lambda name: None)
    assert topology.numactl_prefix(binding) is None
