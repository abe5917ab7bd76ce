"""Facts about the host CPU, read from ``/proc/cpuinfo`` and sysfs (both paths are parameters for tests)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from benchbase.kit import numa_nodes, socket_count, torch_build

CPUINFO = Path("/proc/cpuinfo")

#: cpuinfo flags that mean the cores compute bf16 natively (AVX-512 BF16, AMX), so bf16 autocast is a speed-up
#: rather than an emulation.
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_field(cpuinfo: Path, key: str) -> str | None:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key and value.strip():
            return value.strip()
    return None


def cpu_model_name(cpuinfo: Path = CPUINFO) -> str:
    """The marketing name of the CPU (``model name``), else what the platform module knows, else ``unknown CPU``."""
    return _cpuinfo_field(cpuinfo, "model name") or platform.processor() or platform.machine() or "unknown CPU"


def native_bf16(cpuinfo: Path = CPUINFO) -> bool | None:
    """Whether the cores advertise bf16 arithmetic; ``None`` when cpuinfo has no flags line (non-x86 kernels)."""
    flags = _cpuinfo_field(cpuinfo, "flags")
    if flags is None:
        return None
    present = set(flags.split())
    return any(flag in present for flag in _BF16_FLAGS)


def host_facts(sysfs_root: Path, cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """What ``env.json`` and ``benchbase env`` show for a CPU host. Nothing here imports torch: its version comes from
    its files, and what only the imported torch knows (threads, MKL, oneDNN) is the core's ``host.torch``."""
    import psutil  # here: every command imports this module when the plugin registers, few ask the host

    return {
        "cpu_model": cpu_model_name(cpuinfo),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cpus": psutil.cpu_count(logical=True),
        "sockets": socket_count(sysfs_root),
        "numa_nodes": len(numa_nodes(sysfs_root)) or None,
        "native_bf16": native_bf16(cpuinfo),
        "memory_total_gib": psutil.virtual_memory().total / 2**30,
        "torch": torch_build()["version"],
    }
