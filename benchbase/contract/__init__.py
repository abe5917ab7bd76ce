"""The typed objects that cross the plugin boundary, in three parts and one composition.

* the **model** (:class:`ModelSpec`) and the **dataset** (:class:`DatasetSpec`, opened as :class:`Samples`), composed
  with a :class:`Recipe` and a :class:`Metric` into a named **case** (:class:`Case`): :mod:`benchbase.contract.case`;
* the **hardware** (:class:`Vendor`, with :class:`PrecisionPolicy`, :class:`DeviceInfo`, :class:`Binding`,
  :class:`Sensors`, :class:`SensorReading` and :class:`StepTimer`): :mod:`benchbase.contract.vendor`;
* how a run's nodes are **started** (:class:`Launcher`, with :class:`JobShape` and :class:`Submission`):
  :mod:`benchbase.contract.launcher`;
* the **hooks** a plugin implements to hand them over: :mod:`benchbase.contract.hookspecs`.

Neither part imports the other: the core trainer owns the step and wires them together. Plugins import these names
from here (or from :mod:`benchbase` itself); the submodules are where they are defined.
"""

from benchbase.contract.case import (
    Batch,
    Case,
    DatasetSpec,
    EmitFn,
    MemoryFootprint,
    Metric,
    ModelSpec,
    Param,
    Preset,
    ProgressFn,
    Recipe,
    Samples,
)
from benchbase.contract.launcher import JobShape, Launcher, Submission
from benchbase.contract.vendor import (
    Binding,
    DeviceInfo,
    PrecisionPolicy,
    SensorReading,
    Sensors,
    StepTimer,
    Vendor,
    compact_cpu_list,
)

__all__ = [
    "Batch",
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
    "Preset",
    "PrecisionPolicy",
    "ProgressFn",
    "Recipe",
    "Samples",
    "Submission",
    "SensorReading",
    "Sensors",
    "StepTimer",
    "Vendor",
    "compact_cpu_list",
]
