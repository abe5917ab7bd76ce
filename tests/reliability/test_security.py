"""What benchbase reads can come from anywhere (a downloaded config, a copied checkpoint, a plugin on the path), so
nothing it reads may run code, start a shell, or write outside the output folder.

The source checks walk the syntax tree of every shipped module, so a new call site cannot slip past them.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from reliability_support import REPO, Bench

from benchbase.errors import BenchbaseError
from benchbase.record.rundir import RunDir, check_name, new_run_id
from benchbase.train.checkpoint import read_checkpoint

SHIPPED = [REPO / "benchbase", *REPO.glob("plugins/*/benchbase_*"), *REPO.glob("vendors/*/benchbase_*")]
SCANNED = [*SHIPPED, REPO / "benchmarks"]
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}
NEVER_CALLED = {
    ("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
    ("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
}


def python_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        yield from sorted(root.rglob("*.py"))


def calls(roots: list[Path]) -> Iterator[tuple[str, ast.Call]]:
    """Every call in the given trees, with ``file:line`` to name it in a failure."""
    for path in python_files(roots):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Call):
                yield f"{path}:{node.lineno}", node


def dotted(func: ast.expr) -> tuple[str, str] | None:
    """``("os", "system")`` for ``os.system(...)``; ``("", "eval")`` for a bare name."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Name):
        return "", func.id
    return None


def keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def is_string_built(node: ast.expr) -> bool:
    """A command written as one string (a literal, an f-string, a concatenation or a ``.format``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.JoinedStr, ast.BinOp)):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def test_the_scan_covers_the_core_every_plugin_and_vendor() -> None:
    names = {p.name for p in SHIPPED}
    assert {"benchbase", "benchbase_cpm", "benchbase_cpu", "benchbase_nvidia", "benchbase_iluvatar"} <= names
    assert sum(1 for _ in python_files(SHIPPED)) > 30


def shell_findings(roots: list[Path]) -> list[str]:
    found = []
    for where, node in calls(roots):
        shell = keyword(node, "shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
            found.append(f"{where}: shell=")
        name = dotted(node.func)
        if name and name[0] == "subprocess" and name[1] in SUBPROCESS_CALLS and node.args:
            if is_string_built(node.args[0]):
                found.append(f"{where}: command built as a string")
    return found


def unsafe_call_findings(roots: list[Path]) -> list[str]:
    return [
        f"{where}: {'.'.join(filter(None, name))}"
        for where, node in calls(roots)
        if (name := dotted(node.func)) and (name in NEVER_CALLED or name in {("", "eval"), ("", "exec")})
    ]


def yaml_findings(roots: list[Path]) -> list[str]:
    found = []
    for where, node in calls(roots):
        if dotted(node.func) == ("yaml", "load"):
            loader = keyword(node, "Loader")
            name = loader.attr if isinstance(loader, ast.Attribute) else getattr(loader, "id", "")
            if "Safe" not in name:
                found.append(f"{where}: yaml.load with Loader={name or 'default'}")
    return found


def torch_load_findings(roots: list[Path]) -> list[str]:
    found = []
    for where, node in calls(roots):
        if dotted(node.func) == ("torch", "load"):
            value = keyword(node, "weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                found.append(f"{where}: torch.load without weights_only=True")
    return found


def computed_import_findings(roots: list[Path]) -> list[str]:
    found = []
    for where, node in calls(roots):
        if dotted(node.func) in {("importlib", "import_module"), ("", "__import__")}:
            if not (node.args and isinstance(node.args[0], ast.Constant)):
                found.append(f"{where}: module imported by a computed name")
    return found


def test_no_shell_and_no_command_built_as_a_string() -> None:
    assert shell_findings(SCANNED) == []


def test_nothing_calls_an_unsafe_loader_or_evaluates_text() -> None:
    assert unsafe_call_findings(SCANNED) == []


def test_yaml_is_only_loaded_with_a_safe_loader() -> None:
    assert yaml_findings(SCANNED) == []


def test_torch_load_is_always_weights_only() -> None:
    assert torch_load_findings(SCANNED) == []


def test_no_module_is_imported_by_a_computed_name() -> None:
    """Plugins come from entry points only: no config value or argument can name a module to import."""
    assert computed_import_findings(SHIPPED) == []


PLANTED = """
import importlib, os, pickle, subprocess, torch, yaml
subprocess.run("ls " + folder, shell=True)
subprocess.Popen(f"rm {path}")
os.system("true")
pickle.loads(blob)
eval(text)
yaml.load(text, Loader=yaml.Loader)
yaml.load(text)
torch.load(path)
torch.load(path, weights_only=False)
importlib.import_module(config["plugin"])
"""


def test_the_source_checks_catch_each_thing_they_look_for(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(PLANTED)
    assert len(shell_findings([tmp_path])) == 3
    assert len(unsafe_call_findings([tmp_path])) == 3
    assert len(yaml_findings([tmp_path])) == 2
    assert len(torch_load_findings([tmp_path])) == 2
    assert len(computed_import_findings([tmp_path])) == 1


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_checkpoint_holding_pickled_code_is_refused_without_running_it(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"workload": {}, "loop": _Touch(tmp_path / "ran")}, path)
    with pytest.raises(BenchbaseError, match="holds pickled Python objects"):
        read_checkpoint(path)
    assert not (tmp_path / "ran").exists()


YAML_CODE = "!!python/object/apply:pathlib.Path.touch [{marker}]"


def test_a_set_file_with_a_python_tag_is_refused_without_running_it(bench: Bench, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"lr: {YAML_CODE.format(marker=marker)}\n")
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set-file", str(settings), "--dry-run")
    assert result.returncode == 2 and "could not determine a constructor" in result.stderr
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set",
                       f"lr={YAML_CODE.format(marker=marker)}", "--dry-run")
    assert result.returncode == 2 and result.stderr.startswith("error: bad --set")
    assert not marker.exists()


def test_a_run_record_with_a_python_tag_is_refused_on_resume(
    bench: Bench, tmp_path: Path, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    marker = tmp_path / "ran"
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("preset: demo", f"preset: {YAML_CODE.format(marker=marker)}", 1))
    result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert result.returncode == 2 and "config.yaml is not valid YAML" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "/etc", ".hidden", "", "x" * 129, "a\\b", "a\x00b", "..", "é"])
def test_names_that_become_paths_cannot_leave_their_folder(name: str) -> None:
    with pytest.raises(BenchbaseError, match="letters, digits"):
        check_name(name, "run id")


def test_a_plugin_name_that_would_escape_the_runs_folder_is_refused(tmp_path: Path) -> None:
    """Case and vendor names come from plugins and end up in the run id, hence in a folder name."""
    runs = tmp_path / "runs"
    with pytest.raises(BenchbaseError, match="bad run id"):
        RunDir.create_unique(runs, "cpm", "../../escape", 1, 1)
    with pytest.raises(BenchbaseError, match="bad run id"):
        new_run_id("cpm/../..", "cpu", 1, 1)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["runs"], "nothing was created anywhere"


def test_a_module_on_the_path_is_never_loaded_as_a_plugin(bench: Bench, tmp_path: Path) -> None:
    """Only installed entry points count: a module that merely sits in the working folder or on PYTHONPATH, named
    like a plugin and defining the hook, is never imported."""
    marker = tmp_path / "imported"
    module = (
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from benchbase.hookspecs import hookimpl\n\n@hookimpl\ndef benchbase_register_vendors(register):\n    pass\n"
    )
    for folder in (tmp_path, tmp_path / "site"):
        folder.mkdir(exist_ok=True)
        (folder / "benchbase_sneaky.py").write_text(module)
        (folder / "benchbase_vendor_sneaky.py").write_text(module)
    shutil.copy(tmp_path / "benchbase_sneaky.py", tmp_path / "site" / "plugin.py")
    listed = bench.run("plugins", PYTHONPATH=str(tmp_path / "site"))
    assert listed.returncode == 0 and "sneaky" not in listed.stdout
    run = bench.run("run", "cpm", "--vendor", "sneaky", "--preset", "demo", PYTHONPATH=str(tmp_path / "site"))
    assert run.returncode == 2 and "unknown vendor 'sneaky'" in run.stderr
    assert not marker.exists()
