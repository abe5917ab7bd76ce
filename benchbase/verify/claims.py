"""The supervisor's own fields of a summary, checked against the files that say the same thing again.

No raw file derives ``status``, ``official``, the seed or the batch: the supervisor wrote them. But each is said a
second time somewhere in the record (the status and its reason in the log's ``run_stop``, the config and its hash in
``config.yaml``, the device and the SDK in ``env.json``) or follows from the case's definition (whether a config is
the official one, the metric's name). A summary whose fields disagree with those was edited, or belongs to another
folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from benchbase.config.resolve import config_hash, merge_parameters, resolve_config
from benchbase.errors import BenchbaseError
from benchbase.record import schema
from benchbase.record.target import better_direction, higher_is_better
from benchbase.verify.figures import same
from benchbase.verify.findings import Finding
from benchbase.verify.log_digest import LogDigest, meta

#: The core keys a summary repeats under its own name.
CONFIG_FIELDS = {
    "seed": "seed", "per_device_batch": "batch_size", "grad_accum": "grad_accum", "target": "target",
    "parallelism": "parallelism",
}


def against_config(summary: Mapping[str, Any], config: Mapping[str, Any], folder_name: str) -> list[Finding]:
    """``config.yaml``: its hash still matches its values, and the summary's run, case, vendor, preset, official
    flag, hash and core values are the config's."""
    findings = []
    values = config.get("values") if isinstance(config.get("values"), Mapping) else None
    if values is None:
        findings.append(Finding(schema.CONFIG_FILE, "holds no values"))
    elif _hash(values) != config.get("config_hash"):
        findings.append(Finding(schema.CONFIG_FILE, "its values do not match its config_hash (edited after the run "
                                                    "started)"))
    if summary.get("run_id") != folder_name:
        findings.append(Finding("run_id", f"the summary is run {summary.get('run_id')!r}, its folder {folder_name!r} "
                                          "(a renamed folder, or a summary from another run)"))
    for name in ("run_id", "case", "vendor", "preset", "official", "config_hash"):
        if config.get(name) != summary.get(name):
            findings.append(Finding(name, f"the summary says {summary.get(name)!r}, config.yaml {config.get(name)!r}"))
    values = values or {}
    for name, key in CONFIG_FIELDS.items():
        if key in values and not same(summary.get(name), values[key]):
            findings.append(Finding(name, f"the summary says {summary.get(name)!r}, config.yaml's {key} is "
                                          f"{values[key]!r}"))
    return findings


def _hash(values: Mapping[str, Any]) -> str | None:
    """The config hash of ``values``, or ``None`` where they are no JSON (a NaN written by hand)."""
    try:
        return config_hash(values)
    except (TypeError, ValueError):
        return None


def against_case(summary: Mapping[str, Any], config: Mapping[str, Any], find_case: Callable[[str], Any]) -> list[Finding]:
    """The official flag follows from the case's immutable keys: a config is official exactly when none of them
    differs from the preset's value. ``find_case`` is the registry's lookup (the case must be installed here)."""
    try:
        case = find_case(str(summary.get("case")))
    except BenchbaseError as exc:
        return [Finding("official", f"cannot be checked: {exc} (install the case's plugin to verify)")]
    findings = []
    if summary.get("metric_name") != case.metric_name:
        findings.append(Finding("metric_name", f"the summary says {summary.get('metric_name')!r}, case "
                                               f"{case.name} scores {case.metric_name!r}"))
    if higher_is_better(summary.get("higher_is_better")) != case.metric.higher_is_better:
        recorded = better_direction(higher_is_better(summary.get("higher_is_better")))
        findings.append(Finding("higher_is_better", f"the summary says {recorded} is better, case {case.name}'s "
                                                    f"{case.metric_name} is better "
                                                    f"{better_direction(case.metric.higher_is_better)}"))
    values, preset_name = config.get("values"), config.get("preset")
    presets = case.presets()
    if not isinstance(values, Mapping) or preset_name not in presets:
        return [*findings, Finding("official", f"cannot be checked: case {case.name} has no preset {preset_name!r}")]
    try:
        parameters = merge_parameters(case.name, case.parameters(), case.defaults())
        again = resolve_config(parameters, presets[preset_name], {}, None, dict(values), True, case=case.name)
    except BenchbaseError as exc:
        return [*findings, Finding(schema.CONFIG_FILE, f"its values are not a config of case {case.name} here: "
                                                       f"{exc}")]
    if config.get("official") is True and not again.official:
        changed = "; ".join(again.unofficial_changes)
        findings.append(Finding("official", f"claimed, but immutable keys differ from preset {preset_name}: {changed}"))
    return findings


def against_env(summary: Mapping[str, Any], env: Mapping[str, Any]) -> list[Finding]:
    """``env.json``: the device, SDK, precision, peak and topology the summary names are the ones recorded there,
    and every plugin's version is the installed distribution's (a record mixed from two installs says so)."""
    vendor = env.get("vendor") if isinstance(env.get("vendor"), Mapping) else {}
    precision = env.get("precision") if isinstance(env.get("precision"), Mapping) else {}
    launch = env.get("launch") if isinstance(env.get("launch"), Mapping) else {}
    expected = {
        "device_model": env.get("device_model"),
        "sdk": vendor.get("sdk"),
        "precision": precision.get("label"),
        "peak_flops_per_device": env.get("peak_flops_per_device"),
        "nnodes": launch.get("nnodes"),
        "nproc_per_node": launch.get("nproc_per_node"),
        "node_rank": launch.get("node_rank"),
    }
    findings = [
        Finding(name, f"the summary says {summary.get(name)!r}, env.json {value!r}")
        for name, value in expected.items()
        if not same(summary.get(name), value)
    ]
    host = env.get("host") if isinstance(env.get("host"), Mapping) else {}
    packages = host.get("packages") if isinstance(host.get("packages"), Mapping) else {}
    plugins = env.get("plugins") if isinstance(env.get("plugins"), Mapping) else {}
    for role, plugin in plugins.items():
        if not isinstance(plugin, Mapping) or plugin.get("distribution") not in packages:
            continue
        if plugin.get("version") != packages[plugin["distribution"]]:
            findings.append(Finding(schema.ENV_FILE, f"the {role} plugin says version {plugin.get('version')!r}, "
                                                     f"the installed {plugin['distribution']} "
                                                     f"{packages[plugin['distribution']]!r}"))
    return findings


def against_events(summary: Mapping[str, Any], log: LogDigest) -> list[Finding]:
    """The log's ``run_stop`` is the supervisor's own account of the end: status, exit code and reason must be its,
    and the world size the one the ranks ran with. ``log`` is the log's digest (:mod:`.log_digest`)."""
    if summary.get("status") == schema.RUNNING:
        return [Finding("status", "running: the run has not ended (or its supervisor died and no report settled it)")]
    stop = log.last.get("run_stop")
    if stop is None:
        return [Finding(schema.EVENTS_FILE, "no run_stop event: the log does not say how the run ended")]
    metadata = meta(stop)
    findings = []
    for name, value in (("status", stop.get("value")), ("exit_code", metadata.get("exit_code")),
                        ("reason", metadata.get("reason"))):
        if summary.get(name) != value:
            findings.append(Finding(name, f"the summary says {summary.get(name)!r}, the log's run_stop {value!r}"))
    findings += _times(summary, log, stop)
    ranks = meta(log.last.get("run_start")).get("world_size")
    if ranks is not None and summary.get("world_size") != ranks:
        findings.append(Finding("world_size", f"the summary says {summary.get('world_size')!r}, the ranks ran as "
                                              f"{ranks!r}"))
    nodes, per_node = summary.get("nnodes"), summary.get("nproc_per_node")
    if isinstance(nodes, int) and isinstance(per_node, int) and summary.get("world_size") != nodes * per_node:
        findings.append(Finding("world_size", f"{summary.get('world_size')!r} is not {nodes} nodes x {per_node}"))
    return findings


#: How far ``ended_at`` (whole seconds, read just before ``run_stop`` is written) may be from that event's stamp.
ENDED_SLACK_S = 2.0


def _times(summary: Mapping[str, Any], log: LogDigest, stop: Mapping[str, Any]) -> list[Finding]:
    """``started_at`` is before the attempt's first event (its ``launch``), ``ended_at`` at the ``run_stop``, and
    ``e2e_s`` (the supervisor's clock from its process start, before preparation and so before ``started_at``, to
    its end, earlier attempts added) at least that span when there was one attempt."""
    findings = []
    started, ended = _epoch_s(summary.get("started_at")), _epoch_s(summary.get("ended_at"))
    for name, value in (("started_at", started), ("ended_at", ended)):
        if value is None and summary.get(name) is not None:
            findings.append(Finding(name, f"{summary.get(name)!r} is not a UTC time as records write them"))
    if started is not None and log.launch_ms is not None and started > log.launch_ms / 1000 + 1:
        findings.append(Finding("started_at", f"{summary.get('started_at')!r} is after the attempt's launch event"))
    stop_s = stop["time_ms"] / 1000 if _number(stop.get("time_ms")) else None
    if ended is not None and stop_s is not None and abs(ended - stop_s) > ENDED_SLACK_S:
        findings.append(Finding("ended_at", f"{summary.get('ended_at')!r} is {ended - stop_s:+.0f} s from the log's "
                                            "run_stop"))
    windows = summary.get("windows") if isinstance(summary.get("windows"), Mapping) else {}
    e2e_s = windows.get("e2e_s")
    if started is not None and ended is not None and _number(e2e_s):
        span = ended - started
        # e2e_s leaves the wait between attempts out
        if not log.resumed and e2e_s < span - ENDED_SLACK_S:
            findings.append(Finding("windows.e2e_s", f"{e2e_s:.6g} s, but the run went from started_at to ended_at "
                                                     f"in {span:.0f} s"))
    return findings


def _epoch_s(stamp: Any) -> float | None:
    """Seconds since the epoch of an ISO-8601 UTC stamp as records write them (``2026-12-07T08:00:00Z``)."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
