"""Telemetry covering the windows its figures are computed over.

Mean power, the telemetry memory peak and the host's contention are means or peaks over the rows inside the train
window; a file whose rows start late or stop early (a truncated copy, rows cut out) would still give a number, over
less of the window than it claims. Each device's rows, and ``cpu_load.csv``'s, must reach from the start of every
counted train span to its end, give or take a few sampling intervals. Only that is kept of the rows, as they stream
by (a 4-hour run on 8 devices writes over a million): which span ends each file has a row near.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchbase.record import schema
from benchbase.record.cpu_load_file import read_cpu_load
from benchbase.record.rundir import RunDir
from benchbase.record.summary import telemetry_rows
from benchbase.verify.findings import Finding

#: How far the first and last rows may be from a span's ends, in sampling intervals: the sampler starts with the
#: launch and stops after the ranks, so a whole record always has rows a tick or two beyond both ends.
SLACK_INTERVALS = 3
#: ... and at least this many seconds, for the first read of a slow sensor.
SLACK_MIN_S = 5.0


def check_coverage(run_dir: RunDir, summary: Mapping[str, Any], windows_meta: Mapping[str, Any],
                   interval_s: float) -> list[Finding]:
    """Findings for each file whose rows do not cover a train span that a figure of ``summary`` rests on."""
    spans = _spans(windows_meta)
    if not spans or interval_s <= 0:
        return []
    slack_ms = max(SLACK_INTERVALS * interval_s, SLACK_MIN_S) * 1000
    findings = []
    power = summary.get("power") if isinstance(summary.get("power"), Mapping) else {}
    memory = summary.get("memory") if isinstance(summary.get("memory"), Mapping) else {}
    if power.get("source") == "telemetry" or memory.get("source") == "telemetry":
        devices: dict[tuple[int, int], _Ends] = {}
        for row in telemetry_rows(run_dir):
            ends = devices.get((row["node"], row["device"]))
            if ends is None:
                ends = devices[(row["node"], row["device"])] = _Ends(spans, slack_ms)
            ends.see(row["time_ms"])
        for (node, device), ends in sorted(devices.items()):
            gap = ends.uncovered()
            if gap:
                findings.append(Finding(schema.TELEMETRY_FILE, f"node {node} device {device}: no rows {gap}"))
    host = summary.get("host") if isinstance(summary.get("host"), Mapping) else {}
    if host.get("others_cpu_share") is not None:
        ends = _Ends(spans, slack_ms)
        for row in read_cpu_load(run_dir.telemetry_path.with_name(schema.CPU_LOAD_FILE)):
            ends.see(row[0])
        gap = ends.uncovered()
        if gap:
            findings.append(Finding(schema.CPU_LOAD_FILE, f"no rows {gap}"))
    return findings


def _spans(windows_meta: Mapping[str, Any]) -> list[tuple[float, float]]:
    """The counted train spans: one per attempt where the record says so, else the train window."""
    attempts = windows_meta.get("attempts_ms")
    pairs = attempts if isinstance(attempts, list) and attempts else [
        [windows_meta.get("train_start_ms"), windows_meta.get("train_end_ms")]]
    return [(float(pair[0]), float(pair[1])) for pair in pairs
            if isinstance(pair, list) and len(pair) == 2 and all(_number(x) for x in pair) and pair[0] <= pair[1]]


class _Ends:
    """Which ends of the spans one file has a row within ``slack_ms`` of, from its rows in any order."""

    def __init__(self, spans: list[tuple[float, float]], slack_ms: float) -> None:
        self.spans, self.slack_ms = spans, slack_ms
        self.near_start = [False] * len(spans)
        self.near_end = [False] * len(spans)

    def see(self, time_ms: float) -> None:
        slack = self.slack_ms
        for index, (start, end) in enumerate(self.spans):
            if start - slack <= time_ms <= start + slack:
                self.near_start[index] = True
            if end - slack <= time_ms <= end + slack:
                self.near_end[index] = True

    def uncovered(self) -> str | None:
        """How the first span not covered is not, or ``None``."""
        for (start, end), near_start, near_end in zip(self.spans, self.near_start, self.near_end):
            if not near_start:
                return f"near the start of the train span at {start:.0f} ms"
            if not near_end:
                return f"near the end of the train span at {end:.0f} ms"
        return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
