"""The hook a case's plugin implements to have its runs exported as MLPerf result logs.

The exporter declares it, not the contract: the contract is what every case and vendor must know, and a case that
is never exported to MLPerf needs to know nothing of MLPerf. benchbase-core names this module under the entry-point
group ``benchbase.hookspecs``; the registry adds every hook declared there before it registers any plugin, so a
plugin implementing this hook is checked like one implementing a contract hook (a misspelt name is refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchbase.contract.hookspecs import hookspec

if TYPE_CHECKING:
    from benchbase.export.mlperf.profile import CaseProfile


@hookspec(firstresult=True)
def benchbase_mlperf_profile(case: str) -> CaseProfile | None:
    """How ``benchbase export mlperf`` maps runs of the case named ``case`` to an MLPerf result log: its benchmark
    names, its ruleset and which config keys are its optimizer settings (:class:`benchbase.kit.CaseProfile`).

    Return ``None`` for a case your plugin does not provide; the first profile returned is used, and a case no
    plugin returns one for is not exported.
    """
