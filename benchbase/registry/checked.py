"""What a plugin's method must return, checked in one place before the core uses it.

A vendor or case is third-party code: its ``discover()`` may return strings, its ``environment()`` a list or a
gigabyte of nesting, its ``device_model()`` a number. Used as they come, such values end in a traceback far from the
plugin (``'str' object has no attribute 'index'``), or in a record without a summary. So every call the core makes
into a plugin goes through :func:`call`, with the :class:`Shape` its value must have: a wrong value is one line
naming the plugin (and its distribution), the method, what it returned and what it must return. Inside a run that
line is the run's recorded reason (it is a :class:`~benchbase.errors.BenchbaseError`, which the supervisor records).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any, TypeVar

from benchbase.contract import Binding, DeviceInfo, MemoryFootprint, PrecisionPolicy, SensorReading, Sensors
from benchbase.errors import BenchbaseError
from benchbase.registry import bounded

T = TypeVar("T")

#: Devices one node may report: the largest nodes today hold 8 to 16 accelerators; thousands is a runaway list.
MAX_DEVICES = 1024
#: Values (keys, scalars, lists, mappings) in what ``environment()`` or a device's ``extra`` may hold: ``env.json``
#: is a page of facts (the NVIDIA vendor's on an 8-GPU node is under 400 values), not a dump.
MAX_FACT_VALUES = 10_000
#: Nesting of those facts: a few levels (devices, then a device's fields) is all a reader needs.
MAX_FACT_DEPTH = 16
#: Characters of one text value a plugin hands over (a device model, a fact): a line, never a file's contents.
MAX_TEXT_CHARS = 4096
#: Characters of a device model: it names a tuned-config file (``<model>x<N>x<M>.yaml``) and a table column.
MAX_MODEL_CHARS = 200


class PluginMisbehaved(BenchbaseError):
    """A plugin's method returned something that is not what the contract says it returns."""


@dataclass(frozen=True)
class Shape:
    """What a value must be: ``must`` says it in words (for the message), ``problem`` returns ``None`` for a value
    of that shape or what is wrong with it."""

    must: str
    problem: Callable[[Any], str | None]


def call(owner: Any, what: str, shape: Shape, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` under :func:`benchbase.registry.bounded.call`'s limits, its value checked
    against ``shape``; a wrong value raises :class:`PluginMisbehaved` naming the plugin and the method."""
    value = bounded.call(owner, what, function, *args, **kwargs)
    check(owner, what, shape, value)
    return value


def check(owner: Any, what: str, shape: Shape, value: Any) -> None:
    """Raise :class:`PluginMisbehaved` unless ``value`` (what ``owner``'s ``what`` returned) has ``shape``."""
    try:
        problem = shape.problem(value)
    except Exception as exc:  # noqa: BLE001 - a value whose own methods raise while checked is misshapen too
        problem = f"a value that raised {type(exc).__name__} when inspected"
    if problem is not None:
        raise PluginMisbehaved(
            f"{bounded.name_of(owner)}: {what} returned {describe(value)} ({problem})",
            f"it must return {shape.must}; fix or uninstall that plugin's distribution",
        )


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 4
_REPR.maxlevel = 2
#: Types whose ``repr`` is the interpreter's own: a plugin's class may define ``__repr__`` to raise or hang.
_PLAIN = (str, int, float, bool, list, tuple, dict, type(None))


def describe(value: Any) -> str:
    """A short, safe account of a value: its type, and for plain values a bounded ``repr``."""
    kind = type(value).__name__
    if type(value) in _PLAIN and not isinstance(value, (list, tuple, dict)):
        return f"{kind} {_REPR.repr(value)}"
    if type(value) in (list, tuple, dict):
        return f"a {kind} of {len(value)} item(s)"
    return f"a {kind}"


def _finite_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _text_problem(value: Any, limit: int = MAX_TEXT_CHARS) -> str | None:
    if not isinstance(value, str):
        return "not text"
    if len(value) > limit:
        return f"text of {len(value)} characters, more than {limit}"
    return None


def _facts_problem(value: Any) -> str | None:
    """Whether ``value`` is JSON a record can hold: mappings with text keys, lists, text, finite numbers, booleans
    and ``None``, at most :data:`MAX_FACT_VALUES` values :data:`MAX_FACT_DEPTH` deep. Walked without recursion, and
    stopped at the first value past a bound, so a huge or cyclic object costs no more than the bound."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if seen > MAX_FACT_VALUES:
            return f"more than {MAX_FACT_VALUES} values"
        if depth > MAX_FACT_DEPTH:
            return f"nested more than {MAX_FACT_DEPTH} levels deep"
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"a key that is a {type(key).__name__}, not text"
                pending.append((key, depth + 1))
                pending.append((child, depth + 1))
        elif isinstance(item, (list, tuple)):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return f"the number {item}"
        elif item is not None and not isinstance(item, (bool, int, float)):
            return f"a {type(item).__name__}, which JSON cannot hold"
    return None


def _mapping_of_facts(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "not a mapping"
    return _facts_problem(value)


def _device_model_problem(value: Any) -> str | None:
    problem = _text_problem(value, MAX_MODEL_CHARS)
    if problem:
        return problem
    if any(ch in value for ch in "/\\") or not value.isprintable():
        return "text with a path separator or a control character"
    return None


def _device_problem(device: Any) -> str | None:
    if not isinstance(device, DeviceInfo):
        return f"an item that is a {type(device).__name__}"
    if not isinstance(device.index, int) or isinstance(device.index, bool) or device.index < 0:
        return f"a device index {describe(device.index)}, not a whole number from 0"
    problem = _device_model_problem(device.model)
    if problem:
        return f"a device model that is {problem}"
    if device.memory_total_gib is not None and not (_finite_number(device.memory_total_gib)
                                                    and device.memory_total_gib >= 0):
        return f"a memory size {describe(device.memory_total_gib)}"
    if device.pci_bus_id is not None and _text_problem(device.pci_bus_id, MAX_MODEL_CHARS):
        return f"a PCI bus id {describe(device.pci_bus_id)}"
    return _mapping_of_facts(device.extra)


def _devices_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return "not a list"
    if len(value) > MAX_DEVICES:
        return f"{len(value)} devices, more than {MAX_DEVICES}"
    return next((problem for problem in map(_device_problem, value) if problem), None)


def _instance(kind: type, optional: bool) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        if isinstance(value, kind) or (optional and value is None):
            return None
        return "the wrong type"

    return problem


#: CPUs one binding may name: the largest hosts have a few thousand; a binding's list is rendered and applied.
MAX_CPUS = 65_536


def _binding_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Binding):
        return "the wrong type"
    cpus = value.cpus
    if not isinstance(cpus, (tuple, list)) or len(cpus) > MAX_CPUS:
        return f"CPUs that are not a tuple of at most {MAX_CPUS} ids"
    if not all(isinstance(cpu, int) and not isinstance(cpu, bool) and 0 <= cpu < MAX_CPUS for cpu in cpus):
        return f"a CPU id that is not a whole number below {MAX_CPUS}"
    return None


def _peak_problem(value: Any) -> str | None:
    if value is None or (_finite_number(value) and value > 0):
        return None
    return "not a positive finite number"


def _footprint_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, MemoryFootprint):
        return "not a benchbase.contract.MemoryFootprint"
    counts = (value.parameters, value.largest_block_parameters, value.root_parameters)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        return "a parameter count that is not a whole number >= 0"
    activations = (value.activation_bytes_per_sample, value.eval_activation_bytes_per_sample)
    if not all(_finite_number(n) and n >= 0 for n in activations):
        return "activation bytes that are not a finite number >= 0"
    return None


def _reading_problem(reading: Any) -> str | None:
    if not isinstance(reading, SensorReading):
        return f"an item that is a {type(reading).__name__}"
    if not isinstance(reading.device, int) or isinstance(reading.device, bool):
        return f"a device {describe(reading.device)}, not a whole number"
    for name in ("power_w", "energy_j", "memory_used_gib", "memory_total_gib", "utilization_pct", "temperature_c",
                 "clock_mhz"):
        field_value = getattr(reading, name)
        if field_value is not None and not _finite_number(field_value):
            return f"{name} {describe(field_value)}, not a finite number or None"
    return None


def _readings_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return "not a list"
    if len(value) > MAX_DEVICES:
        return f"{len(value)} readings, more than {MAX_DEVICES}"
    return next((problem for problem in map(_reading_problem, value) if problem), None)


DEVICES = Shape(f"a list of at most {MAX_DEVICES} benchbase.contract.DeviceInfo (index a whole number, model text)",
                _devices_problem)
FACTS = Shape(f"a mapping of JSON facts (text keys; at most {MAX_FACT_VALUES} values, {MAX_FACT_DEPTH} levels deep)",
              _mapping_of_facts)
DEVICE_MODEL = Shape(f"text of at most {MAX_MODEL_CHARS} printable characters without a path separator",
                     _device_model_problem)
PRECISION = Shape("a benchbase.contract.PrecisionPolicy", _instance(PrecisionPolicy, optional=False))
BINDING = Shape("a benchbase.contract.Binding (CPU ids whole numbers) or None", _binding_problem)
SENSORS = Shape("a benchbase.contract.Sensors or None", _instance(Sensors, optional=True))
MEMORY_GIB = Shape("a positive finite number of GiB, or None when unknown", _peak_problem)
FOOTPRINT = Shape("a benchbase.contract.MemoryFootprint (counts whole numbers, bytes finite, none negative) or None",
                  _footprint_problem)
PEAK_FLOPS = Shape("a positive finite number of FLOP/s, or None when unknown", _peak_problem)
READINGS = Shape(f"a list of at most {MAX_DEVICES} benchbase.contract.SensorReading with finite numbers or None",
                 _readings_problem)
