"""MLPerf result logs from benchbase run records (docs/mlperf.md).

:func:`export_run` turns one run folder into the ``:::MLLOG`` lines MLCommons' ``mlperf-logging`` tools read;
:func:`ruleset_path` is the compliance-checker config the case's plugin ships (through its ``benchbase_mlperf_profile`` hook).

The names below are imported when first asked for: a case plugin imports :mod:`benchbase.export.mlperf.profile`
(through :mod:`benchbase.kit`) when it registers, which runs this package first, and every command registers every
plugin; the exporter itself (and what it imports) is for ``benchbase export mlperf`` alone (issue 22).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """Each name of :data:`__all__` from its home module, imported on first use."""
    if name == "CaseProfile":
        from benchbase.export.mlperf import profile

        return profile.CaseProfile
    if name in __all__:
        from benchbase.export.mlperf import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
