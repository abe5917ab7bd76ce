"""Per-rank CPU and memory binding read from the machine's real topology (Linux sysfs).

A rank that feeds an accelerator should run on the CPUs attached to the same socket as the device's PCIe root, and
allocate its host memory there; a rank on the far socket pays a cross-socket hop on every host-device copy. The
kernel states this attachment itself (``/sys/bus/pci/devices/<id>/numa_node`` and ``local_cpulist``), so the binding
is read from there, never derived from socket counts.

Every function takes ``sysfs_root`` (``/sys`` on a real machine) so tests can hand in a small fake tree.

Splitting rules (the same for devices and for CPU-only ranks):

* When several ranks share one CPU pool (one NUMA node, or the whole host when the topology is unknown), the pool is
  split evenly among them in local-rank order, whole physical cores first, so two ranks never share a core's SMT
  siblings. If there are more ranks than cores, threads are split; if there are more ranks than CPUs, ranks reuse
  CPUs round-robin (oversubscription, stated in ``source``).
* A device whose PCI entry is missing or whose ``numa_node`` is ``-1`` (single-socket boards and most VMs report -1)
  falls back to an even split of the online CPUs, and ``source`` starts with ``fallback:``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from benchbase.contract import Binding, compact_cpu_list
from benchbase.errors import BenchbaseError

DEFAULT_SYSFS_ROOT = Path("/sys")
#: The largest CPU id a CPU list may name. Linux builds for at most 8192 CPUs (``CONFIG_NR_CPUS``); this leaves
#: room for any machine to come while a list of every id stays a small set.
MAX_CPU_ID = (1 << 16) - 1

_PCI_BUS_ID = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})\.(?P<fn>[0-7])$"
)


def parse_cpulist(text: str) -> tuple[int, ...]:
    """Parse the kernel's list format (``0-3,8-11``; also ``0-7:2`` strides) into sorted CPU ids.

    The list may come from a record someone sent (``env.json``'s bindings), so a CPU id beyond
    :data:`MAX_CPU_ID` is refused before any range is expanded: ``0-99999999999`` would otherwise fill memory."""
    cpus: set[int] = set()
    expanded = 0
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if match is None:
            raise BenchbaseError(f"malformed CPU list '{text.strip()[:80]}' (part '{part[:40]}')",
                                 "write CPU lists as 0-3,8-11")
        if max(len(group or "") for group in match.groups()) > len(str(MAX_CPU_ID)):
            raise BenchbaseError(
                f"CPU list '{text.strip()[:80]}' names a CPU beyond any host's {MAX_CPU_ID + 1} CPUs",
                "write the CPU ids this host has (see /sys/devices/system/cpu/online)",
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        stride = int(match.group(3)) if match.group(3) is not None else 1
        if last < first or stride < 1:
            raise BenchbaseError(f"malformed CPU list '{text.strip()[:80]}' (range '{part}')", "write ranges low-high")
        if last > MAX_CPU_ID:
            raise BenchbaseError(
                f"CPU list '{text.strip()[:80]}' names CPU {last}, beyond any host's {MAX_CPU_ID + 1} CPUs",
                "write the CPU ids this host has (see /sys/devices/system/cpu/online)",
            )
        expanded += len(range(first, last + 1, stride))
        if expanded > MAX_CPU_ID + 1:
            raise BenchbaseError(f"CPU list '{text.strip()[:80]}' names more CPUs than any host has",
                                 "write each CPU of this host once, as ranges (0-3,8-11)")
        cpus.update(range(first, last + 1, stride))
    return tuple(sorted(cpus))


def normalise_pci_bus_id(bus_id: str) -> str:
    """Bring a PCI address to the sysfs spelling ``0000:3b:00.0``.

    NVML and smi tools print an 8-digit domain in upper case (``00000000:3B:00.0``); sysfs uses 4 digits, lower case.
    """
    text = bus_id.strip().rstrip("\x00")
    match = _PCI_BUS_ID.match(text)
    if match is None:
        raise BenchbaseError(f"malformed PCI bus id '{text}'", "expected the form 0000:3b:00.0")
    domain = int(match.group("domain") or "0", 16)
    return f"{domain:04x}:{match.group('bus').lower()}:{match.group('dev').lower()}.{match.group('fn')}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def pci_numa_node(sysfs_root: Path, pci_bus_id: str) -> int | None:
    """The NUMA node of a PCI device; ``None`` when sysfs has no entry or says ``-1`` (no affinity known)."""
    text = _read(Path(sysfs_root) / "bus/pci/devices" / normalise_pci_bus_id(pci_bus_id) / "numa_node")
    if text is None or not text.strip().lstrip("-").isdigit():
        return None
    node = int(text.strip())
    return node if node >= 0 else None


def pci_local_cpus(sysfs_root: Path, pci_bus_id: str) -> tuple[int, ...]:
    """The CPUs the kernel lists as local to a PCI device; empty when unknown."""
    text = _read(Path(sysfs_root) / "bus/pci/devices" / normalise_pci_bus_id(pci_bus_id) / "local_cpulist")
    return parse_cpulist(text) if text else ()


def node_cpus(sysfs_root: Path, node: int) -> tuple[int, ...]:
    """The CPUs of one NUMA node; empty for a memory-only node or a missing one."""
    text = _read(Path(sysfs_root) / f"devices/system/node/node{node}/cpulist")
    return parse_cpulist(text) if text else ()


def online_cpus(sysfs_root: Path) -> tuple[int, ...]:
    """The online CPUs; if sysfs lacks the list, the CPUs this process may run on (the best remaining evidence)."""
    text = _read(Path(sysfs_root) / "devices/system/cpu/online")
    if text:
        return parse_cpulist(text)
    return tuple(sorted(os.sched_getaffinity(0)))


def numa_nodes(sysfs_root: Path) -> tuple[int, ...]:
    """The online NUMA nodes; empty on a kernel built without NUMA support."""
    text = _read(Path(sysfs_root) / "devices/system/node/online")
    if text:
        return parse_cpulist(text)
    node_dir = Path(sysfs_root) / "devices/system/node"
    if not node_dir.is_dir():
        return ()
    return tuple(sorted(int(p.name[4:]) for p in node_dir.iterdir() if re.fullmatch(r"node\d+", p.name)))


def socket_count(sysfs_root: Path) -> int | None:
    """Number of physical packages among the online CPUs; ``None`` when sysfs does not say."""
    packages = set()
    for cpu in online_cpus(sysfs_root):
        text = _read(Path(sysfs_root) / f"devices/system/cpu/cpu{cpu}/topology/physical_package_id")
        if text is not None and text.strip().lstrip("-").isdigit():
            packages.add(int(text.strip()))
    return len(packages) or None


def core_groups(sysfs_root: Path, cpus: Sequence[int]) -> list[tuple[int, ...]]:
    """Group CPUs into physical cores (SMT siblings together), ordered by each core's lowest CPU id.

    A CPU whose sibling list is unreadable counts as a core of its own.
    """
    pool = set(cpus)
    groups: dict[tuple[int, ...], None] = {}
    for cpu in sorted(pool):
        topology = Path(sysfs_root) / f"devices/system/cpu/cpu{cpu}/topology"
        text = _read(topology / "core_cpus_list") or _read(topology / "thread_siblings_list")
        siblings = tuple(c for c in parse_cpulist(text) if c in pool) if text else ()
        groups[siblings if cpu in siblings else (cpu,)] = None
    return sorted(groups, key=min)


def _chunk(items: Sequence, parts: int, index: int) -> Sequence:
    base, extra = divmod(len(items), parts)
    start = index * base + min(index, extra)
    return items[start : start + base + (1 if index < extra else 0)]


def split_evenly(sysfs_root: Path, cpus: Sequence[int], parts: int, index: int) -> tuple[tuple[int, ...], str]:
    """Slice ``index`` of ``parts`` of a CPU pool, whole cores first; returns the slice and how it was cut."""
    if parts < 1 or not 0 <= index < parts:
        raise ValueError(f"slice {index} of {parts} does not exist")
    if parts == 1:
        return tuple(sorted(cpus)), "all of them"
    cores = core_groups(sysfs_root, cpus)
    if parts <= len(cores):
        chosen = [cpu for core in _chunk(cores, parts, index) for cpu in core]
        return tuple(sorted(chosen)), f"cores split {parts} ways, share {index + 1}"
    ordered = sorted(cpus)
    if parts <= len(ordered):
        return tuple(_chunk(ordered, parts, index)), f"threads split {parts} ways (fewer cores than ranks)"
    return (ordered[index % len(ordered)],), f"oversubscribed: {parts} ranks on {len(ordered)} CPUs"


def binding_for_device(
    sysfs_root: Path,
    local_rank: int,
    device_index: int,
    pci_bus_id: str | None,
    ranks_sharing: Sequence[int],
    no_address_reason: str = "the device has no PCI address",
) -> Binding:
    """Bind a rank to the CPUs local to its device.

    ``ranks_sharing`` lists the local ranks whose devices fall in the same CPU pool as this one (same NUMA node, or
    all devices without NUMA information), this rank included; the pool is split evenly among them in rank order.
    """
    sharing = sorted(set(ranks_sharing) | {local_rank})
    position = sharing.index(local_rank)
    reason = no_address_reason
    if pci_bus_id:
        bus = normalise_pci_bus_id(pci_bus_id)
        node = pci_numa_node(sysfs_root, bus)
        if node is None:
            reason = f"PCI {bus} has no NUMA node in sysfs (numa_node missing or -1)"
        else:
            pool = pci_local_cpus(sysfs_root, bus) or node_cpus(sysfs_root, node)
            if pool:
                cpus, how = split_evenly(sysfs_root, pool, len(sharing), position)
                return Binding(local_rank, device_index, cpus, node, f"sysfs: PCI {bus} on NUMA node {node}; {how}")
            reason = f"NUMA node {node} of PCI {bus} has no CPUs"
    cpus, how = split_evenly(sysfs_root, online_cpus(sysfs_root), len(sharing), position)
    return Binding(local_rank, device_index, cpus, None, f"fallback: {reason}; online CPUs by local rank, {how}")


def device_bindings(sysfs_root: Path, pci_bus_ids: Sequence[str | None]) -> list[Binding]:
    """Bindings for one rank per device, local rank ``i`` driving device ``i`` (the launcher's convention).

    Devices are grouped by NUMA node (devices without one form a single group) to find who shares a pool.
    """
    nodes = [pci_numa_node(sysfs_root, bus) if bus else None for bus in pci_bus_ids]
    groups: dict[int | None, list[int]] = {}
    for index, node in enumerate(nodes):
        groups.setdefault(node, []).append(index)
    return [
        binding_for_device(sysfs_root, index, index, bus, groups[nodes[index]])
        for index, bus in enumerate(pci_bus_ids)
    ]


def host_binding(sysfs_root: Path, local_rank: int, local_world_size: int) -> Binding:
    """Bind CPU-only ranks to disjoint slices of the host, preferring whole NUMA nodes.

    One rank gets every online CPU. Several ranks go round-robin over the NUMA nodes that have CPUs (rank ``r`` on
    node ``r % nodes``) and split their node's cores evenly; with more nodes than ranks, the spare nodes stay idle
    rather than have a rank's memory span two sockets.
    """
    if not 0 <= local_rank < local_world_size:
        raise ValueError(f"local rank {local_rank} is outside a local world of {local_world_size}")
    nodes = [n for n in numa_nodes(sysfs_root) if node_cpus(sysfs_root, n)]
    if local_world_size == 1:
        node = nodes[0] if len(nodes) == 1 else None
        return Binding(local_rank, 0, online_cpus(sysfs_root), node, "sysfs: one rank uses every online CPU")
    if not nodes:
        cpus, how = split_evenly(sysfs_root, online_cpus(sysfs_root), local_world_size, local_rank)
        return Binding(local_rank, 0, cpus, None, f"fallback: no NUMA nodes in sysfs; online CPUs by local rank, {how}")
    node = nodes[local_rank % len(nodes)]
    sharing = [r for r in range(local_world_size) if r % len(nodes) == local_rank % len(nodes)]
    cpus, how = split_evenly(sysfs_root, node_cpus(sysfs_root, node), len(sharing), sharing.index(local_rank))
    return Binding(local_rank, 0, cpus, node, f"sysfs: NUMA node {node} of {len(nodes)}; {how}")


def with_rank(binding: Binding, local_rank: int, device_index: int) -> Binding:
    """The same CPUs re-labelled for another rank/device numbering (e.g. under CUDA_VISIBLE_DEVICES)."""
    return replace(binding, local_rank=local_rank, device_index=device_index)


def fit_to_allowed(
    sysfs_root: Path, bindings: Sequence[Binding | None], allowed: Collection[int]
) -> tuple[list[Binding | None], str | None]:
    """The bindings narrowed to the CPUs this process may use, and one line saying how when they had to change.

    sysfs describes the machine, not the job: Slurm's ``task/affinity`` confines a task to its ``--cpus-per-task``
    CPUs and a container to its cpuset, and the ranks inherit that limit. A rank told to run on CPUs it may not use
    would fail inside the run, so the supervisor checks before launching. Each binding keeps its allowed CPUs; if a
    rank would be left with none, the allowed CPUs are split among the ranks instead (whole cores first; shared
    round-robin when there are fewer CPUs than ranks), and the binding's ``source`` says so.
    """
    pool = tuple(sorted(allowed))
    planned = [(index, b) for index, b in enumerate(bindings) if b is not None]
    if all(set(b.cpus) <= set(pool) for _, b in planned):
        return list(bindings), None
    fitted = list(bindings)
    kept = {index: tuple(cpu for cpu in b.cpus if cpu in allowed) for index, b in planned}
    if all(kept.values()):
        for index, b in planned:
            narrowed = f"{b.source}; narrowed to the allowed CPUs {compact_cpu_list(kept[index])}"
            fitted[index] = replace(b, cpus=kept[index], source=narrowed)
        how = "each rank keeps the allowed part of its CPUs"
    else:
        for position, (index, b) in enumerate(planned):
            cpus, split = split_evenly(sysfs_root, pool, len(planned), position)
            shared = f"allowed CPUs {compact_cpu_list(pool)}: {split}"
            fitted[index] = replace(b, cpus=cpus, numa_node=None, source=shared)
        how = "the ranks share out the allowed CPUs instead"
    wanted = compact_cpu_list(tuple(cpu for _, b in planned for cpu in b.cpus))
    note = (
        f"CPU binding {wanted} names CPUs this process may not use (allowed: {compact_cpu_list(pool)}; a limit such "
        f"as Slurm's --cpus-per-task or a container's cpuset); {how}; give the job every CPU of the node to bind "
        "as planned"
    )
    return fitted, note


def apply_binding(binding: Binding) -> tuple[int, ...]:
    """Pin the calling process to the binding's CPUs (those it may use) and return the CPUs applied.

    Memory follows: Linux allocates pages on the node of the CPU that first touches them, so pinning the CPUs also
    keeps the rank's memory local. A container or job limited to other CPUs (cgroup cpuset) is an error, not a
    silent no-op, because the record would otherwise claim a binding that never happened.
    """
    allowed = os.sched_getaffinity(0)
    cpus = tuple(cpu for cpu in binding.cpus if cpu in allowed)
    if not cpus:
        raise BenchbaseError(
            f"CPU binding {compact_cpu_list(binding.cpus)} of local rank {binding.local_rank} names no CPU this "
            f"process may use (allowed: {compact_cpu_list(tuple(allowed))})",
            "check the container's or job's CPU limits (cpuset), or run without CPU binding",
        )
    os.sched_setaffinity(0, cpus)
    return cpus


def numactl_prefix(binding: Binding) -> list[str] | None:
    """A ``numactl`` command prefix equivalent to the binding, or ``None`` when numactl is not installed.

    ``--physcpubind`` rather than ``--cpunodebind`` so a node shared by several ranks keeps its split; ``--membind``
    only when the binding names a node.
    """
    if shutil.which("numactl") is None:
        return None
    prefix = ["numactl", f"--physcpubind={compact_cpu_list(binding.cpus)}"]
    if binding.numa_node is not None:
        prefix.append(f"--membind={binding.numa_node}")
    return prefix
