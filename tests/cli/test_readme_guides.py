"""The README's guides work literally. The code blocks of "Writing a vendor plugin" and "Writing a case", written to
the files their first lines name exactly as they stand in the README, pip-install into a vendor that is listed, runs
the CPM demo and ships its tuned config, and a case that is listed, trains to its target on the CPU vendor and gets
its row in the standard table.

The blocks are also the tested examples, byte for byte (tests/example_vendor, tests/example_case), so a guide cannot
drift from the code the other tests run. The distributions go into a folder of their own on ``PYTHONPATH`` (as in
test_third_party_plugins.py), so the shared venv is never changed; removing the folder uninstalls them.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

Bench = Callable[..., CompletedProcess[str]]
README = REPO / "README.md"
VENDOR_GUIDE, CASE_GUIDE = "Writing a vendor plugin", "Writing a case"
EXAMPLES = {VENDOR_GUIDE: REPO / "tests" / "example_vendor", CASE_GUIDE: REPO / "tests" / "example_case"}
#: The first line of a code block that is a file: a comment naming its path.
FILE_LINE = re.compile(r"# ([\w.-]+(?:/[\w.-]+)*\.(?:toml|py|yaml))\n")
#: What pip leaves in a project folder it built in place; not part of the example.
BUILD_LEFTOVERS = ("build", "*.egg-info", "__pycache__")
PUBLIC_CONTRACT = {"benchbase", "benchbase.kit", "benchbase.contract", "benchbase.hookspecs", "benchbase.errors"}


def section(title: str) -> str:
    """The README text under ``## title``, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    found = [part for part in re.split(r"^## ", text, flags=re.M) if part.split("\n", 1)[0].strip() == title]
    assert len(found) == 1, f"README.md has {len(found)} sections named {title!r}"
    return found[0]


def code_blocks(text: str) -> list[str]:
    """The bodies of the fenced code blocks in ``text``, each exactly as written (ending in its last newline)."""
    blocks: list[str] = []
    body: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if body is None:
                body = []
            else:
                blocks.append("".join(body))
                body = None
        elif body is not None:
            body.append(line)
    assert body is None, "a code block is not closed"
    return blocks


def guide_files(title: str) -> dict[str, str]:
    """The guide's files: ``{path: text}`` of each block whose first line names a file."""
    files: dict[str, str] = {}
    for block in code_blocks(section(title)):
        named = FILE_LINE.match(block)
        if named:
            assert named.group(1) not in files, f"{named.group(1)} is shown twice"
            files[named.group(1)] = block
    return files


def example_files(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(Path(part).match(p) for part in parts for p in BUILD_LEFTOVERS):
            files["/".join(parts)] = path.read_text(encoding="utf-8")
    return files


def write_distribution(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def guide_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Both guides' distributions, written from the README and pip-installed into one folder."""
    site = tmp_path_factory.mktemp("guide-site")
    for title, folder in ((VENDOR_GUIDE, "acme"), (CASE_GUIDE, "spirals")):
        source = write_distribution(tmp_path_factory.mktemp("guide-src") / folder, guide_files(title))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
             str(site), str(source)],
            capture_output=True, text=True,
        )
        assert result.returncode == 0, f"pip refused the {title!r} guide: {result.stdout}{result.stderr}"
    yield site
    shutil.rmtree(site, ignore_errors=True)


def summary(runs: Path) -> dict:
    (run,) = runs.iterdir()
    return json.loads((run / "summary.json").read_text())


def table_row(result: CompletedProcess[str], configuration: str) -> str:
    """The standard table's row of ``configuration`` (the efficiency table under it repeats the Configuration)."""
    lines = result.stdout.splitlines()
    standard = lines[: next((i for i, line in enumerate(lines) if line.strip() == "Efficiency"), len(lines))]
    rows = [line for line in standard if configuration in line]
    assert len(rows) == 1, result.stdout + result.stderr
    return rows[0]


# -- the guides are the examples ----------------------------------------------------------------------------------
@pytest.mark.parametrize("title", [VENDOR_GUIDE, CASE_GUIDE])
def test_each_guide_shows_its_example_in_full_byte_for_byte(title: str) -> None:
    shown, example = guide_files(title), example_files(EXAMPLES[title])
    assert sorted(shown) == sorted(example), "the guide shows every file of the example, and only those"
    for name in example:
        assert shown[name] == example[name], f"README's {name} differs from {EXAMPLES[title].name}/{name}"


def test_the_case_guide_is_at_most_80_lines_of_python_using_only_the_public_contract() -> None:
    python = {name: text for name, text in guide_files(CASE_GUIDE).items() if name.endswith(".py")}
    assert sum(1 for text in python.values() for line in text.splitlines() if line.strip()) <= 80
    for name, text in python.items():
        for node in ast.walk(ast.parse(text, name)):
            modules = [node.module] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            core = {m for m in modules if m and m.split(".")[0] == "benchbase"}
            assert core <= PUBLIC_CONTRACT, f"{name} imports {core - PUBLIC_CONTRACT}"


# -- the guides work ----------------------------------------------------------------------------------------------
def test_both_guides_install_and_are_listed(bench: Bench, guide_site: Path) -> None:
    result = bench("list", PYTHONPATH=str(guide_site))
    assert result.returncode == 0, result.stderr
    spirals = next(line for line in result.stdout.splitlines() if "spirals" in line)
    assert "default (default), quick" in spirals and "accuracy" in spirals
    assert "acme" in result.stdout and "ACME A1" in result.stdout


def test_the_vendor_guide_runs_the_cpm_demo_and_is_reported(bench: Bench, guide_site: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = bench("run", "cpm", "--vendor", "acme", "--preset", "demo", "--set", "max_steps=4", "--set",
                   "log_interval=2", "--out", str(runs), PYTHONPATH=str(guide_site))
    assert result.returncode in (0, 3), result.stdout + result.stderr
    record = summary(runs)
    assert (record["vendor"], record["sdk"], record["steps"]) == ("acme", "ACME SDK 1.2.3", 4)
    report = bench("report", str(runs), PYTHONPATH=str(guide_site))
    assert report.returncode == 0, report.stdout + report.stderr
    table_row(report, "ACME SDK 1.2.3, bs:16, 1x, FP32")


def test_the_vendor_guide_ships_its_tuned_config_and_honours_the_requested_precision(
    bench: Bench, guide_site: Path
) -> None:
    env = {"PYTHONPATH": str(guide_site)}
    tuned = bench("run", "cpm", "--vendor", "acme", "--preset", "official", "--config", "1x8", "--dry-run", **env)
    assert re.search(r"vendor config \S+/benchbase_vendor_acme/configs/cpm/A1x1x8\.yaml", tuned.stdout), tuned.stdout
    # shown, then refused as the run refuses it: the official preset trains on the user's STC data
    assert tuned.returncode == 2 and "preset 'official' of case cpm needs --data-dir" in tuned.stderr, tuned.stderr
    bf16 = bench("run", "spirals", "--vendor", "acme", "--set", "precision=bf16", "--dry-run", **env)
    assert bf16.returncode == 0 and "BF16" in bf16.stdout, bf16.stdout + bf16.stderr
    fp16 = bench("run", "spirals", "--vendor", "acme", "--set", "precision=fp16", "--dry-run", **env)
    assert fp16.returncode == 2 and "Traceback" not in fp16.stderr, fp16.stdout + fp16.stderr
    assert "ACME A1 does not run precision 'fp16'" in fp16.stderr


def test_the_case_guide_trains_to_its_target_on_the_cpu_and_is_reported(
    bench: Bench, guide_site: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    result = bench("run", "spirals", "--vendor", "cpu", "--out", str(runs), PYTHONPATH=str(guide_site))
    assert result.returncode == 0, result.stdout + result.stderr
    record = summary(runs)
    assert record["status"] == "converged" and record["case"] == "spirals" and record["metric_name"] == "accuracy"
    assert record["final_metric"] >= record["target"] == 0.95
    assert record["initial_metric"] < 0.8, "the target is reached by learning, from about chance"
    report = bench("report", str(runs), PYTHONPATH=str(guide_site))
    assert report.returncode == 0, report.stdout + report.stderr
    row = table_row(report, "bs:64, 1x, FP32")
    assert row.split()[0] == "0.95" and "torch" in row
