"""The timing windows of docs/records.md ("Timing windows"), each closed after a device synchronise.

The windows are the definitions behind every throughput figure, so they live in one small object the worker drives
and a checkpoint carries across a resume (cumulative, so a resumed run reports the whole training, not a slice).
:class:`Attempt` splits one attempt's train window into its warm-up and its steady part, so that compilation and
the other one-time costs of the first steps are recorded as their own window instead of inside ``p_train``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Windows:
    """Seconds spent in each window; the wall-clock intervals let the summary cut telemetry to the steady window."""

    init_s: float = 0.0
    #: The steady train time: ``whole_s`` less evaluations, checkpoints and every attempt's warm-up.
    train_s: float = 0.0
    eval_s: float = 0.0
    #: Core time of the steady steps only: the warm-up's is left out as its samples are.
    core_s: float = 0.0
    whole_s: float = 0.0
    checkpoint_s: float = 0.0
    #: Seconds the loop waited for the input pipeline inside the steady window (a data stall shows here).
    data_wait_s: float = 0.0
    #: CPU seconds rank 0 spent writing events and calling observers: the harness's share inside the rank.
    events_cpu_s: float = 0.0
    #: Wall seconds of the warm-ups of all attempts, their evaluations and checkpoints left out.
    warmup_s: float = 0.0
    #: Samples trained inside the warm-ups of all attempts: ``p_train`` counts the others.
    warmup_samples: int = 0
    #: The declared warm-up of each attempt, in optimizer steps (the ``warmup_steps`` key).
    warmup_steps: int = 0
    #: This attempt's train window (a resumed run's earlier attempts are in ``previous_attempts_ms``).
    train_start_ms: float | None = None
    train_end_ms: float | None = None
    eval_intervals_ms: list[list[float]] = field(default_factory=list)
    warmup_intervals_ms: list[list[float]] = field(default_factory=list)
    #: The train spans of the attempts before this one, each ending at the checkpoint this one resumed from: what
    #: those attempts trained after that checkpoint is done again here and counts only once.
    previous_attempts_ms: list[list[float]] = field(default_factory=list)

    def to_event(self) -> tuple[dict[str, float], dict[str, Any]]:
        """(value, metadata) of the ``windows`` event."""
        value = {k: round(v, 6) for k, v in asdict(self).items() if k.endswith("_s")}
        meta = {
            "train_start_ms": self.train_start_ms,
            "train_end_ms": self.train_end_ms,
            "eval_intervals_ms": self.eval_intervals_ms,
            "warmup_samples": self.warmup_samples,
            "warmup_steps": self.warmup_steps,
            "warmup_intervals_ms": self.warmup_intervals_ms,
            "attempts_ms": [*self.previous_attempts_ms, [self.train_start_ms, self.train_end_ms]],
        }
        return value, meta

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Windows:
        """The windows a checkpoint carries. One written before warm-ups were split off kept no steady train time
        (it was derived at the end): its attempt's training counts as steady, the only reading it allows."""
        windows = cls(**state)
        if "previous_attempts_ms" not in state:
            windows.train_s = max(windows.whole_s - windows.excluded_s(), 0.0)
        return windows

    def excluded_s(self) -> float:
        """The time no train window holds: evaluations and checkpoints."""
        return self.eval_s + self.checkpoint_s


class Attempt:
    """One attempt's train window, split at the end of its warm-up.

    Each boundary is a time the loop read right after a device synchronise (``now``) with the wall clock beside it
    (``now_ms``, for the intervals telemetry is cut by). Evaluations and checkpoints inside either part are counted
    in their own windows and subtracted here, so warm-up, steady training, evaluation and checkpoints add up to the
    attempt's whole window.
    """

    def __init__(self, windows: Windows, now: float, now_ms: float, samples: int) -> None:
        self.windows = windows
        self.start, self.start_ms, self.start_samples = now, now_ms, samples
        self._excluded_at_start = windows.excluded_s()
        self._steady_start: float | None = None
        self._excluded_at_steady_start = 0.0
        windows.train_start_ms = now_ms

    @property
    def warming_up(self) -> bool:
        return self._steady_start is None

    def end_warmup(self, now: float, now_ms: float, samples: int) -> None:
        """The warm-up's last step has finished: what follows is steady training."""
        self._add_warmup(self.windows, now, now_ms, samples)
        self._steady_start = now
        self._excluded_at_steady_start = self.windows.excluded_s()

    def close(self, now: float, now_ms: float, samples: int) -> None:
        """Add the attempt to the windows; a budget spent inside the warm-up leaves it no steady time at all."""
        self._fold(self.windows, now, now_ms, samples)
        self.windows.train_end_ms = now_ms

    def snapshot(self, now: float, now_ms: float, samples: int) -> Windows:
        """The windows as if the attempt ended now, for a checkpoint: an attempt resumed from it ends here."""
        windows = copy.deepcopy(self.windows)
        self._fold(windows, now, now_ms, samples)
        windows.previous_attempts_ms.append([self.start_ms, now_ms])
        windows.train_start_ms = windows.train_end_ms = None
        return windows

    def _fold(self, windows: Windows, now: float, now_ms: float, samples: int) -> None:
        windows.whole_s += now - self.start
        if self._steady_start is None:
            self._add_warmup(windows, now, now_ms, samples)
        else:
            steady = now - self._steady_start - (windows.excluded_s() - self._excluded_at_steady_start)
            windows.train_s += max(steady, 0.0)

    def _add_warmup(self, windows: Windows, now: float, now_ms: float, samples: int) -> None:
        windows.warmup_s += max(now - self.start - (windows.excluded_s() - self._excluded_at_start), 0.0)
        windows.warmup_samples += samples - self.start_samples
        windows.warmup_intervals_ms.append([self.start_ms, now_ms])


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
