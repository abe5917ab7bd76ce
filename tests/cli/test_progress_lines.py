"""Without a terminal (a CI log) the live view prints progress lines at a steady pace, not nothing until an eval."""

from __future__ import annotations

import io

from rich.console import Console

from benchbase.run.live import PIPE_HEARTBEAT_S, PIPE_INTERVAL_S, RunView


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _step(step: int, loss: float) -> dict:
    return {"key": "step", "step": step, "samples": step * 16, "value": loss, "metadata": {"samples_per_s": 40.0}}


def test_a_pipe_gets_a_line_per_log_point_at_most_every_interval_and_a_heartbeat_in_silence() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=200)
    with RunView(console, "cpm on cpu 1x1", 600, 0.96, clock=clock) as view:
        clock.now += 5
        view.consume([{"key": "run_start", "step": None, "samples": None, "metadata": {}}])
        assert out.getvalue() == "", "nothing before the interval has passed"
        for step in range(10, 70, 10):  # a log point every 3 s: a line at the first one 10 s after the last line
            clock.now += 3
            view.consume([_step(step, 5.0 - step / 100)])
        clock.now += 10
        view.consume([])  # nothing new: no line
        clock.now += PIPE_HEARTBEAT_S - 10
        view.consume([])  # a minute without a line: a heartbeat
    lines = out.getvalue().splitlines()
    assert lines == [
        "training: step 20/600 (320 samples), 40.0 samples/s, loss 4.8000, 11 s elapsed, 319 s to the step budget",
        "training: step 60/600 (960 samples), 40.0 samples/s, loss 4.4000, 23 s elapsed, 207 s to the step budget",
        "training: step 60/600 (960 samples), 40.0 samples/s, loss 4.4000, 83 s elapsed, 747 s to the step budget",
    ]
    assert PIPE_INTERVAL_S == 10.0


def test_an_evaluation_prints_its_line_at_once_and_restarts_the_interval() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=200)
    with RunView(console, "cpm on cpu 1x1", 600, 0.96, clock=clock) as view:
        clock.now += 12
        view.consume([_step(10, 3.0), {"key": "eval", "step": 10, "samples": 160, "value": 0.9,
                                       "metadata": {"extras": {"token_accuracy": 0.5}}}])
    assert out.getvalue().splitlines() == ["step 10: metric 0.9000 (target 0.96), token accuracy 0.500"]


def test_a_lower_is_better_metrics_target_is_printed_as_the_upper_bound_it_is() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=200)
    with RunView(console, "lm on cpu 1x1", 600, 25.0, clock=clock, higher_is_better=False) as view:
        view.consume([{"key": "eval", "step": 10, "samples": 160, "value": 31.5, "metadata": {}}])
    assert out.getvalue().splitlines() == ["step 10: metric 31.5000 (target ≤ 25.0)"]
