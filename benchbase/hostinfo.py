"""Facts about the host that every record carries, whatever the vendor: who ran what, where, with which software."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import psutil
import torch

#: Distributions whose versions change results; recorded so two runs can be told apart.
TRACKED_DISTRIBUTIONS = (
    "benchbase",
    "benchbase-cpm",
    "torch",
    "numpy",
    "sentencepiece",
    "jieba",
    "nvidia-ml-py",
)


def _version_of(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def host_facts() -> dict[str, Any]:
    """Host, OS, Python, torch build and the versions of the packages that shape a result."""
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
        "torch": {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "git": torch.version.git_version,
            "threads": torch.get_num_threads(),
        },
        "numactl": shutil.which("numactl"),
        "packages": {name: _version_of(name) for name in TRACKED_DISTRIBUTIONS},
    }
