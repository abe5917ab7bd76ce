"""Benchmark 8's judgement: a command is within the goal when its median wall time is, whatever its slowest run."""

from __future__ import annotations

from benchmarks.startup import COMMANDS, Timed, result_of


def test_a_median_within_the_goal_is_met_and_one_past_it_is_not() -> None:
    quick = result_of(Timed(("list",), (0.31, 0.29, 0.9, 0.30, 0.33), (0.2,) * 5), goal_s=0.5)
    slow = result_of(Timed(("list",), (0.52, 0.49, 0.6, 0.55, 0.51), (0.4,) * 5), goal_s=0.5)
    assert (quick.verdict, slow.verdict) == ("met", "NOT met")
    assert quick.value == 0.5 / 0.31
    assert "median wall 0.310 s of 5 runs, range 0.290 .. 0.900 s" in "\n".join(quick.lines())


def test_the_commands_of_the_issue_are_all_timed() -> None:
    timed = {command[0] for command in COMMANDS}
    assert {"list", "plugins", "env", "run", "export"} <= timed
    assert ("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run") in COMMANDS
