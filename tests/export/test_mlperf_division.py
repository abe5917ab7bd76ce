"""Which MLPerf division a record may claim (benchbase/export/mlperf/division.py): closed only for an official run of
the case's official configuration on a quiet host, open for a demo, an unofficial or a contended run, and ``--division closed`` for any other
refused in one line that says why."""

from __future__ import annotations

import pytest

from benchbase.errors import BenchbaseError
from benchbase.export.mlperf.division import division_for

OFFICIAL = {"official": True, "preset": "official"}
DEMO = {"official": True, "preset": "demo"}
UNOFFICIAL = {"official": False, "preset": "official"}
CONTENDED = {"official": True, "preset": "official", "host": {"contended": True, "oversubscribed": False}}
OVERSUBSCRIBED = {"official": True, "preset": "official", "host": {"contended": False, "oversubscribed": True}}
CHANGED = {"unofficial_changes": ["seq_length: 200 -> 64"]}


@pytest.mark.parametrize(("summary", "division"), [
    (OFFICIAL, "closed"), (DEMO, "open"), (UNOFFICIAL, "open"), (CONTENDED, "open"), (OVERSUBSCRIBED, "open"),
])
def test_without_division_an_official_run_of_the_official_preset_is_closed_and_every_other_open(
    summary: dict, division: str
) -> None:
    assert division_for(None, summary, CHANGED, "official", "run") == division


@pytest.mark.parametrize(("summary", "why"), [
    (DEMO, "run ran preset 'demo', not the case's official configuration (preset 'official')"),
    (UNOFFICIAL, "run is unofficial (changed: seq_length: 200 -> 64)"),
    (CONTENDED, "run was measured on a contended or oversubscribed host (summary.json host), no clean result"),
])
def test_closed_is_refused_for_a_demo_an_unofficial_run_and_one_from_a_contended_host(summary: dict, why: str) -> None:
    with pytest.raises(BenchbaseError) as refused:
        division_for("closed", summary, CHANGED, "official", "run")
    assert str(refused.value) == f"{why}, so it cannot be a closed-division result; export it with --division open"


def test_open_may_be_asked_for_any_run_and_an_unknown_division_is_refused() -> None:
    assert division_for("open", OFFICIAL, {}, "official", "run") == "open"
    with pytest.raises(BenchbaseError, match="unknown division 'semi'"):
        division_for("semi", OFFICIAL, {}, "official", "run")
