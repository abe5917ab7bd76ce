"""Facts about the host that every record carries, whatever the vendor: who ran what, where, with which software."""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import sys
from importlib.metadata import Distribution, PackageNotFoundError, distribution, entry_points, version
from typing import Any

import psutil

from benchbase.contract.hookspecs import PROJECT as ENTRY_POINT_GROUP
from benchbase.hardware.torch_build import torch_build

#: The core's own distribution. Plugin distributions are never named here: they are found through their entry
#: points, so the core records whatever plugins are installed, first-party or not.
CORE_DISTRIBUTION = "benchbase-core"
#: ``Requires-Dist`` entries that only apply with an extra; those are not part of what an installation runs.
_EXTRA_MARKER = re.compile(r";.*\bextra\s*==")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    """PEP 503 form, so one distribution is one key whatever its metadata spells."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_of(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _requirements(dist: Distribution) -> list[str]:
    """Names of the distributions ``dist`` requires unconditionally of extras (markers on Python are kept)."""
    names = []
    for requirement in dist.requires or []:
        match = _REQUIREMENT_NAME.match(requirement)
        if match and not _EXTRA_MARKER.search(requirement):
            names.append(_normalize(match.group(1)))
    return names


def plugin_distributions() -> dict[str, str | None]:
    """Every installed distribution providing a ``benchbase`` entry point, with its version."""
    found: dict[str, str | None] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.metadata["Name"]:
            found[_normalize(dist.metadata["Name"])] = dist.version
    return dict(sorted(found.items()))


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that shape a result, so two runs can be told apart: the core, every plugin
    distribution, and what each of them requires (torch, numpy, a tokenizer, a vendor's management library...)."""
    names: set[str] = {CORE_DISTRIBUTION}
    dists: list[Distribution] = []
    try:
        dists.append(distribution(CORE_DISTRIBUTION))
    except PackageNotFoundError:
        pass
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            dists.append(dist)
    for dist in dists:
        if dist.metadata["Name"]:
            names.add(_normalize(dist.metadata["Name"]))
        names.update(_requirements(dist))
    return {name: _version_of(name) for name in sorted(names)}


def host_basics() -> dict[str, Any]:
    """Host, OS, Python, CPUs and memory: what ``benchbase env`` prints and every record starts with; nothing here
    imports torch."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_total_gib": round(psutil.virtual_memory().total / 2**30, 2),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def torch_runtime() -> dict[str, Any]:
    """The torch build and what it does in this process: its version, the CUDA it was built for, its default
    thread count, whether MKL and oneDNN are in it, and the TF32 switches. Only torch knows the last four, so this
    imports torch; a run records it (it trains with torch anyway), ``benchbase env`` does not call it."""
    import torch

    build = torch_build()
    return {
        "version": build["version"],
        "cuda": build["cuda"],
        "git": build["git"],
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "onednn": torch.backends.mkldnn.is_available(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }


def host_facts() -> dict[str, Any]:
    """Host, OS, Python, the torch build and runtime, the installed plugin distributions and the versions of the
    packages that shape a result: ``env.json``'s ``host``."""
    return {
        **host_basics(),
        "torch": torch_runtime(),
        "numactl": shutil.which("numactl"),
        "packages": package_versions(),
        "plugin_distributions": plugin_distributions(),
    }
