"""MLPerf result logs from benchbase run records (docs/mlperf.md).

:func:`export_run` turns one run folder into the ``:::MLLOG`` lines MLCommons' ``mlperf-logging`` tools read;
:func:`ruleset_path` is the compliance-checker config the case's plugin ships (through its ``benchbase_mlperf_profile`` hook).
"""

from __future__ import annotations

from benchbase.export.mlperf.export import (
    CHECKER_RULESET,
    ExportOptions,
    checker_command,
    export_run,
    format_lines,
    ruleset_path,
)
from benchbase.export.mlperf.profile import CaseProfile

__all__ = [
    "CHECKER_RULESET",
    "CaseProfile",
    "ExportOptions",
    "checker_command",
    "export_run",
    "format_lines",
    "ruleset_path",
]
