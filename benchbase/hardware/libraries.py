"""The communication and kernel libraries a run's ranks use, with their versions, for ``env.json``'s provenance.

Two runs under one SDK label can still differ in the library that runs their collectives (NCCL 2.21 against 2.23
ship in the same CUDA 12 containers) or their kernels (cuDNN, oneDNN), and either changes a measured throughput.
torch knows which it was built with: :func:`torch_libraries` reads that once (it imports torch, so only a run that
writes its record calls it), and :func:`describe_libraries` names what the run used from those facts and the
vendor's ``torch.distributed`` backend, pure so that tests give it stand-in facts for hardware that is not here:
``nccl`` is NCCL, or RCCL under a ROCm build (torch's ``torch.cuda.nccl.version()`` answers for either); ``gloo``
is built into torch and versioned with it; the kernels of a device vendor are cuDNN (MIOpen under ROCm), of the
host CPU oneDNN. A vendor whose libraries torch does not know returns them from ``Vendor.libraries()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: oneDNN's version in ``torch.__config__.show()`` (it still calls it MKL-DNN).
_ONEDNN = re.compile(r"(?:MKL-DNN|oneDNN) v(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class TorchLibraries:
    """What the installed torch says of the libraries it carries."""

    torch_version: str
    #: The ROCm (HIP) version for a ROCm build, else ``None``.
    hip: str | None
    #: ``torch.cuda.nccl.version()`` as a tuple, ``None`` where torch has no NCCL/RCCL.
    nccl: tuple[int, ...] | None
    #: ``torch.backends.cudnn.version()``, ``None`` where torch has no cuDNN/MIOpen.
    cudnn: int | None
    #: oneDNN's version as the build configuration names it, ``None`` without it.
    onednn: str | None


def torch_libraries() -> TorchLibraries:
    """Read from the installed torch (imports it); a part torch cannot answer is ``None``, never an error."""
    import torch

    nccl: tuple[int, ...] | None = None
    try:
        found = torch.cuda.nccl.version()
        nccl = tuple(found) if isinstance(found, tuple) else (int(found),)
    except Exception:  # noqa: BLE001 - a torch without NCCL raises one of several errors; none is the run's problem
        nccl = None
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:  # noqa: BLE001 - likewise for a cuDNN that fails to load
        cudnn = None
    onednn = None
    if torch.backends.mkldnn.is_available():
        match = _ONEDNN.search(torch.__config__.show())
        onednn = match.group(1) if match else None
    return TorchLibraries(str(torch.__version__), getattr(torch.version, "hip", None), nccl, cudnn, onednn)


def describe_libraries(backend: str, facts: TorchLibraries, vendor_says: dict[str, Any]) -> dict[str, Any]:
    """``{"communication": {"library", "version"}, "kernels": {"library", "version"}}`` for a vendor whose ranks
    talk through ``backend``; what the vendor says (a part with a string ``library``) replaces the core's reading."""
    rocm = facts.hip is not None
    if backend == "nccl":
        communication = {"library": "rccl" if rocm else "nccl",
                         "version": ".".join(map(str, facts.nccl)) if facts.nccl else None}
    elif backend == "gloo":
        communication = {"library": "gloo", "version": f"built into torch {facts.torch_version}"}
    else:
        communication = {"library": backend, "version": None}
    if backend == "nccl" and facts.cudnn is not None:
        kernels = {"library": "miopen" if rocm else "cudnn", "version": str(facts.cudnn) if rocm
                   else cudnn_version(facts.cudnn)}
    elif backend == "gloo" and facts.onednn is not None:
        kernels = {"library": "onednn", "version": facts.onednn}
    else:
        kernels = {"library": None, "version": None}
    described = {"communication": communication, "kernels": kernels}
    for part in described:
        given = vendor_says.get(part)
        if isinstance(given, dict) and isinstance(given.get("library"), str):
            version = given.get("version")
            described[part] = {"library": given["library"], "version": version if isinstance(version, str) else None}
    return described


def cudnn_version(number: int) -> str:
    """cuDNN's version number as text: 9.x packs major*10000 + minor*100 + patch (90100 is 9.1.0), 8.x and
    before major*1000 + minor*100 + patch (8902 is 8.9.2)."""
    if number >= 90000:
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"
