"""A lower-is-better case, end to end: the spirals case scored by perplexity (tests/perplexity_case) trains on the
CPU until its perplexity falls to the target, and the report, ``benchbase verify`` and the MLPerf export all read
the target as the upper bound it is. Its recipe clips the gradient norm, so the same run's step events hold it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_benchbase

CASE_DIR = REPO / "tests" / "perplexity_case"
TARGET = 1.25
#: Two real runs and a dozen commands, each loading the plugins: a minute or two on a 2-core host.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test case as an installed distribution: its entry point in a dist-info, its module and the README's
    spirals case it extends on the path."""
    site = tmp_path_factory.mktemp("site-perplexity")
    info = site / "benchbase_spirals_ppl-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: benchbase-spirals-ppl\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[benchbase]\nspirals-ppl = benchbase_spirals_ppl\n")
    return ":".join(str(path) for path in (site, CASE_DIR, REPO / "tests" / "example_case"))


@pytest.fixture(scope="module")
def runs(plugin_path: str, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One run to the target, and one stopped by a 3-step budget while its perplexity is still high (exit 3)."""
    out = tmp_path_factory.mktemp("perplexity-runs")
    found = {}
    for name, extra, code in (("converged", [], 0), ("short", ["--set", "max_steps=3"], 3)):
        result = run_benchbase(["run", "spirals-ppl", "--vendor", "cpu", *extra, "--out", str(out / name)],
                               cache_dir, out, PYTHONPATH=plugin_path)
        assert result.returncode == code, result.stdout + result.stderr
        (found[name],) = (out / name).iterdir()
    return found


def events(run: Path, key: str) -> list[dict]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["key"] == key]


def test_perplexity_converges_when_it_falls_to_the_target_and_the_summary_says_lower_is_better(
    runs: dict[str, Path]
) -> None:
    summary = json.loads((runs["converged"] / "summary.json").read_text())
    assert summary["status"] == "converged" and summary["higher_is_better"] is False
    evaluations = [event["value"] for event in events(runs["converged"], "eval")]
    assert evaluations[0] > 1.8, "before training: about 2, a guess between the two arms"
    assert evaluations[-1] <= TARGET < min(evaluations[:-1]), "it stops at the first evaluation at or below"
    assert summary["converged_step"] == events(runs["converged"], "eval")[-1]["step"]
    short = json.loads((runs["short"] / "summary.json").read_text())
    assert short["status"] == "not_converged" and short["final_metric"] > TARGET


def test_the_clipping_recipes_step_events_hold_the_gradient_norm(runs: dict[str, Path]) -> None:
    norms = [event["metadata"]["grad_norm"] for event in events(runs["converged"], "step")]
    assert norms and all(norm > 0 for norm in norms)


def test_verify_rechecks_the_convergence_against_the_upper_bound(
    runs: dict[str, Path], plugin_path: str, cache_dir: Path, tmp_path: Path
) -> None:
    for run in runs.values():
        result = run_benchbase(["verify", str(run)], cache_dir, tmp_path, PYTHONPATH=plugin_path)
        assert result.returncode == 0, result.stdout + result.stderr
    # The same record claiming the metric was higher-is-better no longer adds up: its first evaluation (about 2)
    # is above 1.25, so the run would have stopped there, and the case says lower is better.
    summary_path = runs["converged"] / "summary.json"
    original = summary_path.read_text()
    try:
        summary_path.write_text(json.dumps({**json.loads(original), "higher_is_better": True}))
        result = run_benchbase(["verify", str(runs["converged"])], cache_dir, tmp_path, PYTHONPATH=plugin_path)
    finally:
        summary_path.write_text(original)
    assert result.returncode != 0
    assert "converged_step" in result.stdout + result.stderr and "higher_is_better" in result.stdout + result.stderr


def test_the_report_shows_an_upper_bound_and_compares_perplexity_as_lower_is_better(
    runs: dict[str, Path], plugin_path: str, cache_dir: Path, tmp_path: Path
) -> None:
    both = [str(run) for run in runs.values()]
    table = run_benchbase(["report", *both, "--format", "json"], cache_dir, tmp_path, PYTHONPATH=plugin_path)
    assert table.returncode == 0, table.stderr
    rows = json.loads(table.stdout)["rows"]
    assert {row["cells"]["Convergence criteria"] for row in rows} == {f"≤ {TARGET:.2f}"}
    assert {row["group"]["higher_is_better"] for row in rows} == {False}
    assert sorted(row["cells"]["Stability"] for row in rows) == ["0 (0/1)", "1 (1/1)"]
    compared = run_benchbase(["report", *both, "--compare", str(runs["short"]), str(runs["converged"]),
                              "--format", "json"], cache_dir, tmp_path, PYTHONPATH=plugin_path)
    assert compared.returncode == 0, compared.stderr
    accuracy = next(line for line in json.loads(compared.stdout)["lines"] if line["label"] == "Accuracy")
    assert accuracy["better"] == "lower" and accuracy["ratio_b_over_a"] < 1, "the converged run's is the better"
    detail = run_benchbase(["report", str(runs["converged"]), "--detail"], cache_dir, tmp_path,
                           PYTHONPATH=plugin_path, COLUMNS="300")
    assert f"perplexity ≤ {TARGET:.2f}" in detail.stdout
    page = tmp_path / "report.html"
    html = run_benchbase(["report", str(runs["converged"]), "--format", "html", "--output", str(page)], cache_dir,
                         tmp_path, PYTHONPATH=plugin_path)
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    assert f"(target ≤ {TARGET:.2f})" in text and "Gradient norm before clipping" in text


def test_the_mlperf_export_passes_a_ruleset_whose_target_is_an_upper_bound(
    runs: dict[str, Path], plugin_path: str, cache_dir: Path, tmp_path: Path
) -> None:
    checked = {}
    for name, run in runs.items():
        log = tmp_path / f"{name}.txt"
        result = run_benchbase(["export", "mlperf", str(run), "--output", str(log)], cache_dir, tmp_path,
                               PYTHONPATH=plugin_path)
        assert result.returncode == 0, result.stdout + result.stderr
        checker = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training", "--ruleset",
                   "6.0.0", "--config", str(CASE_DIR / "spirals_ppl.yaml"), str(log)]
        done = subprocess.run(checker, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        checked[name] = done.returncode == 0 and "SUCCESS" in done.stdout + done.stderr
        lines = [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines()]
        status = lines[-1]["metadata"]["status"]
        assert status == ("success" if name == "converged" else "aborted")
    assert checked == {"converged": True, "short": False}
