"""Records are a trust boundary: a buyer runs ``report``, ``export mlperf`` and ``--resume`` on folders a vendor sent.

Every case here plants one hostile file in a synthetic record folder (built as tests/report/conftest.py builds them)
and runs the real command in a subprocess with a time limit. Each checks the exit code, that stderr holds at most a
few lines and no traceback, that every other record stays byte-identical, that no file outside the records changed
and that the command left no process behind. The last test checks that only the record layer opens record files.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import psutil
import pytest
from reliability_support import REPO, Bench, assert_short_message, benchbase_command

from benchbase.errors import BenchbaseError
from benchbase.hardware.topology import parse_cpulist
from benchbase.record import files, schema
from benchbase.record.files import RecordError, RecordMissing, open_record, read_json_record


def _report_fixtures() -> ModuleType:
    """tests/report/conftest.py, whose ``write_record`` builds synthetic records (loaded by path: every test
    folder's conftest is named ``conftest``)."""
    spec = importlib.util.spec_from_file_location("report_record_builder", REPO / "tests" / "report" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


write_record = _report_fixtures().write_record

TIME_LIMIT_S = 60
#: A line longer than the csv module's default field limit (131072 characters), in one cell.
OVER_CSV_LIMIT = "9" * 200_000


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


def digest(root: Path) -> dict[str, str]:
    """Every entry under ``root`` without following links: a file's sha256, a link's target, a FIFO's kind."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            seen[str(path.relative_to(root))] = "link to " + os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            seen[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif not stat.S_ISDIR(info.st_mode):
            seen[str(path.relative_to(root))] = f"mode {stat.S_IFMT(info.st_mode):o}"
    return seen


def orphan(runs: Path, run_id: str) -> Path:
    """A record that says ``running`` whose lock names a holder that is gone: the next report settles it."""
    folder = write_record(runs, run_id, status="running", exit_code=None, reason=None, ended_at=None)
    holder = {"pid": 1, "started": 0.0, "host": "a-machine-long-gone", "command": "run", "ended": False}
    (folder / schema.LOCK_FILE).write_text(json.dumps(holder), encoding="utf-8")
    return folder


def run_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``benchbase ARGS`` with a time limit; fails the test if it hangs or leaves a child behind."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    result = subprocess.run(benchbase_command(list(args)), cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIME_LIMIT_S, check=False)
    left = [child for child in psutil.Process().children(recursive=True) if child.pid not in before]
    assert not left, f"processes left behind: {left}"
    return result


def assert_clean(result: subprocess.CompletedProcess[str], code: int = 0) -> None:
    """The command ended with ``code``, no traceback and at most a few lines on stderr."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 3, result.stderr


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A folder of runs with one good record, whose bytes every case checks are kept."""
    folder = tmp_path / "runs"
    write_record(folder, "good")
    return folder


# ---------------------------------------------------------------------------------------------------------------
# the catalogue: report, with settling, over a folder holding one hostile record
# ---------------------------------------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def _deep_lock(runs: Path) -> Path:
    folder = orphan(runs, "hostile")
    (folder / schema.LOCK_FILE).write_text(DEEP, encoding="utf-8")
    return folder


def _deep_env(runs: Path) -> Path:
    folder = orphan(runs, "hostile")
    (folder / schema.ENV_FILE).write_text(DEEP, encoding="utf-8")
    return folder


def _deep_summary(runs: Path) -> Path:
    folder = write_record(runs, "hostile")
    (folder / schema.SUMMARY_FILE).write_text(DEEP, encoding="utf-8")
    return folder


def _summary_to_dev_zero(runs: Path) -> Path:
    folder = write_record(runs, "hostile")
    (folder / schema.SUMMARY_FILE).unlink()
    (folder / schema.SUMMARY_FILE).symlink_to("/dev/zero")
    return folder


def _fifo(name: str, settle: bool) -> Callable[[Path], Path]:
    def plant(runs: Path) -> Path:
        folder = orphan(runs, "hostile") if settle else write_record(runs, "hostile")
        (folder / name).unlink()
        os.mkfifo(folder / name)
        return folder

    return plant


def _huge_cpu_list(runs: Path) -> Path:
    folder = orphan(runs, "hostile")
    env = {"host": {"cpu_count_logical": 8, "hostname": "h"},
           "launch": {"nproc_per_node": 1, "bindings": [{"cpus": "0-99999999999"}]}}
    (folder / schema.ENV_FILE).write_text(json.dumps(env), encoding="utf-8")
    return folder


def _telemetry_over_csv_limit(runs: Path) -> Path:
    folder = orphan(runs, "hostile")
    with (folder / schema.TELEMETRY_FILE).open("a", encoding="utf-8") as handle:
        handle.write(f"1795000001000,0,0,{OVER_CSV_LIMIT}\n")
    return folder


REPORT_CASES = [
    pytest.param(_deep_lock, "json", id="run.lock nested 100000 deep"),
    pytest.param(_deep_env, "json", id="env.json nested 100000 deep, settled"),
    pytest.param(_deep_summary, "json", id="summary.json nested 100000 deep"),
    pytest.param(_summary_to_dev_zero, "json", id="summary.json a symlink to /dev/zero"),
    pytest.param(_fifo(schema.SUMMARY_FILE, settle=False), "json", id="summary.json a FIFO"),
    pytest.param(_fifo(schema.EVENTS_FILE, settle=True), "json", id="events.jsonl a FIFO, settled"),
    pytest.param(_fifo(schema.EVENTS_FILE, settle=False), "html", id="events.jsonl a FIFO, HTML plots"),
    pytest.param(_huge_cpu_list, "json", id="CPU list 0-99999999999 in env.json, settled"),
    pytest.param(_telemetry_over_csv_limit, "html", id="telemetry cell over the csv field limit, HTML"),
]


@pytest.mark.parametrize(("plant", "fmt"), REPORT_CASES)
def test_a_hostile_record_costs_its_row_never_the_report(
    tmp_path: Path, runs: Path, plant: Callable[[Path], Path], fmt: str
) -> None:
    plant(runs)
    good = digest(runs / "good")
    result = run_command(tmp_path, "report", str(runs), "--format", fmt)
    assert_clean(result)
    if fmt == "json":
        listed = json.loads(result.stdout)
        assert "good" in [run["run_id"] for row in listed["rows"] for run in row["runs"]]
        assert [Path(skipped["path"]).name for skipped in listed["skipped"]] in ([], ["hostile"])
    else:
        assert "good" in result.stdout
    assert digest(runs / "good") == good


def test_settling_never_appends_to_a_file_an_events_symlink_points_at(tmp_path: Path, runs: Path) -> None:
    outside = tmp_path / "bashrc"
    outside.write_text("export PATH=$HOME/bin:$PATH\n", encoding="utf-8")
    before = outside.read_bytes()
    folder = orphan(runs, "hostile")
    (folder / schema.LOCK_FILE).write_text(json.dumps(
        {"pid": 1, "started": 0.0, "host": "gone", "command": "; rm -rf ~ #\n$(reboot)", "ended": False}))
    (folder / schema.EVENTS_FILE).unlink()
    (folder / schema.EVENTS_FILE).symlink_to(outside)
    result = run_command(tmp_path, "report", str(runs))
    assert_clean(result)
    assert outside.read_bytes() == before
    assert (folder / schema.EVENTS_FILE).is_symlink()
    assert json.loads((folder / schema.SUMMARY_FILE).read_text())["status"] == "running"


# ---------------------------------------------------------------------------------------------------------------
# --output onto a record
# ---------------------------------------------------------------------------------------------------------------


def test_report_output_hard_linked_to_a_summary_is_refused_and_the_summary_kept(tmp_path: Path, runs: Path) -> None:
    summary = runs / "good" / schema.SUMMARY_FILE
    before = summary.read_bytes()
    link = tmp_path / "report.md"
    os.link(summary, link)
    result = run_command(tmp_path, "report", str(runs), "--format", "md", "--output", str(link))
    assert_short_message(result, 2, "--output", "hard links")
    assert summary.read_bytes() == before


def test_report_output_that_is_a_symlink_into_a_record_is_refused(tmp_path: Path, runs: Path) -> None:
    summary = runs / "good" / schema.SUMMARY_FILE
    before = summary.read_bytes()
    link = tmp_path / "report.md"
    link.symlink_to(summary)
    result = run_command(tmp_path, "report", str(runs), "--format", "md", "--output", str(link))
    assert_short_message(result, 2, "--output")
    assert summary.read_bytes() == before


def test_report_output_to_a_new_file_is_written(tmp_path: Path, runs: Path) -> None:
    result = run_command(tmp_path, "report", str(runs), "--format", "md", "--output", str(tmp_path / "r.md"))
    assert_clean(result)
    assert "| Convergence criteria |" in (tmp_path / "r.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# --resume of a record someone sent
# ---------------------------------------------------------------------------------------------------------------


def test_resume_never_writes_through_a_symlinked_run_lock(
    bench: Bench, tmp_path: Path, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    outside = tmp_path / "profile"
    outside.write_text("untouched\n", encoding="utf-8")
    (run / schema.LOCK_FILE).unlink()
    (run / schema.LOCK_FILE).symlink_to(outside)
    record = digest(run)
    result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert_short_message(result, 2, "run.lock is a symlink")
    assert outside.read_text(encoding="utf-8") == "untouched\n"
    assert digest(run) == record


def test_resume_of_a_record_with_a_telemetry_cell_over_the_csv_limit_ends_with_a_status(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    with (run / schema.TELEMETRY_FILE).open("a", encoding="utf-8") as handle:
        handle.write(f"1795000001000,0,0,{OVER_CSV_LIMIT}\n")
    result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert json.loads((run / schema.SUMMARY_FILE).read_text())["status"] in ("converged", "not_converged")


# ---------------------------------------------------------------------------------------------------------------
# the record layer itself
# ---------------------------------------------------------------------------------------------------------------


def test_the_record_layer_opens_only_regular_files_by_their_own_name(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("{}", encoding="utf-8")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "dir.json").mkdir()
    assert read_json_record(tmp_path / "real.json") == {}
    for name, problem in (("link.json", "is a symlink"), ("fifo.json", "is a FIFO"), ("dir.json", "is a folder")):
        with pytest.raises(RecordError, match=problem):
            os.close(open_record(tmp_path / name))
    with pytest.raises(RecordMissing):
        open_record(tmp_path / "absent.json")


def test_the_record_layer_bounds_size_depth_and_numbers(tmp_path: Path) -> None:
    big = tmp_path / schema.LOCK_FILE
    big.write_bytes(b" " * (files.MAX_BYTES[schema.LOCK_FILE] + 1))
    with pytest.raises(RecordError, match="larger than 64 KiB"):
        read_json_record(big)
    with pytest.raises(RecordError, match="nested more than"):
        files.parse_json("[" * (files.MAX_DEPTH + 1) + "]" * (files.MAX_DEPTH + 1), "x.json")
    assert files.parse_json('{"a": "[[[[", "b": [1]}', "x.json") == {"a": "[[[[", "b": [1]}
    assert files.parse_json(f"[{2**53}, {2**53 + 1}, 1e300, 1e-320, {'9' * 5000}]", "x.json") == [
        2**53, float(2**53 + 1), float("inf"), 0.0, float("inf")]


def test_writes_into_a_record_refuse_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("kept\n", encoding="utf-8")
    (tmp_path / "linked").symlink_to(outside)
    os.link(outside, tmp_path / "hard")
    for name, problem in (("linked", "is a symlink"), ("hard", "hard links")):
        with pytest.raises(RecordError, match=problem):
            files.open_record_for_append(tmp_path / name)
    assert outside.read_text(encoding="utf-8") == "kept\n"


def test_a_cpu_list_naming_more_cpus_than_a_host_has_is_refused_before_it_is_expanded() -> None:
    assert parse_cpulist("0-3,8-11") == (0, 1, 2, 3, 8, 9, 10, 11)
    for text in ("0-99999999999", "0-65536", ",".join(["0-65535"] * 2)):
        with pytest.raises(BenchbaseError, match="CPU"):
            parse_cpulist(text)


# ---------------------------------------------------------------------------------------------------------------
# no module outside the record layer opens a record file
# ---------------------------------------------------------------------------------------------------------------

#: Names in benchbase code that stand for a record file: the schema's file names and RunDir's paths of them.
RECORD_NAMES = frozenset({
    "SUMMARY_FILE", "CONFIG_FILE", "ENV_FILE", "EVENTS_FILE", "TELEMETRY_FILE", "CPU_LOAD_FILE", "NODE_FILE",
    "LOCK_FILE", "summary_path", "config_path", "env_path", "events_path", "telemetry_path", "telemetry_paths",
    "node_telemetry_path",
})
RECORD_LITERALS = frozenset({
    schema.SUMMARY_FILE, schema.CONFIG_FILE, schema.ENV_FILE, schema.EVENTS_FILE, schema.TELEMETRY_FILE,
    schema.CPU_LOAD_FILE, schema.NODE_FILE, schema.LOCK_FILE,
})
#: Calls that open or read a file: builtins and modules (by name) and methods of a path or a handle.
OPENING_FUNCTIONS = frozenset({"open", "os.open", "os.fdopen", "io.open", "json.load", "yaml.safe_load", "yaml.load",
                               "csv.reader", "csv.DictReader", "load_yaml_file", "atomic_write_text"})
OPENING_METHODS = frozenset({"open", "read_text", "read_bytes", "write_text", "write_bytes"})


def _names_a_record(node: ast.AST, tainted: set[str]) -> bool:
    """Whether an expression is built from a record file's name (directly or through a variable assigned one)."""
    for part in ast.walk(node):
        if isinstance(part, ast.Name) and (part.id in RECORD_NAMES or part.id in tainted):
            return True
        if isinstance(part, ast.Attribute) and part.attr in RECORD_NAMES:
            return True
        if isinstance(part, ast.Constant) and part.value in RECORD_LITERALS:
            return True
    return False


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def record_file_opens(source: str) -> list[int]:
    """Lines of ``source`` that open a record file themselves: an opening call whose path (an argument, or the
    object a method is called on) is built from a record file's name or a variable that holds one."""
    tree = ast.parse(source)
    tainted: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            if _names_a_record(node.value, tainted):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                tainted.update(target.id for target in targets if isinstance(target, ast.Name))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = _dotted(node.func)
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        if called in OPENING_FUNCTIONS and any(_names_a_record(arg, tainted) for arg in arguments):
            found.append(node.lineno)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in OPENING_METHODS:
            if _names_a_record(node.func.value, tainted):
                found.append(node.lineno)
    return found


def test_the_check_finds_a_record_file_opened_directly() -> None:
    assert record_file_opens("p = run / SUMMARY_FILE\ndata = json.loads(p.read_text())\n") == [2]
    assert record_file_opens("open(run_dir.events_path, 'a')\n") == [1]
    assert record_file_opens("(folder / 'run.lock').write_text(x)\n") == [1]
    assert record_file_opens("read_json_record(run / SUMMARY_FILE)\nopen(other)\n") == []


def test_no_module_outside_the_record_layer_opens_a_record_file() -> None:
    package = REPO / "benchbase"
    offenders = {
        str(path.relative_to(REPO)): lines
        for path in sorted(package.rglob("*.py"))
        if package / "record" not in path.parents
        and (lines := record_file_opens(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "open record files through benchbase.record.files: " + repr(offenders)
