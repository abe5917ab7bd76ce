"""The status of a run and the cause of its failure, from what the supervisor knows and what the logs say."""

from __future__ import annotations

from pathlib import Path

from benchbase.record.rundir import RunDir
from benchbase.run.status import decide_status


def test_the_rank_that_told_its_error_is_the_reason_not_the_rank_torchrun_killed_waiting_for_it(
    tmp_path: Path,
) -> None:
    """torchrun's report when rank 1 stopped on its own error while rank 0 waited in the rendezvous: rank 0 is
    SIGTERMed, then SIGKILLed 30 s later, and torchrun's timestamps make either look first."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "rank0.log").write_text("")
    (logs / "rank1.log").write_text("error: CPU binding 1 of local rank 1 names no CPU this process may use\n")
    (logs / "launcher.log").write_text("""benchbase.train.worker FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-02_00:12:55
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -9 (pid: 1157)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 1157
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-02_00:12:25
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : 2 (pid: 1158)
  error_file: <N/A>
""")
    status, reason = decide_status(1, False, None, [], RunDir(tmp_path))
    assert status == "failed"
    assert reason == (
        "a process failed (exit code 1): rank 1 exited with code 2 (rank1.log: CPU binding 1 of local rank 1 "
        "names no CPU this process may use)"
    )


def diverged_stop(**metadata: object) -> list[dict]:
    return [{"key": "step", "step": 8, "value": None},
            {"key": "train_stop", "value": "diverged", "step": 8, "metadata": {"converged_step": None, **metadata}}]


def test_a_diverged_stop_is_its_own_status_naming_the_first_non_finite_step(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    assert decide_status(0, False, None, diverged_stop(diverged_step=7), RunDir(tmp_path)) == (
        "diverged", "non-finite training loss at step 7")
    assert decide_status(0, False, None, diverged_stop(), RunDir(tmp_path)) == (
        "diverged", "non-finite training loss at step 8"), "a record without diverged_step: the stop's own step"


def test_a_diverged_stop_does_not_hide_a_process_that_failed_or_a_timeout(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    assert decide_status(1, False, None, diverged_stop(diverged_step=7), RunDir(tmp_path))[0] == "failed"
    assert decide_status(0, True, None, diverged_stop(diverged_step=7), RunDir(tmp_path))[0] == "timeout"
