"""The run's processes, listed once for every reader of the supervisor's sampler.

Listing a process's descendants reads the stat file of every process on the host (psutil walks ``/proc``: 1.7 ms
for 85 processes on the 2-core test host, more on a busy server), and three readers each needed the list every two
seconds: the run's resident memory, its CPU time, and the CPU vendor's rank memory. They now share one listing per
root process, so a sampler at 10 Hz walks ``/proc`` once every :data:`PROCESS_REFRESH_S` instead of three times.
"""

from __future__ import annotations

import threading
import time

import psutil

#: How often the list of the run's processes is refreshed; walking the process tree at 10 Hz would cost more than
#: the reading itself.
PROCESS_REFRESH_S = 2.0


class ProcessTree:
    """A root process and its descendants, re-listed when the listing is older than :data:`PROCESS_REFRESH_S`."""

    def __init__(self, root_pid: int) -> None:
        self._root = psutil.Process(root_pid)
        self._processes: list[psutil.Process] = []
        self._listed = float("-inf")
        self._lock = threading.Lock()

    def processes(self, fresh: bool = False) -> list[psutil.Process]:
        """The root, then every descendant; empty when the root can no longer be read. ``fresh`` lists them now,
        for a reader's first call, which must see the processes started since the last listing."""
        with self._lock:
            now = time.monotonic()
            if fresh or now - self._listed > PROCESS_REFRESH_S:
                self._listed = now
                try:
                    self._processes = [self._root, *self._root.children(recursive=True)]
                except psutil.Error:
                    self._processes = []
            return list(self._processes)


_trees: dict[int, ProcessTree] = {}
_trees_lock = threading.Lock()


def process_tree(root_pid: int) -> ProcessTree:
    """The one listing of ``root_pid``'s processes that every reader in this process shares."""
    with _trees_lock:
        tree = _trees.get(root_pid)
        if tree is None:
            tree = _trees[root_pid] = ProcessTree(root_pid)
        return tree
