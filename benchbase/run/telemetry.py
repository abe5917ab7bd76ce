"""The sampler that drives a vendor's sensors during a run.

It runs as a thread of the supervisor (``benchbase run``), not inside the ranks, so sampling never competes with the
training step for the GIL. Each row is flushed as it is written: telemetry up to a crash or a SIGKILL survives.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import psutil

from benchbase.contract import SensorReading, Sensors
from benchbase.errors import MAX_PROBLEM_CHARS, one_line
from benchbase.launch.plan import WORKER_MODULE
from benchbase.record.cpu_load_file import HEADER, cpu_load_row
from benchbase.record.disk_space import RecordUnwritable, unwritable
from benchbase.record.files import open_record_for_append
from benchbase.record.schema import CPU_LOAD_FILE
from benchbase.record.telemetry_file import TelemetryWriter
from benchbase.registry import bounded, checked
from benchbase.run.process_tree import PROCESS_REFRESH_S, process_tree

class ProcessTreeMemory:
    """Resident memory of a process and all its descendants (the supervisor's launcher and every rank)."""

    def __init__(self, root_pid: int) -> None:
        self._tree = process_tree(root_pid)
        self._listed = False

    def gib(self) -> float | None:
        total = 0
        for proc in self._tree.processes(fresh=not self._listed):
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        self._listed = True
        return total / 2**30 if total else None


class RankMemory:
    """Resident memory of each of the run's ranks: the processes below ``root_pid`` that run the worker module.

    On the CPU the "device" is the host, and the memory a rank uses is its own resident set (the report's memory
    figure is each rank's peak resident set). The host's used memory would count the OS, other jobs and the
    supervisor, so the telemetry of such a device reads the ranks instead. torchrun's own process names the worker
    only as ``--module benchbase.train.worker``; a rank runs it with ``-m``, which tells the two apart.

    A rank's peak is brief (an evaluation batch's activations), and a sample every second would miss it, leaving
    the plot below the table's figure. So a reading is the rank's resident set, or, when the rank reached a new
    peak since the previous reading (its high-water mark ``VmHWM`` rose), that peak: then the resident set was that
    high in the interval. The plot's highest point is then the rank's peak, the figure the table prints.
    """

    def __init__(self, root_pid: int) -> None:
        self._tree = process_tree(root_pid)
        self._listing: list[psutil.Process] | None = None
        self._ranks: list[psutil.Process] = []
        self._asked = float("-inf")
        #: Each rank's high-water mark at the previous reading, in bytes.
        self._peaks: dict[int, int] = {}

    def _refresh(self) -> None:
        """The ranks among the tree's processes, asked of each process when the listing changed, and again every
        :data:`PROCESS_REFRESH_S` while some listed process is not a rank: a process caught between its fork and
        its exec (or in a wrapper that execs the worker) still shows its parent's command line, and becomes a rank
        under the same pid, so the listing alone does not change when it does."""
        listing = self._tree.processes(fresh=self._listing is None)
        now = time.monotonic()
        undecided = len(listing) - 1 > len(self._ranks) and now - self._asked > PROCESS_REFRESH_S
        if listing != self._listing or undecided:
            self._listing = listing
            self._asked = now
            self._ranks = [process for process in listing[1:] if _runs_worker(process)]

    def largest_gib(self) -> float | None:
        """The largest rank's reading (see the class docstring) in GiB; ``None`` while no rank runs (before launch,
        after the end)."""
        self._refresh()
        sizes = []
        for rank in self._ranks:
            try:
                resident = rank.memory_info().rss
            except psutil.Error:
                continue
            peak = _high_water_mark(rank.pid)
            if peak is not None and peak > self._peaks.get(rank.pid, 0):
                self._peaks[rank.pid] = peak
                resident = max(resident, peak)
            sizes.append(resident)
        return max(sizes) / 2**30 if sizes else None


def _high_water_mark(pid: int) -> int | None:
    """Peak resident set of ``pid`` in bytes (``VmHWM`` of ``/proc/<pid>/status``, the counter ``ru_maxrss``
    reads); ``None`` where there is no such file (not Linux, the process ended)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _runs_worker(process: psutil.Process) -> bool:
    try:
        argv = process.cmdline()
    except psutil.Error:
        return False
    return any(flag == "-m" and module == WORKER_MODULE for flag, module in zip(argv, argv[1:]))


#: Fields of ``psutil.cpu_times()`` that are work done on the host's CPUs (``guest`` is already inside ``user``).
_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


class CpuLoad:
    """Writes, per sample, how much CPU time the host has spent and how much of it the run's own processes did.

    A scale point measured while another job shared the CPUs says nothing about the hardware (the issue's 3.47 under
    load against 0.49 on a quiet machine). The run's processes are the supervisor and all its descendants; one that
    ends keeps the CPU time last read for it, so a rank that exits is not counted as someone else's work.
    """

    def __init__(self, root_pid: int, path: Path) -> None:
        self._tree = process_tree(root_pid)
        self._processes: dict[int, psutil.Process] = {}
        self._spent: dict[int, float] = {}
        self._listed = False
        self._path = path
        fd = open_record_for_append(path)  # the record layer's open: no symlink, no other names
        fresh = os.fstat(fd).st_size == 0
        self._handle = os.fdopen(fd, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        if fresh:
            self._write(HEADER)

    def sample(self, time_ms: float) -> None:
        for process in self._tree.processes(fresh=not self._listed):
            self._processes.setdefault(process.pid, process)
        self._listed = True
        for pid, process in list(self._processes.items()):
            try:
                spent = process.cpu_times()
                self._spent[pid] = spent.user + spent.system
            except psutil.Error:
                del self._processes[pid]
        host = psutil.cpu_times()
        busy = sum(getattr(host, name, 0.0) for name in _BUSY_FIELDS)
        # Called on the sampler's thread: its own CPU time, every read of this sample so far included.
        self._write(cpu_load_row(time_ms, busy, sum(self._spent.values()), time.thread_time()))

    def _write(self, text: str) -> None:
        """A line, flushed; a disk that refuses it is named with this file, as the telemetry writer names its own, so
        the run ends with a reason that says which record could not be written."""
        try:
            self._handle.write(text)
            self._handle.flush()
        except OSError as exc:
            raise unwritable(exc, self._path) from None

    def close(self) -> None:
        """Never raises, like the telemetry writer's: every row that could be written was flushed as it came, and a
        disk that refused one already ended the run with its reason (:attr:`Sampler.write_failure`); what close
        would flush again is only that refused row."""
        try:
            self._handle.close()
        except OSError:
            pass


def _next_tick(previous: float, interval: float, now: float) -> float:
    """The first tick of the ``interval`` grid after ``previous`` that is not already past. A read that overran its
    ticks (a sensor taking seconds) skips them: catching up would take a burst of back-to-back samples, all stamped
    within milliseconds, which would weigh the moment after the stall many times in every mean. The record shows
    the stall as a gap between rows instead (the summary's ``telemetry.longest_gap_s``)."""
    tick = previous + interval
    if tick < now:
        tick += math.ceil((now - tick) / interval) * interval
    return tick


class Sampler(threading.Thread):
    """Poll ``sensors`` every ``interval_s`` seconds into ``telemetry.csv`` until stopped.

    An interval of 0 means telemetry is off: :meth:`begin` starts no thread, so nothing is sampled, and
    ``telemetry.csv`` holds its header only (the record keeps its five files; the report says there are no readings).

    A sensor that fails is recorded in :attr:`errors` and sampling goes on; a telemetry file the disk refuses stops
    sampling and is named in :attr:`write_failure`, which the supervisor reads as the end of the run (the record
    cannot take more). ``owner`` is the vendor whose sensors these are, named if closing them hangs.
    """

    def __init__(
        self,
        path: Path,
        node: int,
        sensors: Sensors | None,
        interval_s: float,
        devices: list[int],
        root_pid: int | None = None,
        owner: object | None = None,
    ) -> None:
        super().__init__(name="benchbase-telemetry", daemon=True)
        self._writer = TelemetryWriter(path, node)
        self._sensors = sensors
        self._interval = interval_s
        self._devices = devices
        self._memory = ProcessTreeMemory(root_pid) if root_pid else None
        self._cpu = CpuLoad(root_pid, Path(path).with_name(CPU_LOAD_FILE)) if root_pid and interval_s > 0 else None
        self._halt = threading.Event()
        self.rows_written = 0
        self.errors: list[str] = []
        self.write_failure: str | None = None
        self._owner = owner

    def sample_once(self) -> None:
        rss = self._memory.gib() if self._memory else None
        # A vendor without sensors still gets one row per device, so the run's own memory (rss) is recorded.
        if self._sensors:
            # Checked before it is written: a vendor's wrong value is a recorded telemetry error, not a bad row.
            readings = self._sensors.read()
            checked.check(self._owner, "sensors.read()", checked.READINGS, readings)
        else:
            readings = [SensorReading(device=d) for d in self._devices]
        time_ms = time.time() * 1000
        self._writer.write(readings, rss, time_ms)
        self.rows_written += len(readings)
        if self._cpu is not None:
            self._cpu.sample(time_ms)

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self._halt.is_set():
            try:
                self.sample_once()
            except RecordUnwritable as exc:
                self.write_failure = str(exc)
                return
            except BaseException as exc:  # noqa: BLE001 - a flaky sensor (even one calling sys.exit) must not end
                # the run, nor this thread, silently: the error is recorded
                if len(self.errors) < 10:
                    self.errors.append(one_line(bounded.exception_text(exc), MAX_PROBLEM_CHARS))
            next_tick = _next_tick(next_tick, self._interval, time.monotonic())
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
        if self._cpu is not None:
            self._cpu.close()
        sensors, self._sensors = self._sensors, None
        if sensors is None:
            return
        if self.is_alive():
            self.errors.append("the vendor's sensors.read() did not return; the sensors were left open")
        else:
            try:
                bounded.call(self._owner, "sensors.close()", sensors.close)
            except Exception as exc:  # noqa: BLE001 - the record must still be finished; the error is recorded
                self.errors.append(one_line(bounded.exception_text(exc), MAX_PROBLEM_CHARS))
