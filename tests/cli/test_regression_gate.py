"""``benchbase report --compare A B --fail-if``: the gate on real demo runs. Three groups of three short runs are made
in turn (A, A again, B, three times over, so a change in the host's load falls on every group alike); B's steps are
slowed for real by a test hook that busy-waits after each optimizer step twice as long as the step took
(tests/cli/slow_steps).
The gate fails on B and passes on the second group of A's configuration, from run folders alone: no reports/runs
where it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHORT, run_benchbase

pytestmark = pytest.mark.slow

SLOW_STEPS = Path(__file__).resolve().parent / "slow_steps"


@pytest.fixture(scope="module")
def groups(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gate-groups")
    for _ in range(3):
        for group, hook in (("a", {}), ("same", {}), ("slowed", {"PYTHONPATH": str(SLOW_STEPS),
                                                                   "SLOW_STEPS_FACTOR": "2"})):
            result = run_benchbase(["run", "cpm", "--vendor", "cpu", *SHORT, "--out", str(root / group)],
                                   cache_dir, root, **hook)
            assert result.returncode in (0, 3), result.stdout + result.stderr
    return root


def test_a_slowed_group_fails_the_gate_with_exit_1_and_the_test_named(groups, bench):
    result = bench("report", "--compare", str(groups / "a"), str(groups / "slowed"), "--fail-if", "p_train:-5%")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "p_train" in result.stdout  # the comparison itself is printed as ever
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("gate p_train:-5%: FAIL: B's p_train is ")
    assert "beyond the allowed -5%, and significant: one-sided permutation test of the difference in means" in line
    assert "(20 splits, all of them): p = 0.050 <= 0.05" in line


def test_two_groups_of_the_same_configuration_pass_the_gate_with_exit_0(groups, bench):
    result = bench("report", "--compare", str(groups / "a"), str(groups / "same"), "--fail-if", "p_train:-5%",
                   "--fail-if", "p_core:-5%")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["pass", "pass"]


def test_one_run_against_one_is_undecided_and_says_how_many_runs_it_needs(groups, bench):
    (a_run, *_), (slowed_run, *_) = (sorted((groups / name).iterdir()) for name in ("a", "slowed"))
    result = bench("report", "--compare", str(a_run), str(slowed_run), "--fail-if", "p_train:-5%")
    assert result.returncode == 2
    assert "record at least 3 runs per side (--repeat 3)" in result.stderr


def test_fail_if_without_compare_is_refused_in_one_line(groups, bench):
    result = bench("report", str(groups / "a"), "--fail-if", "p_train:-5%")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --fail-if judges a comparison, and no --compare was given; "
                                     "add --compare A B (A the baseline, B the candidate)")
