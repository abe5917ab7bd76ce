"""The core's own launchers, registered through ``benchbase_register_launchers`` like any plugin's.

The registry registers this module first (:meth:`benchbase.registry.plugins._Loader.add_core`); ``benchbase run
--help`` lists these names without loading the plugins, whose import would pull in torch.
"""

from __future__ import annotations

from collections.abc import Callable

from benchbase.contract import Launcher
from benchbase.contract.hookspecs import hookimpl
from benchbase.launch.kubernetes import KubernetesLauncher
from benchbase.launch.local import LocalLauncher
from benchbase.launch.slurm import SlurmLauncher

LAUNCHERS: tuple[Launcher, ...] = (LocalLauncher(), SlurmLauncher(), KubernetesLauncher())


@hookimpl
def benchbase_register_launchers(register: Callable[[Launcher], None]) -> None:
    """The core's launchers."""
    for launcher in LAUNCHERS:
        register(launcher)
