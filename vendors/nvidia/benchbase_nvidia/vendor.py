"""NVIDIA GPUs as a benchbase vendor: CUDA devices, NCCL collectives, NVML telemetry.

Device handling, discovery, peaks, binding and sensors are the kit's (:class:`benchbase.kit.CudaLikeVendor`);
NVIDIA adds its datasheet peaks (by short model, so H100 PCIe/NVL, H200 NVL and GH200 are their own entries), the
compute-capability rule for precisions, TF32 facts, NVML's CPU affinity and how NVML's devices map to CUDA's
(``device_order`` in ``env.json``).
NVML is initialised on first use, and ``environment()`` reports a missing driver instead of raising. Registering
the vendor and ``environment()`` import no torch (its CUDA version is read from its files); the TF32 switches, which
only the imported torch knows, are in every run's ``env.json`` under ``host.torch``.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

from benchbase.kit import split_evenly, torch_build
from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy
from benchbase.kit import CudaLikeVendor
from benchbase_nvidia.nvml import NvmlSession
from benchbase_nvidia.peak_flops import PEAK_FLOPS
from benchbase_nvidia.precision import nvidia_precision_policy

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class NvidiaVendor(CudaLikeVendor[NvmlSession]):
    """``nvml`` replaces the ``pynvml`` module (tests hand in a stand-in, since this machine may have no GPU)."""

    name = "nvidia"
    description = "NVIDIA GPUs (CUDA, NCCL, NVML telemetry)"
    default_device_model = "A100"
    #: What NVIDIA's Kubernetes device plugin (k8s-device-plugin) advertises.
    kubernetes_resource = "nvidia.com/gpu"
    config_dir = CONFIG_DIR
    device_noun = "NVIDIA GPU"
    setup_fix = "install a CUDA build of PyTorch and an NVIDIA driver, or pick another --vendor"
    peak_table = PEAK_FLOPS
    #: GiB per board, as nvidia-smi reports them: the A100 as its smaller 40 GB board (40960 MiB; the 80 GB one
    #: reports itself when discovered), H100 SXM 80 GB (81559 MiB), H200 141 GB (143771 MiB).
    memory_table = {"A100": 40.0, "H100": 79.6, "H200": 140.4}

    def __init__(self, nvml: Any | None = None) -> None:
        super().__init__()
        self._nvml = nvml

    def open_session(self) -> NvmlSession:
        return NvmlSession.open(self._nvml)

    def _software_facts(self) -> dict[str, Any]:
        cuda = torch_build()["cuda"]
        return {"torch_cuda": cuda, "sdk": f"CUDA {cuda}" if cuda else None}

    def _found_facts(self, session: NvmlSession) -> dict[str, Any]:
        cuda_driver = session.cuda_driver_version()
        return {
            "cuda_driver": cuda_driver,
            "sdk": f"CUDA {torch_build()['cuda'] or cuda_driver}, driver {session.driver_version()}",
            "device_order": session.device_order.facts(),
        }

    def _device_facts(self, device: DeviceInfo) -> dict[str, Any]:
        return {**super()._device_facts(device), "compute_capability": device.extra["compute_capability"]}

    def _binding_without_numa_node(
        self, local_rank: int, device_index: int, devices_in_use: int, sysfs_root: Path
    ) -> Binding | None:
        """NVML's CPU affinity for the device, split among the devices with the same affinity; ``None`` when NVML
        will not say either."""
        with closing(self.open_session()) as session:
            affinities = [session.cpu_affinity(h) for h in session.handles[:devices_in_use]]
        mine = affinities[device_index]
        if not mine:
            return None
        sharing = [i for i, cpus in enumerate(affinities) if cpus == mine]
        cpus, how = split_evenly(sysfs_root, mine, len(sharing), sharing.index(device_index))
        source = f"nvml: nvmlDeviceGetCpuAffinity (sysfs had no NUMA node for the device); {how}"
        return Binding(local_rank, device_index, cpus, None, source)

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        """Imports torch: whether fp32 matmuls run as TF32 is a switch of the torch in this process."""
        import torch

        return nvidia_precision_policy(requested, self._capability(), torch.backends.cuda.matmul.allow_tf32)

    def _capability(self) -> tuple[int, int] | None:
        """From torch inside a rank; from NVML in the supervisor; ``None`` when no GPU is visible at all."""
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_capability(torch.cuda.current_device())
        devices = self._discovered()
        text = devices[0].extra.get("compute_capability") if devices else None
        if not text:
            return None
        major, minor = str(text).split(".")
        return int(major), int(minor)
