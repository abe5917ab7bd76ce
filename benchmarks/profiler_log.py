"""torch.profiler's own messages, kept out of the benchmark's output.

The profiler's C++ side (kineto) writes a line to the process's stderr whenever a profile starts and stops
(``USDT: ... profiler_start``), past Python's ``sys.stderr``; ``make bench``'s output must hold the benchmarks'
figures only. So while a profile runs, file descriptor 2 points at a log file beside the profile table.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: Where the profiler's messages go (relative to the working directory, beside the profile table).
PROFILER_LOG = Path("reports") / "bench" / "profiler.log"


@contextlib.contextmanager
def profiler_messages_to_log(path: Path = PROFILER_LOG) -> Iterator[None]:
    """Send everything written to file descriptor 2 inside the block to ``path`` (appended), then restore it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
