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
from benchbase.record.events import read_events
from benchbase.record.files import RecordError, RecordMissing, read_json_record
from benchbase.record.manifest import ManifestMissing, check_manifest
from benchbase.record.nonfinite import decode_nonfinite
from benchbase.record.rundir import RunDir
from benchbase.verify import claims
from benchbase.verify.coverage import check_coverage
from benchbase.verify.figures import recompute
from benchbase.verify.findings import Finding, Verdict
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
    events = _read(lambda: read_events(run_dir.events_path), schema.EVENTS_FILE, findings)
    findings += _guarded(lambda: _figures(run_dir, summary, notes), "summary.json's figures")
    if config is not None:
        findings += claims.against_config(summary, config, run_dir.run_id)
        findings += _guarded(lambda: claims.against_case(summary, config, find_case), "the official flag")
    if env is not None:
        findings += claims.against_env(summary, env)
    if events is not None:
        findings += claims.against_events(summary, events)
        values = config.get("values") if config is not None and isinstance(config.get("values"), Mapping) else {}
        findings += check_timeline(events, summary, values)
        windows = next((event for event in reversed(events) if event["key"] == "windows"), None)
        meta = windows.get("metadata") if windows and isinstance(windows.get("metadata"), Mapping) else {}
        interval = values.get("telemetry_interval_s")
        if isinstance(interval, (int, float)) and not isinstance(interval, bool):
            findings += check_coverage(run_dir, summary, meta, float(interval))
    return Verdict(str(folder), str(summary.get("run_id") or run_dir.run_id), tuple(findings), tuple(notes))


def _figures(run_dir: RunDir, summary: dict[str, Any], notes: list[str]) -> list[Finding]:
    findings, absent = recompute(run_dir, summary)
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
