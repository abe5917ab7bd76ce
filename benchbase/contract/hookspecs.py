"""The whole plugin contract of benchbase, in one file.

Plugins are found through the entry-point group ``benchbase`` (``[project.entry-points.benchbase]`` in a plugin's
``pyproject.toml``); the entry point names a module holding functions decorated with ``benchbase.hookimpl``.
First-party cases and vendors register exactly like third-party ones.

What a plugin hands over is typed, in :mod:`benchbase.contract`, in three parts:

* the **model** (:class:`~benchbase.contract.ModelSpec`): build it for a config, import a starting checkpoint,
  FLOPs per sample, the forward pass and the loss of a batch, parameter groups, and optionally the blocks FSDP shards
  one by one (``blocks``, for ``parallelism: fsdp``);
* the **dataset** (:class:`~benchbase.contract.DatasetSpec`): prepare and cache once per node, then open in each
  rank as :class:`~benchbase.contract.Samples` read by index;
* the **hardware** (:class:`~benchbase.contract.Vendor`): discovery, device setup, precision policy, CPU binding,
  sensors, swaps, the data-parallel wrapper (and optionally its own sharding wrapper, ``wrap_fully_sharded``) and
  the device's RNG.

How a run's nodes are started is a plugin kind of its own (:class:`~benchbase.contract.Launcher`), registered like
cases and vendors.

A **case** (:class:`~benchbase.contract.Case`) is a named composition of one model spec and one dataset spec with a
:class:`~benchbase.contract.Recipe` (optimizer, schedule, allowed precisions, the overflow rule) and a
:class:`~benchbase.contract.Metric`, plus its parameters and presets. The core trainer (:mod:`benchbase.train.engine`)
owns the step, the batch order across ranks and micro-steps, evaluation and state, so every case is measured by
the same rules and a case never writes harness code.

Design decision: models and datasets have **no registration hooks of their own**. A benchmark result is defined by
the whole composition (the same model on other data, or with another recipe, is another benchmark with another
target), so the unit a user names on the command line, and a record names, is the case. A plugin that wants to
share a model between cases shares the Python class, not a registry entry.

Two kinds of hooks:

* Registration hooks hand typed objects to a ``register`` callback. Every implementation is called; names must be
  unique across all plugins (a duplicate is an error naming both plugins' distributions).
* Lifecycle hooks observe a run without touching the training loop. They are called in rank 0 of a run (the process
  that writes the event log), in registration order; return values are ignored. An exception in an observer
  never fails the run: a run's status is decided from evidence about training, and a monitor that raises is evidence
  that the monitor broke, not the training. The failure is recorded instead (an ``observer_error`` event naming the
  plugin, the hook and the error, and the summary's ``observer_errors``), so the record never claims that a broken
  monitor saw the whole run; that observer is not called again in the run, the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from benchbase.contract import Case, Launcher, Vendor

PROJECT = "benchbase"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def benchbase_register_cases(register: Callable[["Case"], None]) -> None:
    """Register benchmark cases.

    Called once when the plugin manager loads. Call ``register(case)`` once per :class:`benchbase.contract.Case`
    instance; the case must set ``name``, ``model``, ``dataset``, ``recipe`` and ``metric``. Keep the call cheap
    (no data or torch work): every command, ``benchbase --help`` included, loads the registry. Return value ignored.
    """


@hookspec
def benchbase_register_vendors(register: Callable[["Vendor"], None]) -> None:
    """Register vendors (kinds of hardware).

    Called once when the plugin manager loads. Call ``register(vendor)`` once per
    :class:`benchbase.contract.Vendor` instance. Return value ignored.
    """


@hookspec
def benchbase_register_launchers(register: Callable[["Launcher"], None]) -> None:
    """Register launchers (ways of starting a run's nodes, chosen with ``benchbase run --launcher NAME``).

    Called once when the plugin manager loads. Call ``register(launcher)`` once per
    :class:`benchbase.contract.Launcher` instance; the core registers ``auto`` and ``slurm`` through this same hook,
    so a new launcher needs no change to the command line. Return value ignored.
    """


@hookspec
def benchbase_run_start(run: Mapping[str, Any]) -> None:
    """A rank-0 worker is about to train.

    ``run`` holds ``run_id``, ``case``, ``preset``, ``vendor``, ``world_size`` and the resolved ``config``.
    """


@hookspec
def benchbase_step(step: int, samples: int, loss: float, samples_per_s: float) -> None:
    """A logged training step finished (every ``log_interval`` steps): cumulative step and samples, the step loss and
    the training throughput since the previous logged step (evaluations and checkpoints in between left out)."""


@hookspec
def benchbase_eval(step: int, samples: int, metric: float, extras: Mapping[str, float]) -> None:
    """An evaluation finished; ``metric`` is the case metric, ``extras`` the case's other per-batch values and the
    evaluation loss, each averaged like the metric (over batches, then ranks)."""


@hookspec
def benchbase_event(event: Mapping[str, Any]) -> None:
    """Any event was written to ``events.jsonl`` (see :mod:`benchbase.record.events` for the fields)."""


@hookspec
def benchbase_run_end(status: str, summary: Mapping[str, Any]) -> None:
    """A rank-0 worker finished training with ``status`` (``converged``, ``not_converged``, ...) and its partial
    summary (windows, throughput, final metric)."""
