"""Counts a ``benchbase`` worker's device synchronisations (benchmark 6), loaded through ``PYTHONPATH``.

Python imports ``sitecustomize`` at start-up from the first folder on its path that has one. The GPU benchmark puts
this folder on ``PYTHONPATH`` of an unrecorded ``benchbase run`` with ``BENCHBASE_BENCH_SYNC_PROBE`` naming a file.
In every other process (the ``benchbase`` supervisor, a tokenizer worker) it does nothing but hand over to the
``sitecustomize`` it shadows, if any. In the worker (``python -m benchbase.train.worker``) it registers
:class:`SyncCounter` (``benchmarks/syncs.py``, loaded by path) with torch's GPU trace from the first moment, and
writes every counted sync with its time to the file when the worker exits; the benchmark then keeps those inside
the run's training loop.
"""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _probe() -> None:
    target = os.environ.get("BENCHBASE_BENCH_SYNC_PROBE")
    if not target or "benchbase.train.worker" not in getattr(sys, "orig_argv", []):
        return
    spec = importlib.util.spec_from_file_location("_benchbase_bench_syncs", _HERE.parent / "syncs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    counter = module.SyncCounter()
    counter.install()
    counter.active = True

    def write() -> None:
        Path(target).write_text(json.dumps({**counter.record(), "pid": os.getpid()}), encoding="utf-8")

    atexit.register(write)


def _chain() -> None:
    """Run the ``sitecustomize`` this one shadows (a distribution's own), as if this folder were not on the path."""
    rest = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_probe()
_chain()
