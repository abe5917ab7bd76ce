"""A benchbase run record as an MLPerf training result log (``:::MLLOG`` lines; docs/mlperf.md is the contract).

``events.jsonl`` is MLPerf-logging style but not MLPerf's format: its keys, their order and its timed region differ.
This module writes what MLCommons' ``mlperf-logging`` tools read, from the record alone: every value is either
recorded by the run (``events.jsonl``, ``config.yaml``, ``env.json``, ``summary.json``) or stated by the export
(the ``submission_*`` facts, which are options with documented defaults, and the case profile's optimizer facts,
which are constants of the case's recipe code, not of the record); the ``file`` of each line's metadata says which.

Timed region: MLPerf's time to train is ``run_stop.time_ms - run_start.time_ms`` (what its result summarizer
computes). ``run_start`` is the record's train start (``windows.train_start_ms``, the wall clock read when benchbase
starts its ``whole_s`` window, just before the evaluation before training) and, for a converged run, ``run_stop`` is
``run_start + time_to_target_s``, so MLPerf's time to train is the record's ``time_to_target_s``
(``whole_s`` up to the end of the evaluation that reached the target). Where the wall clock ran ahead of the
monotonic one by the end of that evaluation (microseconds), ``run_stop`` is at its ``eval_stop`` instead: every line
is in the order the events happened, ``time_ms`` never decreasing down the file.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.export.mlperf.division import division_for
from benchbase.export.mlperf.profile import STATED, CaseProfile
from benchbase.record.events import event_lines
from benchbase.record.files import RecordMissing
from benchbase.record.rundir import RecordError, RunDir
from benchbase.record.schema import CONFIG_FILE, ENV_FILE, EVENTS_FILE, SUMMARY_FILE

#: The ``mlperf_logging.compliance_checker --ruleset`` whose log parser the export is written for.
CHECKER_RULESET = "6.0.0"
#: MLPerf's line prefix (``mlperf_logging.mllog``'s ``LOG_TEMPLATE``).
TOKEN = ":::MLLOG "

POINT = "POINT_IN_TIME"
START = "INTERVAL_START"
END = "INTERVAL_END"

SUBMISSION_STATUSES = ("research", "onprem", "cloud")
#: Precision labels (the vendor's, in ``run_start``) -> MLPerf's ``lowest_numerical_precision_in_linear`` values.
_PRECISIONS = {"fp32": "fp32", "tf32": "tf32", "bf16": "bfloat16", "fp16": "fp16"}


@dataclass(frozen=True)
class ExportOptions:
    """The ``submission_*`` facts: who submits, on what. MLPerf requires them; a run record cannot know them."""

    org: str = "benchbase"
    division: str | None = None  # None: closed for an official run of the official preset, open otherwise
    platform: str | None = None  # None: "<nodes>x<processes per node>x<device model>" from the record
    submission_status: str = "research"


def ruleset_path(case: str) -> Path:
    """The compliance-checker config (``--config``) the case's plugin ships."""
    path = Path(_profile(case).ruleset)
    if not path.is_file():
        raise BenchbaseError(f"the MLPerf ruleset {path} of case {case} is not installed",
                             "reinstall the case's plugin; its package data must hold the ruleset")
    return path


def checker_command(result_file: Path, case: str, log_output: Path | None = None) -> list[str]:
    """The command that checks an exported log with MLPerf's own compliance checker and this case's ruleset."""
    command = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
               "--ruleset", CHECKER_RULESET, "--config", str(ruleset_path(case))]
    if log_output is not None:
        command += ["--log_output", str(log_output)]
    return [*command, str(result_file)]


def _profile(case: str) -> CaseProfile:
    """The case's own mapping to MLPerf, from its plugin's ``benchbase_mlperf_profile`` hook: the core knows no
    case's keys."""
    return _case_mapping(case)[0]


def _case_mapping(case: str) -> tuple[CaseProfile, str]:
    """The case's MLPerf profile and its official configuration (its default preset), the one preset whose runs may
    be closed-division results (:mod:`benchbase.export.mlperf.division`)."""
    from benchbase.registry.plugins import load_registry

    registry = load_registry()
    official_preset = registry.case(case).default_preset
    profile = registry.hook.benchbase_mlperf_profile(case=case)
    if profile is None:
        raise BenchbaseError(
            f"case {case!r} defines no MLPerf mapping",
            "export a case whose plugin implements the benchbase_mlperf_profile hook",
        )
    if not isinstance(profile, CaseProfile):
        raise BenchbaseError(
            f"the plugin of case {case!r} returned a {type(profile).__name__} from benchbase_mlperf_profile",
            "return a benchbase.kit.CaseProfile (or None) from that hook; see docs/mlperf.md",
        )
    return profile, official_preset


# ---------------------------------------------------------------------------------------------------------------
# reading the record
# ---------------------------------------------------------------------------------------------------------------

Numbered = tuple[int, dict[str, Any]]


@dataclass
class _RecordEvents:
    """What the export reads of ``events.jsonl``, gathered in one pass (a 4-hour run logs a million step events, and
    the export needs a few dozen of them): whether the run was resumed, and of rank 0's events the latest of each
    kind the export reads, the evaluations, the largest samples count and the last event. Each is kept as
    ``(line number, event)``, 1-based as an editor counts."""

    resumed: bool = False
    last: dict[str, Numbered] = field(default_factory=dict)
    evals: list[Numbered] = field(default_factory=list)
    most_samples: int = 0
    final: Numbered | None = None

    def add(self, number: int, event: dict[str, Any]) -> None:
        self.resumed = self.resumed or event["key"] == "resume"
        if event.get("rank") != 0:
            return
        if event["key"] in _LAST_KEPT:
            self.last[event["key"]] = (number, event)
        if event["key"] == "eval":
            self.evals.append((number, event))
        self.most_samples = max(self.most_samples, _int(event.get("samples")) or 0)
        self.final = (number, event)


#: The kinds of rank 0's event whose latest one the export reads.
_LAST_KEPT = frozenset({"run_start", "init_stop", "windows", "train_stop"})


def _record_events(path: Path) -> _RecordEvents:
    """:class:`_RecordEvents` of the log at ``path``; damaged lines are skipped, as
    :func:`benchbase.record.events.read_events` skips them, and so are events whose ``nonfinite`` markers point
    nowhere, but the line numbers stay those of the file."""
    gathered = _RecordEvents()
    try:
        for line in event_lines(path):
            if line.event is not None and line.problem is None:
                gathered.add(line.number, line.event)
    except RecordMissing:
        raise RecordError(f"{path} is missing", "the run wrote no events; check logs/rank0.log") from None
    return gathered


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and math.isfinite(number) and number.is_integer() else None


def _clean(value: float) -> float | int:
    """``0.05 * 600`` is 30.000000000000004: a count that is whole to 9 digits is logged as the integer it is."""
    rounded = round(value, 9)
    return int(rounded) if rounded.is_integer() else rounded


def _dig(obj: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(name)
    return obj


def _meta(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = event.get("metadata") if event else None
    return metadata if isinstance(metadata, Mapping) else {}


# ---------------------------------------------------------------------------------------------------------------
# the export
# ---------------------------------------------------------------------------------------------------------------


class _Log:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def add(self, time_ms: float, event_type: str, key: str, value: Any, file: str, lineno: int = 0,
            **metadata: Any) -> None:
        self.lines.append({
            "namespace": "",
            "time_ms": round(float(time_ms), 3),
            "event_type": event_type,
            "key": key,
            "value": value,
            "metadata": {"file": file, "lineno": int(lineno), **metadata},
        })  # fmt: skip


def export_run(run_path: Path, options: ExportOptions | None = None) -> list[dict[str, Any]]:
    """The MLPerf result-log lines of one run folder, in log order (see :func:`format_lines` for the text).

    Refused, in one line each: a case without a profile, a preset without an MLPerf benchmark name, a run still
    running or resumed (MLPerf times one uninterrupted run), the record of a node other than node 0, a run that
    stopped before training, and ``--division closed`` for a run that is not an official run of the case's official
    configuration (:mod:`benchbase.export.mlperf.division`).
    """
    options = options or ExportOptions()
    run_dir = RunDir.open(run_path)
    summary = run_dir.read_summary()
    record = run_dir.read_config()
    env = run_dir.read_env()
    profile, official_preset = _case_mapping(str(summary["case"]))
    where = str(run_dir.path)

    preset = str(summary.get("preset") or record.get("preset"))
    if preset not in profile.benchmarks:
        raise BenchbaseError(
            f"{where}: preset {preset!r} of case {profile.case} has no MLPerf benchmark name",
            f"export a run of preset {' or '.join(sorted(profile.benchmarks))}",
        )
    if summary["status"] == "running":
        raise BenchbaseError(f"{where}: summary.json says the run is still running", "export it once it has ended")
    if summary.get("node_rank") not in (None, 0):
        raise BenchbaseError(
            f"{where} is node {summary.get('node_rank')}'s part of run {summary.get('main_run_id')}",
            "export the record of node 0, which holds rank 0's events",
        )
    division = division_for(options.division, summary, record, official_preset, where)
    if options.submission_status not in SUBMISSION_STATUSES:
        raise BenchbaseError(f"unknown submission status {options.submission_status!r}",
                             f"use one of: {', '.join(SUBMISSION_STATUSES)}")
    for name, value in (("org", options.org), ("platform", options.platform)):
        if value is not None and not value.strip():
            raise BenchbaseError(f"--{name} is empty", f"give the submission's {name}, or leave the option out")

    events = _record_events(run_dir.events_path)
    if events.resumed:
        raise BenchbaseError(
            f"{where} was resumed from a checkpoint, so its clock has a gap MLPerf's single timed run cannot hold",
            "export a run that was not resumed",
        )
    run_start, init_stop = events.last.get("run_start"), events.last.get("init_stop")
    windows, train_stop = events.last.get("windows"), events.last.get("train_stop")
    evals = events.evals
    train_start_ms = _number(_meta(windows[1] if windows else None).get("train_start_ms"))
    if train_start_ms is None and evals:
        # A run that died mid-training wrote no windows event; its train start is read just before the first
        # evaluation starts (benchbase.train.loop.TrainingLoop.run).
        train_start_ms = _number(_meta(evals[0][1]).get("start_ms"))
    if run_start is None or init_stop is None or train_start_ms is None:
        raise BenchbaseError(
            f"{where}: the run stopped before training started (status {summary['status']}), "
            "so there is no timed run to export",
            "see its reason in summary.json and logs/rank0.log",
        )

    values = record.get("values") if isinstance(record.get("values"), Mapping) else {}
    start_event = run_start[1]
    start_meta = _meta(start_event)
    init_stop_ms = float(init_stop[1]["time_ms"])
    init_s = _number(init_stop[1].get("value"))
    init_start_ms = init_stop_ms - init_s * 1000.0 if init_s is not None and math.isfinite(init_s) else init_stop_ms
    hyper_ms = float(start_event["time_ms"])

    log = _Log()
    platform = options.platform or (
        f"{summary.get('nnodes') or 1}x{summary.get('nproc_per_node') or 1}x{summary.get('device_model') or 'unknown'}"
    )
    log.add(init_start_ms, POINT, "submission_benchmark", profile.benchmarks[preset], SUMMARY_FILE)
    log.add(init_start_ms, POINT, "submission_org", options.org, STATED)
    log.add(init_start_ms, POINT, "submission_division", division, STATED if options.division else CONFIG_FILE)
    log.add(init_start_ms, POINT, "submission_status", options.submission_status, STATED)
    log.add(init_start_ms, POINT, "submission_platform", platform, STATED if options.platform else SUMMARY_FILE)
    # benchbase never drops the operating system's caches before a run: recorded as not done, not faked as done.
    log.add(init_start_ms, POINT, "cache_clear", False, STATED)
    log.add(init_start_ms, START, "init_start", None, EVENTS_FILE, init_stop[0])

    global_batch = _int(start_meta.get("global_batch")) or _int(summary.get("global_batch"))
    log.add(hyper_ms, POINT, "global_batch_size", global_batch, EVENTS_FILE, run_start[0])
    # The seed the run trained with, as the validated summary records it (its config value, plus the repeat index).
    log.add(hyper_ms, POINT, "seed", summary["seed"], SUMMARY_FILE)
    for key, value, source in profile.hyperparameters(values):
        log.add(hyper_ms, POINT, key, value, source)
    precision = _PRECISIONS.get(str(start_meta.get("precision") or "").lower().split(" ")[0])
    if precision is not None:
        log.add(hyper_ms, POINT, "lowest_numerical_precision_in_linear", precision, EVENTS_FILE, run_start[0])
    for key, path in (("train_samples", profile.train_samples), ("eval_samples", profile.eval_samples)):
        count = _int(_dig(env, path))
        if count is None:
            raise BenchbaseError(f"{where}: env.json has no {'.'.join(path)} ({key})",
                                 "the record is damaged or from another benchbase version; run again")
        log.add(hyper_ms, POINT, key, count, ENV_FILE)
    log.add(init_stop_ms, END, "init_stop", None, EVENTS_FILE, init_stop[0])

    log.add(train_start_ms, START, "run_start", None, EVENTS_FILE, windows[0] if windows else evals[0][0])
    previous: Numbered | None = None
    for number, event in evals:
        meta = _meta(event)
        samples = _int(event.get("samples")) or 0
        start_ms = _number(meta.get("start_ms")) or float(event["time_ms"])
        end_ms = _number(meta.get("end_ms")) or float(event["time_ms"])
        if previous is not None:
            before = _int(previous[1].get("samples")) or 0
            before_end = _number(_meta(previous[1]).get("end_ms")) or float(previous[1]["time_ms"])
            log.add(before_end, START, "block_start", None, EVENTS_FILE, previous[0], samples_count=before)
            log.add(start_ms, END, "block_stop", None, EVENTS_FILE, number, samples_count=samples)
        log.add(start_ms, START, "eval_start", None, EVENTS_FILE, number, samples_count=samples)
        log.add(end_ms, POINT, "eval_accuracy", event.get("value"), EVENTS_FILE, number, samples_count=samples)
        log.add(end_ms, END, "eval_stop", None, EVENTS_FILE, number, samples_count=samples)
        previous = (number, event)

    time_to_target = _number(summary.get("time_to_target_s"))
    success = summary["status"] == "converged" and time_to_target is not None
    last_samples = _int(train_stop[1].get("samples")) if train_stop else None
    if last_samples is None:
        last_samples = events.most_samples
    train_end_ms = _number(_meta(windows[1] if windows else None).get("train_end_ms"))
    final = events.final
    assert final is not None  # run_start is one of rank 0's events
    stop_line = (windows or train_stop or final)[0]
    if not success and previous is not None and last_samples > (_int(previous[1].get("samples")) or 0):
        # Training went on after the last evaluation (an interrupt, a crash): that block ends where training did.
        block_end = train_end_ms if train_end_ms is not None else float(final[1]["time_ms"])
        before_end = _number(_meta(previous[1]).get("end_ms")) or float(previous[1]["time_ms"])
        log.add(before_end, START, "block_start", None, EVENTS_FILE, previous[0],
                samples_count=_int(previous[1].get("samples")) or 0)
        log.add(block_end, END, "block_stop", None, EVENTS_FILE, stop_line, samples_count=last_samples)
    if success:
        assert time_to_target is not None
        # The record's time to target (a monotonic clock) and the evaluation's end (the wall clock) are two readings
        # of one instant; the later one is taken, so run_stop never precedes the eval_stop it follows.
        last_stop = max((line["time_ms"] for line in log.lines if line["key"] == "eval_stop"), default=train_start_ms)
        log.add(max(train_start_ms + time_to_target * 1000.0, last_stop), END, "run_stop", None, SUMMARY_FILE,
                status="success", samples_count=_int(summary.get("converged_samples")) or last_samples)
    else:
        stop_ms = train_end_ms if train_end_ms is not None else float(final[1]["time_ms"])
        log.add(stop_ms, END, "run_stop", None, EVENTS_FILE, stop_line, status="aborted", samples_count=last_samples)
    return log.lines


def format_lines(lines: Sequence[Mapping[str, Any]]) -> str:
    """The text of a result log: one ``:::MLLOG {json}`` line each, keys in MLPerf's order, ASCII only (the checker
    reads Latin-1). A NaN metric is written as ``NaN``, as ``mlperf_logging.mllog`` writes it."""
    fields = ("namespace", "time_ms", "event_type", "key", "value", "metadata")
    return "".join(TOKEN + json.dumps({name: line[name] for name in fields}, ensure_ascii=True) + "\n"
                   for line in lines)
