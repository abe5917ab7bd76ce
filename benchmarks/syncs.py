"""Counting the host's waits for the device, by torch's own account.

PyTorch reports every synchronisation it performs on a CUDA device to its GPU trace (the hooks the CUDA sanitizer
uses, ``torch.cuda._gpu_trace``), by kind:

* ``device``: ``torch.cuda.synchronize`` (``cudaDeviceSynchronize``);
* ``stream``: ``Stream.synchronize`` and every blocking copy between host and device, which waits for the stream:
  ``.item()``, ``.cpu()``, ``.tolist()``, a copy from pageable host memory without ``non_blocking``;
* ``event``: ``Event.synchronize``.

Not counted, because torch does not issue them as synchronisations: the implicit device-wide waits of
``cudaMalloc``/``cudaFree`` (the caching allocator calls them only while its pool grows, in the first steps) and of
pinned host allocations, and any synchronisation inside another library (NCCL, a vendor's fused kernels).

Activating the trace makes every caching-allocator call report to Python too, which costs time: a counting run is
therefore never a timed one (the benchmarks count in their unrecorded warm-up pair). On a machine without CUDA the
trace never fires; :meth:`SyncCounter.hit` lets tests stand in for the device.

This file is also loaded by path, without the ``benchmarks`` package, by ``sync_probe/sitecustomize.py`` inside a
``benchbase`` worker, so it imports nothing from the project.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

KINDS = ("device", "stream", "event")
#: The variable naming the file a probed ``benchbase`` worker writes its counts to (see ``sync_probe``).
PROBE_ENV = "BENCHBASE_BENCH_SYNC_PROBE"
#: The folder to put on ``PYTHONPATH`` so that a ``benchbase`` worker loads the probe.
PROBE_DIR = Path(__file__).resolve().parent / "sync_probe"


class SyncCounter:
    """Counts synchronisations by kind while :attr:`active`, each with its wall-clock time in ms."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.active = False
        self.installed = False
        self.stamps: list[tuple[str, float]] = []

    def hit(self, kind: str) -> None:
        if self.active:
            self.stamps.append((kind, self._clock() * 1000.0))

    @property
    def counts(self) -> dict[str, int]:
        return counts_of(kind for kind, _ in self.stamps)

    def install(self) -> bool:
        """Register with torch's GPU trace, activating it for this process; ``False`` (and nothing is counted) where
        this torch has none."""
        try:
            import torch
            import torch.cuda._gpu_trace as trace
        except ImportError:
            return False
        activate = getattr(torch._C, "_activate_gpu_trace", None)
        if activate is None:
            return False
        activate()
        trace.register_callback_for_device_synchronization(lambda: self.hit("device"))
        trace.register_callback_for_stream_synchronization(lambda _stream: self.hit("stream"))
        trace.register_callback_for_event_synchronization(lambda _event: self.hit("event"))
        self.installed = True
        return True

    def record(self) -> dict[str, Any]:
        """What a probed process writes: whether the trace was on, and every counted sync with its time."""
        return {"installed": self.installed, "stamps": [[kind, ms] for kind, ms in self.stamps]}


def counts_of(kinds: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def syncs_in_train_loop(stamps: Sequence[Sequence[Any]], windows: Mapping[str, Any]) -> dict[str, int]:
    """The syncs of a ``benchbase`` run's training loop: inside its train window (the ``windows`` event's
    ``train_start_ms`` .. ``train_end_ms``) and outside every evaluation (``eval_intervals_ms``)."""
    start, end = float(windows["train_start_ms"]), float(windows["train_end_ms"])
    evaluations = [(float(a), float(b)) for a, b in windows.get("eval_intervals_ms") or []]
    return counts_of(
        str(kind) for kind, ms in stamps
        if start <= float(ms) <= end and not any(a <= float(ms) <= b for a, b in evaluations)
    )


def read_probe(path: Path) -> dict[str, Any] | None:
    """The record a probed worker left at ``path``, or ``None`` when it left none."""
    try:
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def per_step_text(counts: Mapping[str, int], steps: int) -> str:
    """``0.12 per step (device 11, stream 1, event 0 in 100 steps)``."""
    total = sum(counts.values())
    detail = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS)
    return f"{total / steps:.3f} per step ({detail} in {steps} steps)"
