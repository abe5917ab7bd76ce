"""benchbase: an open, plugin-based benchmark of how well AI accelerators train real models.

This is the public face, as ``pytest/__init__.py`` is pytest's: everything a case or vendor plugin implements or
receives is importable from here (the hook marker, the one user-facing error, every contract type). Stable helpers
for plugin authors that are not part of the contract live in :mod:`benchbase.kit`. The modules
:mod:`benchbase.contract`, :mod:`benchbase.hookspecs` and :mod:`benchbase.errors`, which plugins have always
imported, stay public too. Every other module is the core's own and may change between versions.
"""

from importlib.metadata import PackageNotFoundError, version

from benchbase.contract import (
    Batch,
    Binding,
    Case,
    DatasetSpec,
    DeviceInfo,
    EmitFn,
    JobShape,
    Launcher,
    MemoryFootprint,
    Metric,
    ModelSpec,
    Param,
    PrecisionPolicy,
    Preset,
    ProgressFn,
    Recipe,
    Samples,
    SensorReading,
    Sensors,
    StepTimer,
    Submission,
    Vendor,
)
from benchbase.contract.hookspecs import hookimpl
from benchbase.errors import BenchbaseError

try:
    __version__ = version("benchbase-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Batch",
    "BenchbaseError",
    "Binding",
    "Case",
    "DatasetSpec",
    "DeviceInfo",
    "EmitFn",
    "JobShape",
    "Launcher",
    "MemoryFootprint",
    "Metric",
    "ModelSpec",
    "Param",
    "PrecisionPolicy",
    "Preset",
    "ProgressFn",
    "Recipe",
    "Samples",
    "SensorReading",
    "Sensors",
    "StepTimer",
    "Submission",
    "Vendor",
    "__version__",
    "hookimpl",
]
