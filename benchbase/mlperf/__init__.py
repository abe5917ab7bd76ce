"""MLPerf result logs from benchbase run records (docs/mlperf.md).

:func:`export_run` turns one run folder into the ``:::MLLOG`` lines MLCommons' ``mlperf-logging`` tools read;
:func:`ruleset_path` is the compliance-checker config shipped for a case (``rules/<case>.yaml``, package data).
"""

from __future__ import annotations

from benchbase.mlperf.export import (
    CHECKER_RULESET,
    PROFILES,
    CaseProfile,
    ExportOptions,
    checker_command,
    export_run,
    format_lines,
    ruleset_path,
)

__all__ = [
    "CHECKER_RULESET",
    "PROFILES",
    "CaseProfile",
    "ExportOptions",
    "checker_command",
    "export_run",
    "format_lines",
    "ruleset_path",
]
