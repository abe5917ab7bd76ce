"""One run folder, verified: its files against the manifest, its figures against the raw files, its claims against
the files that repeat them, its log against the rules the loop follows, its telemetry against the windows.

Nothing here writes: verify reads a record as the buyer received it (``benchbase report`` may settle an orphaned
record; verify never does). Every file is read through :mod:`benchbase.record.files`, so a hostile record costs a
finding, never a hang or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.record import schema
from benchbase.record.files import RecordError, RecordMissing, read_json_record
from benchbase.record.manifest import ManifestMissing, check_manifest
from benchbase.record.nonfinite import decode_nonfinite
from benchbase.record.rundir import RunDir
from benchbase.record.target import higher_is_better
from benchbase.verify import claims
from benchbase.verify.coverage import check_coverage
from benchbase.verify.figures import recompute
from benchbase.verify.findings import Finding, Verdict
from benchbase.verify.log_digest import LogDigest, as_int, meta, read_log
from benchbase.verify.timeline import check_timeline

#: What verify says of a schema-1 record (written before case extras were generic), instead of failing it on a
#: vocabulary it was never written in.
SCHEMA_1_NOTE = (
    "summary.json is schema 1 (benchbase before case extras were generic): its figures are checked as schema 2's, "
    "its final_token_accuracy as final_extras.token_accuracy"
)


def verify_run(folder: Path, find_case: Callable[[str], Any]) -> Verdict:
    """Every finding about the record in ``folder``; ``find_case`` looks a case up by name (the registry's)."""
    run_dir = RunDir(Path(folder))
    findings: list[Finding] = []
    notes: list[str] = []
    try:
        findings += [Finding(schema.MANIFEST_FILE, problem) for problem in check_manifest(run_dir.path)]
    except ManifestMissing:
        notes.append(f"{schema.MANIFEST_FILE} missing (a record from before manifests, or one whose run never "
                     "finished): the files were not checked against one")
    except RecordError as exc:
        findings.append(Finding(schema.MANIFEST_FILE, str(exc)))
    summary, summary_problem = _summary(run_dir, notes)
    if summary is None:
        return Verdict(str(folder), run_dir.run_id, (*findings, Finding(schema.SUMMARY_FILE, summary_problem)),
                       tuple(notes))
    config = _read(run_dir.read_config, schema.CONFIG_FILE, findings)
    env = _read(run_dir.read_env, schema.ENV_FILE, findings)
    values = config.get("values") if config is not None and isinstance(config.get("values"), Mapping) else {}
    log = _read(lambda: _read_log(run_dir, summary, values), schema.EVENTS_FILE, findings)
    findings += _guarded(lambda: _figures(run_dir, summary, log.observer_errors if log else [], notes),
                         "summary.json's figures")
    if config is not None:
        findings += claims.against_config(summary, config, run_dir.run_id)
        findings += _guarded(lambda: claims.against_case(summary, config, find_case), "the official flag")
    if env is not None:
        findings += claims.against_env(summary, env)
    if log is not None:
        findings += claims.against_events(summary, log)
        findings += check_timeline(log, summary, values)
        interval = values.get("telemetry_interval_s")
        if isinstance(interval, (int, float)) and not isinstance(interval, bool):
            findings += check_coverage(run_dir, summary, meta(log.last.get("windows")), float(interval))
    return Verdict(str(folder), str(summary.get("run_id") or run_dir.run_id), tuple(findings), tuple(notes))


def _read_log(run_dir: RunDir, summary: Mapping[str, Any], values: Mapping[str, Any]) -> LogDigest:
    """The log, read once a line at a time into what the checks need (a long run's log is never held whole)."""
    return read_log(run_dir.events_path, as_int(values.get("log_interval")), summary.get("target"),
                    higher_is_better(summary.get("higher_is_better")))


def _figures(run_dir: RunDir, summary: dict[str, Any], observer_events: list[dict[str, Any]],
             notes: list[str]) -> list[Finding]:
    findings, absent = recompute(run_dir, summary, observer_events)
    if absent:
        notes.append(f"summary.json has no {', '.join(absent)} (written before {'they' if len(absent) > 1 else 'it'} "
                     "existed): not checked")
    return findings


def _summary(run_dir: RunDir, notes: list[str]) -> tuple[dict[str, Any] | None, str]:
    """The summary as schema 2; a schema-1 summary is read as the report reads it, with a note saying so."""
    try:
        return run_dir.read_summary(), ""
    except RecordMissing:
        return None, "missing: not a finished record"
    except RecordError as exc:
        first = str(exc)
    try:
        raw = decode_nonfinite(read_json_record(run_dir.summary_path))
    except (RecordError, ValueError):
        return None, first
    if not isinstance(raw, dict) or raw.get("schema") != 1:
        return None, first
    notes.append(SCHEMA_1_NOTE)
    accuracy = raw.pop("final_token_accuracy", None)
    # Schema 1 had no initial_extras and one final extra: what it lacks is left out, so it reads as unchecked.
    upgraded = {**raw, "schema": schema.SUMMARY_SCHEMA}
    if accuracy is not None:
        upgraded["final_extras"] = {"token_accuracy": accuracy}
    return upgraded, ""


def _read(read: Callable[[], Any], name: str, findings: list[Finding]) -> Any:
    try:
        return read()
    except RecordError as exc:
        findings.append(Finding(name, str(exc)))
        return None


def _guarded(check: Callable[[], list[Finding]], what: str) -> list[Finding]:
    """A check that meets a record it cannot read says so as a finding; the other checks still run."""
    try:
        return check()
    except BenchbaseError as exc:
        return [Finding(what, f"cannot be checked: {exc}")]
