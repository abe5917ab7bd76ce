"""The timing windows of docs/records.md ("Timing windows"), each closed after a device synchronise.

The windows are the definitions behind every throughput figure, so they live in one small object the worker drives
and a checkpoint carries across a resume (cumulative, so a resumed run reports the whole training, not a slice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Windows:
    """Seconds spent in each window; ``eval_intervals_ms`` lets the summary cut telemetry to the train window."""

    init_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    core_s: float = 0.0
    whole_s: float = 0.0
    checkpoint_s: float = 0.0
    #: Seconds the loop waited for the input pipeline inside the train window (a data stall shows here).
    data_wait_s: float = 0.0
    #: CPU seconds rank 0 spent writing events and calling observers: the harness's share inside the rank.
    events_cpu_s: float = 0.0
    train_start_ms: float | None = None
    train_end_ms: float | None = None
    eval_intervals_ms: list[list[float]] = field(default_factory=list)

    def to_event(self) -> tuple[dict[str, float], dict[str, Any]]:
        """(value, metadata) of the ``windows`` event."""
        value = {k: round(v, 6) for k, v in asdict(self).items() if k.endswith("_s")}
        meta = {
            "train_start_ms": self.train_start_ms,
            "train_end_ms": self.train_end_ms,
            "eval_intervals_ms": self.eval_intervals_ms,
        }
        return value, meta

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Windows:
        return cls(**state)


class Stopwatch:
    """Wall-clock timer whose stops wait for the device first, so queued kernels are never missed. The loop reads it
    only where a window opens or closes; per-step core time comes from the vendor's step timer instead."""

    def __init__(self, synchronize: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> None:
        self._sync = synchronize
        self._clock = clock

    def now(self) -> float:
        """Synchronise, then read the clock."""
        self._sync()
        return self._clock()

    def clock(self) -> float:
        """Read the clock without synchronising: only right after :meth:`now`, with nothing queued since."""
        return self._clock()
