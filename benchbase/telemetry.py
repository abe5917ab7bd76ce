"""The sampler that drives a vendor's sensors during a run.

It runs as a thread of the supervisor (``benchbase run``), not inside the ranks, so sampling never competes with the
training step for the GIL. Each row is flushed as it is written: telemetry up to a crash or a SIGKILL survives.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil

from benchbase.contract import SensorReading, Sensors
from benchbase.telemetry_file import TelemetryWriter

#: How often the list of the run's processes is refreshed; walking the process tree at 10 Hz would cost more than
#: the reading itself.
PROCESS_REFRESH_S = 2.0


class ProcessTreeMemory:
    """Resident memory of a process and all its descendants (the supervisor's launcher and every rank)."""

    def __init__(self, root_pid: int) -> None:
        self._root = psutil.Process(root_pid)
        self._procs: list[psutil.Process] = []
        self._refreshed = 0.0

    def gib(self) -> float | None:
        now = time.monotonic()
        if now - self._refreshed > PROCESS_REFRESH_S:
            try:
                self._procs = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                self._procs = []
            self._refreshed = now
        total = 0
        for proc in self._procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total / 2**30 if total else None


class Sampler(threading.Thread):
    """Poll ``sensors`` every ``interval_s`` seconds into ``telemetry.csv`` until stopped.

    An interval of 0 means telemetry is off: :meth:`begin` starts no thread, so nothing is sampled, and
    ``telemetry.csv`` holds its header only (the record keeps its five files; the report says there are no readings).
    """

    def __init__(
        self,
        path: Path,
        node: int,
        sensors: Sensors | None,
        interval_s: float,
        devices: list[int],
        root_pid: int | None = None,
    ) -> None:
        super().__init__(name="benchbase-telemetry", daemon=True)
        self._writer = TelemetryWriter(path, node)
        self._sensors = sensors
        self._interval = interval_s
        self._devices = devices
        self._memory = ProcessTreeMemory(root_pid) if root_pid else None
        self._halt = threading.Event()
        self.rows_written = 0
        self.errors: list[str] = []

    def sample_once(self) -> None:
        rss = self._memory.gib() if self._memory else None
        # A vendor without sensors still gets one row per device, so the run's own memory (rss) is recorded.
        readings = self._sensors.read() if self._sensors else [SensorReading(device=d) for d in self._devices]
        self._writer.write(readings, rss, time.time() * 1000)
        self.rows_written += len(readings)

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self._halt.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # noqa: BLE001 - a flaky sensor must not end the run; the error is recorded
                if len(self.errors) < 10:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            next_tick += self._interval
            self._halt.wait(max(0.0, next_tick - time.monotonic()))

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def begin(self) -> None:
        """Start sampling, unless telemetry is off."""
        if self.enabled:
            self.start()

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=5)
        self._writer.close()
        if self._sensors is not None:
            self._sensors.close()
