"""What one ``benchbase run`` asks of a node (:class:`RunRequest`) and what it got (:class:`RunOutcome`), and where
runs and prepared data go when the command line does not say."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.config.resolve import ResolvedConfig
from benchbase.contract import Case, Vendor

DEFAULT_OUT = Path("reports") / "runs"


def default_cache_dir() -> Path:
    """Prepared data lives outside the repo and the run directories, so every run of the same inputs shares it."""
    env = os.environ.get("BENCHBASE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "benchbase"


@dataclass
class RunRequest:
    """Everything ``benchbase run`` decided before starting processes."""

    case: Case
    vendor: Vendor
    resolved: ResolvedConfig
    nnodes: int
    nproc_per_node: int
    out_root: Path
    cache_dir: Path
    data_dir: Path | None = None
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    sysfs_root: Path = Path("/sys")
    repeat_group: str | None = None
    repeat_index: int = 0
    resume_dir: Path | None = None
    #: ``--timeout`` as given to this command: on ``--resume`` it bounds the new attempt (the record's own
    #: ``timeout_s`` otherwise); ``None`` when not given.
    timeout_s: float | None = None
    extra_record: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.resolved.values)


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    exit_code: int
    summary: dict[str, Any]
