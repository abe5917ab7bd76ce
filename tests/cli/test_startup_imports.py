"""Commands that neither train nor prepare start without importing torch (issue 22, point 3).

Importing torch takes 1.5-3 s; ``benchbase list``, ``plugins``, ``env``, a ``--dry-run`` over cached data and
``export mlperf`` need none of it, and every installed plugin registers for each of them. Each test runs the real
command line in a fresh interpreter that then reports which of the heavy modules it imported; how long the commands
take is measured in ``benchmarks/startup.py``, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHORT, benchbase_env, run_benchbase

#: Modules no such command may import: torch itself, and the plugin modules that hold a case's or a vendor's torch
#: code (a plugin importing one of them at registration would bring torch back).
HEAVY = ("torch", "benchbase_cpm.model", "benchbase_cpm.samples", "benchbase_cpm.optimizer",
         "benchbase_cpm.metric_sums", "benchbase_cpm.loss", "benchbase.train.engine")
#: What checking cached data needs none of: the arrays' headers are read without NumPy, jieba segments nothing, and
#: no tokenizer pool starts (together most of a dry run's start-up).
BUILDING_ONLY = ("numpy", "jieba", "concurrent.futures.process")

#: Each verb's own module, and the MLPerf exporter (``export`` alone reads a record to write a result log).
VERB_MODULES = ("benchbase.cli.list", "benchbase.cli.plugins", "benchbase.cli.env", "benchbase.cli.prepare",
                "benchbase.cli.run", "benchbase.cli.report", "benchbase.cli.verify", "benchbase.cli.export",
                "benchbase.export.mlperf.export")

#: Runs the ``benchbase`` command line with the given arguments, then prints, last, the exit code and which of
#: :data:`HEAVY` are in ``sys.modules``.
PROBE = """
import json, sys
from benchbase.cli import main
sys.argv = ["benchbase", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code or 0
heavy = json.loads(sys.stdin.read())
print(json.dumps({"exit": code, "imported": [name for name in heavy if name in sys.modules]}))
"""


def imported_by(args: list[str], cache_dir: Path, cwd: Path, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of ``modules`` the command ``benchbase ARGS`` imported; it must have succeeded."""
    result = subprocess.run([sys.executable, "-c", PROBE, *args], input=json.dumps(modules), cwd=cwd,
                            env=benchbase_env(cache_dir), capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0, result.stdout + result.stderr
    return report["imported"]


@pytest.mark.parametrize("args", [["list"], ["plugins"], ["env"], ["env", "--vendor", "cpu"]], ids=" ".join)
def test_listing_and_describing_import_no_torch(args: list[str], cache_dir: Path, tmp_path: Path) -> None:
    assert imported_by(args, cache_dir, tmp_path) == []


def test_a_dry_run_over_cached_data_imports_no_torch(cache_dir: Path, tmp_path: Path) -> None:
    prepared = run_benchbase(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert imported_by(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path) == []
    assert imported_by(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run"], cache_dir, tmp_path) == []


def test_the_dry_run_of_cpm_large_on_eight_bi_v100_imports_no_torch(cache_dir: Path, tmp_path: Path) -> None:
    args = ["run", "cpm", "--preset", "large", "--vendor", "iluvatar", "--config", "1x8", "--dry-run"]
    assert imported_by(args, cache_dir, tmp_path) == []


def test_checking_cached_data_imports_nothing_that_builds_it(cache_dir: Path, tmp_path: Path) -> None:
    prepared = run_benchbase(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    dry_run = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run"]
    assert imported_by(dry_run, cache_dir, tmp_path, BUILDING_ONLY) == []
    assert imported_by(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path, BUILDING_ONLY) == []


def test_exporting_a_real_record_imports_no_torch(cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    trained = run_benchbase(["run", "cpm", "--vendor", "cpu", *SHORT, "--out", str(out)], cache_dir, tmp_path)
    assert trained.returncode == 3, trained.stdout + trained.stderr  # the 12-step budget ends it before the target
    (run,) = out.iterdir()
    exported = tmp_path / "result.txt"
    assert imported_by(["export", "mlperf", str(run), "--output", str(exported)], cache_dir, tmp_path) == []
    assert ":::MLLOG" in exported.read_text()


@pytest.mark.parametrize(("args", "own"), [
    (["list"], ["benchbase.cli.list"]),
    (["plugins"], ["benchbase.cli.plugins"]),
    (["env", "--vendor", "cpu"], ["benchbase.cli.env"]),
    (["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run"], ["benchbase.cli.run"]),
], ids=["list", "plugins", "env", "dry-run"])
def test_a_verb_imports_its_own_module_and_no_other_verbs(args: list[str], own: list[str], cache_dir: Path,
                                                          tmp_path: Path) -> None:
    if args[0] == "run":
        prepared = run_benchbase(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert imported_by(args, cache_dir, tmp_path, VERB_MODULES) == own


def test_help_still_lists_every_verb_with_its_summary(cache_dir: Path, tmp_path: Path) -> None:
    result = run_benchbase(["--help"], cache_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    verbs = [line.split()[0] for line in result.stdout.split("Commands:")[1].strip().splitlines()]
    assert verbs == ["env", "export", "list", "plugins", "prepare", "report", "run", "verify"]
    assert "Write a run record in another tool's format." in result.stdout


def test_an_unknown_verb_is_one_line_with_exit_2(cache_dir: Path, tmp_path: Path) -> None:
    result = run_benchbase(["lsit"], cache_dir, tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "error: No such command 'lsit'.")
