"""The per-step core window on a CUDA-like device, timed by device events instead of host synchronisation."""

from __future__ import annotations

import torch

from benchbase.contract import StepTimer


class CudaEventTimer(StepTimer):
    """Records a pair of CUDA events around each step and reads their elapsed times only when collected.

    ``torch.cuda.Event.elapsed_time`` is the device's own measure of the work queued between the two events, so the
    host never waits inside the loop; the events of a log interval are read together after the loop has
    synchronised for its log point, when every one of them has completed.
    """

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self._device = device
        self._pairs: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._open: torch.cuda.Event | None = None

    def start(self) -> None:
        self._open = torch.cuda.Event(enable_timing=True)
        self._open.record(torch.cuda.current_stream(self._device))

    def stop(self) -> None:
        end = torch.cuda.Event(enable_timing=True)
        end.record(torch.cuda.current_stream(self._device))
        if self._open is not None:
            self._pairs.append((self._open, end))
            self._open = None

    def collect(self) -> float:
        milliseconds = sum(start.elapsed_time(end) for start, end in self._pairs)
        self._pairs.clear()
        return milliseconds / 1000.0
