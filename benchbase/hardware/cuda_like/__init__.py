"""The kit shared by every vendor whose PyTorch build speaks the ``torch.cuda`` API.

NVIDIA's CUDA and CUDA-compatible stacks (Iluvatar CoreX, and others) expose their devices as ``cuda`` in PyTorch and
number them the CUDA way, honouring ``CUDA_VISIBLE_DEVICES``; many also ship an NVML-compatible management library.
Vendors are independent distributions and must not import each other, so what they would otherwise copy lives here:

* :class:`CudaLikeVendor` - the vendor base: ``torch.cuda`` device handling, cached discovery, peaks from a table,
  sysfs binding with its fallback, sensors, ``env.json`` skeleton;
* :class:`NvmlStyleSession` - device enumeration through ``pynvml``, for NVML and its clones;
* :data:`BF16`, :data:`FP16`, :data:`FP32` - the precision policies the devices share;
* :func:`visible_device_order` - CUDA's renumbering under ``CUDA_VISIBLE_DEVICES``, for any enumeration.
"""

from benchbase.hardware.cuda_like.nvml_session import NvmlStyleSession, import_pynvml, sysfs_bus_id
from benchbase.hardware.cuda_like.precision import BF16, FP16, FP32, loss_scaled_fp16
from benchbase.hardware.cuda_like.vendor import CudaLikeVendor, DeviceSession, PeakTable, table_peak
from benchbase.hardware.cuda_like.visible import visible_device_order

__all__ = [
    "BF16",
    "FP16",
    "FP32",
    "CudaLikeVendor",
    "DeviceSession",
    "NvmlStyleSession",
    "PeakTable",
    "import_pynvml",
    "loss_scaled_fp16",
    "sysfs_bus_id",
    "table_peak",
    "visible_device_order",
]
