"""The CPU as a benchbase vendor: any host trains on its cores, ranks talk over gloo.

The "device" is the host. Its memory figures are host figures: ``peak_memory_gib`` is this rank's peak resident set
(what a CPU run actually holds), and telemetry rows report the host's used and total memory.
"""

from __future__ import annotations

import os
import resource
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.kit import DEFAULT_SYSFS_ROOT, host_binding, torch_build, with_rank
from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy, Sensors, Vendor
from benchbase_cpu.facts import cpu_model_name, host_facts
from benchbase_cpu.precision import cpu_precision_policy
from benchbase_cpu.rapl import RaplCounter

if TYPE_CHECKING:
    import torch


class CPUVendor(Vendor):
    """Construction only stores paths: the plugin list is built for every CLI command, so nothing is probed here, and
    torch is imported only by the methods a rank calls (:meth:`setup_device`)."""

    name = "cpu"
    description = "Any host CPU (PyTorch CPU kernels, gloo, psutil/RAPL telemetry)"
    distributed_backend = "gloo"
    default_device_model = "cpu"
    ranks_share_devices = True
    config_dir = None

    def __init__(self, sysfs_root: Path = DEFAULT_SYSFS_ROOT) -> None:
        self._sysfs_root = Path(sysfs_root)

    def discover(self) -> list[DeviceInfo]:
        import psutil  # here and below: every command imports this module when the plugin registers, few ask the host

        return [
            DeviceInfo(
                index=0,
                model=cpu_model_name(),
                memory_total_gib=psutil.virtual_memory().total / 2**30,
                extra={
                    "logical_cpus": psutil.cpu_count(logical=True),
                    "physical_cores": psutil.cpu_count(logical=False),
                },
            )
        ]

    def device_model(self) -> str:
        """Always ``cpu``: CPU configs are generic, not per processor model."""
        return self.default_device_model

    def environment(self) -> dict[str, Any]:
        facts = host_facts(self._sysfs_root)
        facts["found"] = True
        facts["rapl_power"] = RaplCounter(self._sysfs_root).available
        facts["sdk"] = f"torch {torch_build()['version']}"
        return facts

    def peak_flops(self, dtype: str) -> float | None:
        """Unknown: a CPU's peak depends on its SKU, core count, vector units and clocks under load, and no table
        here would be honest for every host. MFU is therefore reported as n/a on CPU."""
        return None

    def binding(
        self, local_rank: int, device_index: int, sysfs_root: Path, local_world_size: int | None = None
    ) -> Binding | None:
        """A disjoint slice of the host per rank (see :func:`benchbase.kit.host_binding`).

        Slicing needs the number of ranks on this node: ``local_world_size``, else torchrun's ``LOCAL_WORLD_SIZE``.
        When neither says, every rank gets every online CPU, which is no worse than no binding, rather than slices
        guessed from a wrong count that could overlap.
        """
        ranks = local_world_size or int(os.environ.get("LOCAL_WORLD_SIZE", "0"))
        if ranks > local_rank:
            return host_binding(Path(sysfs_root), local_rank, ranks)
        whole = host_binding(Path(sysfs_root), 0, 1)
        source = f"{whole.source} (number of local ranks unknown, so not split)"
        return replace(with_rank(whole, local_rank, device_index), source=source)

    def open_sensors(self, device_indices: list[int]) -> Sensors | None:
        # Imported here: the sensors bring the core's telemetry file machinery, which only a run that samples needs,
        # and every command imports this module when the plugin registers.
        from benchbase_cpu.sensors import CPUSensors

        return CPUSensors(self._sysfs_root)

    def memory_budget_gib(self, device: DeviceInfo | None) -> float | None:
        """The host memory available now (``MemAvailable``): the ranks share it with whatever else runs, so the
        total would promise memory other processes hold."""
        import psutil

        return psutil.virtual_memory().available / 2**30

    def setup_device(self, local_rank: int) -> torch.device:
        """The host itself. The thread count is left as the core set it (one thread per CPU of the rank's binding,
        the same policy at every topology): a vendor choosing its own would make 1x1 and 1xN differ by more than
        the hardware."""
        import torch

        return torch.device("cpu")

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        return cpu_precision_policy(requested)

    def peak_memory_gib(self, device: torch.device) -> float | None:
        """Peak resident set of this process (``ru_maxrss``, KiB on Linux), in GiB.

        The kernel keeps no resettable peak, so :meth:`reset_peak_memory` is a no-op and the figure covers the whole
        process lifetime, including model construction before the train window.
        """
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
