"""``benchbase report`` pauses the cyclic garbage collector while it builds the report, and gives it back as it
found it, whether the report succeeded or not (an in-process caller, such as a test or a notebook, keeps its own
setting)."""

from __future__ import annotations

import gc
from pathlib import Path

from click.testing import CliRunner

from benchbase.cli.report import report_command


def test_the_collector_is_enabled_again_after_a_report_and_after_a_failed_one(tmp_path: Path) -> None:
    assert gc.isenabled()
    assert CliRunner().invoke(report_command, [str(tmp_path), "--format", "md"]).exit_code == 0
    assert gc.isenabled()
    failed = CliRunner().invoke(report_command, [str(tmp_path / "missing"), "--format", "md"])
    assert failed.exit_code != 0 and gc.isenabled()


def test_a_caller_that_had_it_off_finds_it_off(tmp_path: Path) -> None:
    gc.disable()
    try:
        assert CliRunner().invoke(report_command, [str(tmp_path), "--format", "md"]).exit_code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
