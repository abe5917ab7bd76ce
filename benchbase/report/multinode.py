"""Folding the records of a multi-node run into one run.

Every node's supervisor writes its own run directory; a node with ``node_rank > 0`` names the main run
(``node_rank`` 0) in ``main_run_id``. The main record holds the run's status, world size, windows and throughput;
each part adds its own node's telemetry. Power is a per-device mean, so the merged value weights each node by its
device count; peak memory is the worst node's. Energy per sample follows docs/records.md
(mean W x devices x ``train_s`` / samples) and is only stated when every node reported power: extrapolating the
missing nodes would be a guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from benchbase.report.run import Run


def merge_parts(main: Run, parts: Iterable[Run]) -> Run:
    """``main`` with the telemetry of ``parts`` (records of the other nodes of the same run) folded in."""
    nodes = [main, *sorted(parts, key=lambda part: part.node_rank)]
    if main.nnodes <= 1 and len(nodes) == 1:
        return main
    notes = list(main.notes)
    found = {node.node_rank for node in nodes}
    missing = [rank for rank in range(main.nnodes) if rank not in found]
    if missing:
        notes.append(
            f"no record of node(s) {', '.join(map(str, missing))}: power and memory from "
            f"{len(nodes)} of {main.nnodes} nodes"
        )
    powered = [node for node in nodes if node.power_w_per_device is not None]
    power = energy = None
    if powered:
        devices = sum(node.nproc_per_node for node in powered)
        watts = sum(node.power_w_per_device * node.nproc_per_node for node in powered)  # type: ignore[operator]
        power = watts / devices
        if len(powered) < len(nodes):
            notes.append(f"power from {len(powered)} of {len(nodes)} node records; energy per sample not stated")
        elif not missing and main.train_s is not None and main.samples:
            energy = power * main.world_size * main.train_s / main.samples
    memories = [node.peak_memory_gib_per_device for node in nodes if node.peak_memory_gib_per_device is not None]
    return dataclasses.replace(
        main,
        values={
            **main.values,
            "power_w_per_device": power,
            "energy_per_sample_j": energy,
            "peak_memory_gib_per_device": max(memories) if memories else None,
        },
        part_paths=tuple(node.path for node in nodes[1:]),
        notes=tuple(notes),
    )
