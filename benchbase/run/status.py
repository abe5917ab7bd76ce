"""How a run ended, from what the supervisor knows and what the logs say: the status, and the cause of a failure in
one line."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from benchbase.record.rundir import RunDir
from benchbase.record.schema import DIVERGED, INTERRUPTED, STATUS_EXIT_CODES
from benchbase.run.signals import signal_name


def told_error(log: Path) -> str | None:
    """The ``error: <problem>; <fix>`` line a rank stopped by a user's mistake writes (see
    :func:`benchbase.train.worker.main`), without its prefix; ``None`` when the log holds none."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    told = next((ln for ln in reversed(lines[-40:]) if ln.startswith("error: ")), None)
    return told[len("error: "):][:1000] if told is not None else None


def last_error_line(run_dir: RunDir, names: list[str] | None = None) -> str | None:
    """The cause of a failure in one line, from the first log (of ``names``, default every log) that names one.

    A line the rank wrote itself (:func:`told_error`) is quoted whole. Otherwise the last line naming a Python
    error, which ends a traceback.
    """
    logs = [Path(run_dir.logs_dir) / n for n in names] if names else sorted(Path(run_dir.logs_dir).glob("*.log"))
    for log in logs:
        told = told_error(log)
        if told is not None:
            return f"{log.name}: {told}"
        try:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        for line in reversed(lines[-40:]):
            if "Error" in line or "Exception" in line:
                return f"{log.name}: {line[:300]}"
    return None


#: What a rank's own error line says when the disk refused a write (see :mod:`benchbase.record.disk_space`).
_DISK_REFUSALS = ("no space left on device", "read-only file system", "disk quota exceeded")


def told_disk_error(run_dir: RunDir) -> str | None:
    """A rank's own line saying which write the disk refused (``no space left on device writing checkpoint
    <path>``): more precise than the supervisor's "the disk is full", which only says where."""
    for log in sorted(Path(run_dir.logs_dir).glob("rank*.log")):
        told = told_error(log)
        if told is not None and any(refusal in told for refusal in _DISK_REFUSALS):
            return told
    return None


#: One entry of torchrun's failure report: ``rank : 1 (local_rank: 1)`` then ``exitcode : -9 (pid: 23692)  (SIGKILL)``.
_FAILURE_ENTRY = re.compile(
    r"^\s*rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)[^\n]*?(?:\((SIG[A-Z0-9]+)\))?[ \t]*$", re.M
)
#: Signals torchrun itself sends to the surviving ranks once one has failed.
_LAUNCHER_SIGNALS = ("SIGTERM", "SIGINT")


def root_cause(run_dir: RunDir) -> str | None:
    """Which rank failed and how, from torchrun's last failure report in ``launcher.log``, with that rank's own error
    line when it wrote one.

    A rank that exited saying its own error (a binding it may not use, a bad checkpoint) is the cause: the ranks
    still waiting for it are then stopped by torchrun, with SIGTERM and, 30 s later, SIGKILL. Otherwise torchrun
    names as root cause the failure with the smallest timestamp, but its timestamps are whole seconds and a tie goes
    to the lowest rank; so a rank killed by a signal torchrun does not send first (SIGKILL from the OOM killer,
    SIGSEGV, ...) is the cause whatever torchrun says, and otherwise its root cause (the report's last entry) is
    taken.
    """
    try:
        text = (Path(run_dir.logs_dir) / "launcher.log").read_text(errors="replace")
    except OSError:
        return None
    start = text.rfind("Failures:")
    entries = _FAILURE_ENTRY.findall(text[start:]) if start >= 0 else []
    if not entries:
        return None
    told = [e for e in entries if not e[2] and told_error(Path(run_dir.logs_dir) / f"rank{e[0]}.log")]
    outside = [e for e in entries if e[2] and e[2] not in _LAUNCHER_SIGNALS]
    rank, code, signame = (told or outside or entries[-1:])[0]
    how = f"was killed by {signame}" if signame else f"exited with code {code}"
    error = last_error_line(run_dir, [f"rank{rank}.log"])
    return f"rank {rank} {how}" + (f" ({error})" if error else "")


def diverged_step(stop: dict[str, Any]) -> Any:
    """The first step whose training loss was not finite, as the loop's ``train_stop`` says; the stop's own step
    where an older or hand-made record lacks it."""
    metadata = stop.get("metadata")
    step = metadata.get("diverged_step") if isinstance(metadata, dict) else None
    return step if step is not None else stop.get("step")


def decide_status(
    return_code: int | None,
    timed_out: bool,
    signalled: int | None,
    events: list[dict[str, Any]],
    run_dir: RunDir,
    write_failure: str | None = None,
) -> tuple[str, str]:
    """The status is the supervisor's own knowledge first (its timeout, a signal it received and forwarded, a record
    file it could not write and stopped the ranks for), then the launcher's exit code, then what rank 0 recorded. A
    rank's ``interrupted`` stop alone proves nothing: torchrun also sends SIGTERM to the surviving ranks when one rank
    dies, and that run failed. A ``diverged`` stop (the loop ended at a non-finite training loss) is its own status:
    the run did not fail and did not spend its budget, and what it trained after the loss went non-finite is no
    measurement."""
    stop = next((e for e in reversed(events) if e.get("key") == "train_stop"), None)
    reason = stop.get("value") if stop else None
    if timed_out:
        return "timeout", "the run exceeded its --timeout and was stopped"
    if signalled is not None:
        return "interrupted", f"stopped by {signal.Signals(signalled).name}"
    if write_failure is not None:
        return "failed", told_disk_error(run_dir) or write_failure
    if return_code == STATUS_EXIT_CODES[INTERRUPTED]:
        return "interrupted", "the worker was stopped by a signal sent to it directly"
    if return_code == 0 and reason == "converged":
        target_eval = next((e for e in reversed(events) if e.get("key") == "eval"), {})
        return "converged", f"target reached at step {target_eval.get('step')}"
    if return_code == 0 and reason in ("max_steps", "max_samples"):
        return "not_converged", f"budget spent ({reason}) before the target was reached"
    if return_code in (0, STATUS_EXIT_CODES[DIVERGED]) and reason == "diverged":
        return DIVERGED, f"non-finite training loss at step {diverged_step(stop)}"
    if return_code is not None and return_code < 0:
        code = f"killed by {signal_name(-return_code)}"
    else:
        code = f"exit code {return_code}"
    cause = root_cause(run_dir) or last_error_line(run_dir)
    return "failed", f"a process failed ({code})" + (f": {cause}" if cause else "")
