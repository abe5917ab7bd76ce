"""The ``benchbase`` console script stays cheap to import, because spawned worker processes re-run it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = shutil.which("benchbase", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SCRIPT is None, reason="the benchbase console script is not installed beside this Python")
def test_a_spawned_worker_rerunning_the_console_script_imports_neither_the_cli_nor_torch() -> None:
    # multiprocessing's spawn runs the parent's main script under the name __mp_main__ in every worker.
    probe = (
        f"import runpy, sys; runpy.run_path({SCRIPT!r}, run_name='__mp_main__'); "
        "print(sorted(m for m in ('torch', 'benchbase.cli', 'click', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(SCRIPT is None, reason="the benchbase console script is not installed beside this Python")
def test_the_console_script_still_runs_the_command_line() -> None:
    result = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "run" in result.stdout


@pytest.mark.parametrize("arguments", [["--help"], ["run", "--help"], ["report", "--format", "csv"]])
def test_help_and_report_start_without_importing_torch(arguments: list[str], tmp_path: Path) -> None:
    """torch's import is about 2 s here; a command that never touches a model must not pay it."""
    probe = (
        "import sys; from benchbase.entry import main; sys.argv = ['benchbase'] + sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True, text=True, cwd=tmp_path)
    assert result.stderr.strip().splitlines()[-1] == "no torch", result.stderr
