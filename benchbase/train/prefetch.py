"""The input pipeline of the core trainer: the next steps' batches are built while the device trains.

A background thread builds each step's CPU tensors (the dataset's indexing, and pinning where the device is not the
CPU, so the copy to the device can be asynchronous) a few steps ahead, in step order; the training loop takes them
from a bounded queue. The time the loop waits on that queue is the time a step waited for data, which the record
keeps, so a data stall is visible instead of being folded into the step time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from benchbase.contract import Batch, Samples
from benchbase.train.batch_order import TrainOrder

#: Steps built ahead of the one training: enough to hide one slow batch, few enough to bound host memory.
DEPTH = 2
_POLL_S = 0.1


class Prefetcher:
    """Steps ``start, start + 1, ...`` from ``build(step)``, built on a daemon thread ``DEPTH`` steps ahead."""

    def __init__(self, build: Callable[[int], Any], start: int, pin: bool) -> None:
        self._build = build
        self._pin = pin
        self._queue: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(start,), name="benchbase-prefetch", daemon=True)
        self._thread.start()

    def _fill(self, step: int) -> None:
        while not self._stop.is_set():
            try:
                item: tuple[bool, Any] = (True, self._pinned(self._build(step)))
            except BaseException as exc:  # noqa: BLE001 - handed to the training loop, which raises it as its own
                item = (False, exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if not item[0]:
                return
            step += 1

    def _pinned(self, batches: Any) -> Any:
        if not self._pin:
            return batches
        return [{name: tensor.pin_memory() for name, tensor in batch.items()} for batch in batches]

    def next(self) -> tuple[Any, float]:
        """The next step's batches and the seconds the caller waited for them."""
        start = time.perf_counter()
        ok, item = self._queue.get()
        waited = time.perf_counter() - start
        if not ok:
            raise item
        return item, waited

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * _POLL_S)


def to_device(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    """A batch on the device, copied asynchronously (the host batch is pinned where the device is not the CPU)."""
    return {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}


class TrainFeed:
    """This rank's micro-batches of each optimizer step, in the global batch order, built ahead and on the device.

    The position in the stream is the step number alone, so a resume only moves it (:meth:`seek`).
    """

    def __init__(self, samples: Samples, order: TrainOrder, device: torch.device) -> None:
        self.samples = samples
        self.order = order
        self.device = device
        self._step = 0
        self._prefetch: Prefetcher | None = None
        #: Seconds the loop waited for the input pipeline since the loop last took them (:meth:`take_wait_s`).
        self._wait_s = 0.0

    def _cpu_batches(self, step: int) -> list[Batch]:
        return [self.samples.train_batch(part) for part in self.order.rank_indices(step)]

    def next(self) -> list[dict[str, torch.Tensor]]:
        """The next optimizer step's micro-batches, on the device."""
        if self._prefetch is None:
            self._prefetch = Prefetcher(self._cpu_batches, self._step, pin=self.device.type != "cpu")
        batches, waited = self._prefetch.next()
        self._wait_s += waited
        self._step += 1
        return [to_device(batch, self.device) for batch in batches]

    def take_wait_s(self) -> float:
        """The data wait since the last call, handed to the loop's windows at each of its sync points."""
        waited, self._wait_s = self._wait_s, 0.0
        return waited

    def seek(self, step: int) -> None:
        """Continue the stream at ``step`` (after a resume); batches built ahead for other steps are dropped."""
        self._step = step
        self.close()

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None
