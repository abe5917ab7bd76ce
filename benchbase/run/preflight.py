"""Everything a run refuses before its record exists, in one place, for the run and for ``--dry-run`` alike.

A refusal that depends only on the request, its config, the plugins and this host (too few devices, a precision the
vendor cannot run, data too small for one batch on every rank, a bad node rank, a full disk, a checkpoint that does
not fit the model) is one line and exit 2 with no run folder made and nothing in ``--out`` touched; found after the
record exists, it would leave a failed record behind that every report then has to skip or warn about. ``--dry-run``
runs these same checks in the same order, so it refuses exactly what the run refuses, with the same line, and shows
the plan only of a request that would start.

The run alone then opens the vendor's sensors, also before its record exists (:mod:`benchbase.run.supervisor`): a
dry run holds no device resources. The other difference: a dry run on a machine where the vendor finds no device at all (a login node, a laptop) plans
for a machine that has them. It then checks everything that does not depend on the devices or data of this machine,
and says which refusal a run here would give instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy
from benchbase.errors import BenchbaseError
from benchbase.launch.plan import LaunchPlan, plan_launch
from benchbase.record import disk_space
from benchbase.record.rundir import RunDir
from benchbase.registry import checked
from benchbase.run.devices import assign_devices, bindings_for, discovered_devices, fitted_bindings
from benchbase.run.environment import environment_record
from benchbase.run.memory_estimate import MemoryEstimate, check_fits, plan_memory
from benchbase.run.prepare import check_data_dir, check_data_suffices
from benchbase.run.request import RunRequest
from benchbase.run.resume import check_checkpoint_fits, check_resumable

#: ``phase(doing, timeout_fix)``: what the supervisor does now, for the one line of a stop by --timeout meanwhile.
Phase = Callable[..., None]


def plan_for(
    request: RunRequest, run_dir: Path | None, bindings: list[Binding | None], binding_note: str | None
) -> LaunchPlan:
    """How this node launches its ranks (``run_dir`` ``None``: before the record exists, a placeholder)."""
    # A rank reads everything else from the record: its config, and what preparation found (env.json "prepare").
    worker_args = ["--run-dir", str(run_dir or "<run-dir>")]
    if request.resume_dir is not None:
        worker_args += ["--resume"]
    return plan_launch(
        request.nnodes,
        request.nproc_per_node,
        worker_args,
        node_rank=request.node_rank,
        master_addr=request.master_addr,
        master_port=request.master_port,
        bindings=bindings,
        binding_note=binding_note,
    )


@dataclass(frozen=True)
class Cleared:
    """What the checks found, which the run then uses as it is (the run asks no plugin for any of it again)."""

    device_indices: list[int]
    #: Per local rank, the binding as planned (the vendor's reading of the topology) and as fitted to the CPUs this
    #: process may use, with the line saying what fitting changed (``None``: nothing).
    planned_bindings: list[Binding | None]
    bindings: list[Binding | None]
    binding_note: str | None
    precision: PrecisionPolicy
    #: What preparation found (``env.json`` ``prepare``); ``None`` for a dry run planning for another machine.
    prepared: dict[str, Any] | None
    #: The record a ``--resume`` continues, opened and checked; ``None`` for a new run.
    resumed: RunDir | None
    #: ``env.json`` but for the host (:func:`benchbase.run.environment.with_host`), ``prepare`` and the launch plan
    #: with the run folder in it (the vendor's ``environment()`` and ``peak_flops()`` asked here too); ``None`` for a
    #: dry run planning for another machine.
    env: dict[str, Any] | None
    #: Why a run on this machine would refuse where a dry run plans for another one (no device here); else ``None``.
    not_here: str | None = None
    #: The per-device memory estimate (``None`` where the case does not describe its model's memory) and what one
    #: device offers (``None`` where the vendor does not say).
    memory: MemoryEstimate | None = None
    memory_budget_gib: float | None = None


def clear_to_launch(
    request: RunRequest, prepare: Callable[[], dict[str, Any]], phase: Phase, elsewhere_allowed: bool = False
) -> Cleared:
    """Every check of ``request`` before its record exists (see the module docstring), raising the first refusal.

    ``elsewhere_allowed`` (``--dry-run``): where the vendor finds no device here, plan for a machine that has them
    instead of refusing, leaving that machine's devices, data and disk to its own run.
    """
    vendor, nproc = request.vendor, request.nproc_per_node
    phase(f"calling {vendor.name}'s discover()")
    try:
        devices = discovered_devices(vendor)
        not_here = None
    except BenchbaseError as exc:
        if not elsewhere_allowed:
            raise
        devices, not_here = [], str(exc)
    device_indices = assign_devices(vendor, nproc, devices) if devices else list(range(nproc))
    planned = bindings_for(vendor, nproc, device_indices, request.sysfs_root)
    bindings, binding_note = fitted_bindings(planned, request.sysfs_root)
    plan = plan_for(request, None, bindings, binding_note)  # a bad --node-rank or a missing master
    precision = checked.call(vendor, "precision_policy()", checked.PRECISION, vendor.precision_policy,
                             request.resolved.core.precision)
    if not_here is not None:
        memory, budget = memory_fits(request, precision, None, None)
        return Cleared(device_indices, planned, bindings, binding_note, precision, None, None, None, not_here,
                       memory, budget)
    resumed = None
    if request.resume_dir is not None:
        resumed = RunDir.open(request.resume_dir)
        check_resumable(resumed, request.nnodes * nproc)
        disk_space.check_room(resumed.path, "the run to resume", "move it to a disk with room")
    else:
        disk_space.check_room(request.out_root, "--out", "choose another --out")
    check_data_dir(request.case, request.resolved.preset, request.data_dir)
    phase(f"preparing the data of case {request.case.name}",
          "raise --timeout, or prepare the data first with `benchbase prepare` so the run only reads it")
    prepared = prepare()
    check_data_suffices(request.case, request.values, request.resolved.core, prepared,
                        request.nnodes * request.nproc_per_node)
    if resumed is not None:
        # The checkpoint against the model this node's data gives: a refusal leaves the record as it was.
        check_checkpoint_fits(resumed, request.case, vendor, request.resolved.values, prepared)
    memory, budget = memory_fits(request, precision, devices[0], prepared)
    phase(f"asking {vendor.name} for the facts of env.json")
    env = environment_record(request, plan, device_indices, precision)
    # Beside the measured peak in the summary, what the run was cleared with (docs/memory.md).
    env["memory_estimate"] = {**memory.describe(), "device_gib": budget} if memory is not None else None
    return Cleared(device_indices, planned, bindings, binding_note, precision, prepared, resumed, env, None,
                   memory, budget)


def memory_fits(
    request: RunRequest, precision: PrecisionPolicy, device: DeviceInfo | None, prepared: dict[str, Any] | None
) -> tuple[MemoryEstimate | None, float | None]:
    """The per-device memory estimate and the device's memory (``device`` ``None``: the vendor's default model,
    planned for elsewhere), refusing a configuration that cannot fit (:mod:`benchbase.run.memory_estimate`)."""
    vendor = request.vendor
    ranks_per_device = request.nproc_per_node if vendor.ranks_share_devices else 1
    memory = plan_memory(request.case, request.values, prepared, request.resolved.core, precision,
                         request.nnodes * request.nproc_per_node, ranks_per_device)
    budget = checked.call(vendor, "memory_budget_gib()", checked.MEMORY_GIB, vendor.memory_budget_gib, device)
    if device is not None:
        check_fits(memory, budget, device.model)
    else:
        check_fits(memory, budget, checked.call(vendor, "device_model()", checked.DEVICE_MODEL, vendor.device_model))
    return memory, budget


def prepare_in_cache(prepare: Callable[[], dict[str, Any]], cache_dir: Path) -> dict[str, Any]:
    """The case's preparation, a disk that refuses its cache named in one line (the cache writes atomically, so
    what it held before is intact)."""
    try:
        return prepare()
    except OSError as exc:
        # A write that the disk cut short names no file; the cache folder is then the place to look.
        raise disk_space.unwritable(
            exc, exc.filename or cache_dir, "free space there, or point --cache-dir at another disk"
        ) from None
