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
