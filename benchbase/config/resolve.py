"""Configuration layers: case defaults < preset < vendor tuned file < ``--set``, with an allow-list.

Two runs are comparable only if they trained the same workload, so the layering is strict: every key must be
declared (a typo is an error with the nearest valid name, never a silently ignored setting), every value is coerced
to the declared type and checked, a vendor file may change only mutable keys, and changing an immutable key from the
command line needs ``--unofficial`` and marks the result unofficial. The resolved values are saved with a hash so a
report can tell whether two runs used the same configuration.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchbase.config.coerce import coerce_value, quote_value
from benchbase.config.parameters import CORE_PARAMETERS, CoreConfig
from benchbase.config.safe_yaml import load_yaml_file
from benchbase.record.bounded_yaml import UnreadableValue, YamlTooLarge, safe_load
from benchbase.contract import Case, Param, Preset, Vendor
from benchbase.errors import BenchbaseError
from benchbase.record.rundir import RecordError, check_name
from benchbase.registry import checked

SOURCE_DEFAULT = "default"
SOURCE_SET = "set"

#: Nodes and processes per node of ``--config NxM``: larger than any cluster benchbase is run on.
MAX_TOPOLOGY = 4096
_TOPOLOGY = re.compile(r"(\d+)x(\d+)")


def merge_parameters(
    case_name: str, case_parameters: Mapping[str, Param], case_defaults: Mapping[str, Any] | None = None
) -> dict[str, Param]:
    """The core keys, with the case's defaults for them, plus the case's own keys.

    A case redeclaring a core key, or giving a default for a key the core does not have, is a bug in the case
    (hence ValueError): the core's keys have one name in every case, so the supervisor and the report never guess.
    """
    clashes = sorted(set(case_parameters) & set(CORE_PARAMETERS))
    if clashes:
        raise ValueError(f"case {case_name!r} redeclares core parameter(s) {', '.join(clashes)}; rename them")
    unknown = sorted(set(case_defaults or {}) - set(CORE_PARAMETERS))
    if unknown:
        raise ValueError(f"case {case_name!r} gives defaults for unknown core key(s) {', '.join(unknown)}")
    core = dict(CORE_PARAMETERS)
    for key, value in (case_defaults or {}).items():
        default = coerce_value(key, core[key], value, f"case {case_name} defaults")
        core[key] = dataclasses.replace(core[key], default=default)
    return {**core, **case_parameters}


def parse_topology(text: str) -> tuple[int, int]:
    """``"2x8"`` -> ``(2, 8)``: nodes and processes per node, each from 1 to :data:`MAX_TOPOLOGY`."""
    match = _TOPOLOGY.fullmatch(text.strip())
    if match is None:
        raise BenchbaseError(f"bad --config {text!r}: expected NxM (nodes x processes per node), e.g. 1x8")
    # Digits are counted before converting: int() refuses a 5000-digit string, and a count that large is out anyway.
    nnodes, nproc = (int(group) if len(group) <= 6 else MAX_TOPOLOGY + 1 for group in match.groups())
    if not (1 <= nnodes <= MAX_TOPOLOGY and 1 <= nproc <= MAX_TOPOLOGY):
        raise BenchbaseError(
            f"bad --config {quote_value(text)}: expected NxM (nodes x processes per node) with N and M from 1 to "
            f"{MAX_TOPOLOGY}",
            "e.g. --config 1x8",
        )
    return nnodes, nproc


def vendor_config_path(
    config_dir: Path | None, case: str, device_model: str, nnodes: int, nproc: int, variant: str | None
) -> Path | None:
    """The vendor's tuned file ``<config_dir>/<case>/<device_model>x<N>x<M>[-<variant>].yaml``, or ``None``.

    ``None`` (no file for this topology) is not an error: the case defaults are used and the caller records that.
    A named variant must exist, because silently falling back would run a configuration the user did not ask for.
    """
    stem = f"{device_model}x{nnodes}x{nproc}"
    folder = Path(config_dir) / case if config_dir is not None else None
    if variant is None:
        if folder is None:
            return None
        path = folder / f"{stem}.yaml"
        return path if path.is_file() else None
    check_name(variant, "config variant")
    if folder is not None and (folder / f"{stem}-{variant}.yaml").is_file():
        return folder / f"{stem}-{variant}.yaml"
    prefix = f"{stem}-"
    names = sorted(p.name for p in folder.iterdir()) if folder is not None and folder.is_dir() else []
    available = [n[len(prefix) : -len(".yaml")] for n in names if n.startswith(prefix) and n.endswith(".yaml")]
    listing = ", ".join(available) if available else "none"
    raise BenchbaseError(
        f"no config variant {variant!r} for case {case} on {stem}",
        f"variants for this topology: {listing}",
    )


def preset_config_path(
    config_dir: Path | None, case: str, device_model: str, nnodes: int, nproc: int, preset: str
) -> Path | None:
    """The tuned file named after a preset, ``<device_model>x<N>x<M>-<preset>.yaml``, or ``None``.

    One topology can have a file per preset (CPM's medium and its 2.6B large want other batches and parallelism on
    the same eight devices); without ``--variant`` the file of the chosen preset is taken before the plain one.
    """
    if config_dir is None:
        return None
    path = Path(config_dir) / case / f"{device_model}x{nnodes}x{nproc}-{preset}.yaml"
    return path if path.is_file() else None


#: Top-level key of a vendor's tuned file naming the preset (or list of presets) it was tuned for; not a config key.
TUNED_FOR_KEY = "preset"


def read_tuned_file(
    path: Path, presets: Collection[str], default_preset: str
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The config values of a vendor's tuned file and the presets it was tuned for.

    Tuned values (batch, learning rate, step budget, precision) are measured best for one workload; laid over another
    preset (the demo's tiny model) they replace that preset's own recipe, and the demo then trains a different run
    than the one it describes. So a file says which preset(s) it was tuned for in ``preset:`` and applies to those
    only; a file that does not say is taken as tuned for the case's default preset, the workload vendors tune for.
    """
    values = load_yaml_file(path)
    tuned_for = values.pop(TUNED_FOR_KEY, default_preset)
    names = [tuned_for] if isinstance(tuned_for, str) else tuned_for
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise BenchbaseError(
            f"'{TUNED_FOR_KEY}' in vendor file {path} must be a preset name or a list of preset names",
            f"write e.g. '{TUNED_FOR_KEY}: {default_preset}'",
        )
    unknown = sorted(set(names) - set(presets))
    if unknown:
        raise BenchbaseError(
            f"vendor file {path} is tuned for unknown preset(s) {', '.join(unknown)}",
            f"the case's presets are {', '.join(sorted(presets))}",
        )
    return values, tuple(names)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["batch_size=16", "lr=5.0e-4"]`` -> ``{"batch_size": 16, "lr": 0.0005}``; values are YAML scalars, so numbers
    arrive typed, and booleans as the word typed (:class:`~benchbase.record.bounded_yaml.BoolWord`: ``compile=on``
    is the word ``on`` for a string key). A key given twice keeps the last value, as in most command lines."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise BenchbaseError(f"bad --set {item!r}", "write it as key=value, e.g. --set batch_size=16")
        try:
            result[key] = safe_load(raw, keep_bool_words=True)
        except YamlTooLarge as exc:
            raise BenchbaseError(f"bad --set {key}=...: the value {exc.problem}", "give a single value") from None
        except UnreadableValue as exc:
            raise BenchbaseError(
                f"bad --set {key}=...: the value {exc.problem}", f"quote it to pass text, e.g. --set '{key}=\"...\"'"
            ) from None
        except yaml.YAMLError:
            raise BenchbaseError(
                f"bad --set {item!r}: the value is not valid YAML", "quote it, e.g. --set 'name=\"a: b\"'"
            ) from None
    return result


class Overrides(dict[str, Any]):
    """Command-line overrides with the flag each came from (``--set-file F``, ``--set``, ``--timeout``).

    The flags are merged into one mapping (a later one wins), and an error about a value must still name the flag the
    user typed it with: a bad ``timeout_s`` from ``--timeout`` reported "in --set" sends them looking in vain.
    """

    def __init__(self) -> None:
        super().__init__()
        self.origins: dict[str, str] = {}

    def add(self, values: Mapping[Any, Any], origin: str) -> None:
        for key, value in values.items():
            self[key] = value
            self.origins[key] = origin


@dataclass(frozen=True)
class ResolvedConfig:
    """The configuration a run used, where each value came from, and whether the result may be called official."""

    values: dict[str, Any]
    sources: dict[str, str]
    official: bool
    unofficial_changes: tuple[str, ...]
    vendor_file: str | None
    preset: str

    @functools.cached_property
    def core(self) -> CoreConfig:
        """The core keys, typed; built once per resolved config (a repeat's seed makes a new one)."""
        return CoreConfig.from_values(self.values)

    @property
    def config_hash(self) -> str:
        """Identical values give an identical hash, whatever their order or where they came from."""
        return config_hash(self.values)

    def to_record(self) -> dict[str, Any]:
        """What ``config.yaml`` holds (docs/records.md)."""
        return {
            "preset": self.preset,
            "official": self.official,
            "unofficial_changes": list(self.unofficial_changes),
            "vendor_file": self.vendor_file,
            "config_hash": self.config_hash,
            "values": dict(self.values),
            "sources": dict(self.sources),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], where: str = "config.yaml") -> ResolvedConfig:
        """Rebuild a saved config for ``--resume``; refuses a damaged or hand-edited record, since resuming under
        other values than the run started with would mix two workloads in one result."""
        expected = {
            "preset": str,
            "official": bool,
            "unofficial_changes": list,
            "vendor_file": (str, type(None)),
            "config_hash": str,
            "values": dict,
            "sources": dict,
        }
        for key, kind in expected.items():
            if key not in record:
                raise RecordError(f"{where} has no {key!r}", "the record is damaged; start a new run")
            if not isinstance(record[key], kind):
                raise RecordError(
                    f"{where}: {key!r} has the wrong type ({type(record[key]).__name__})",
                    "the record is damaged; start a new run",
                )
        resolved = cls(
            values=dict(record["values"]),
            sources={str(k): str(v) for k, v in record["sources"].items()},
            official=record["official"],
            unofficial_changes=tuple(str(c) for c in record["unofficial_changes"]),
            vendor_file=record["vendor_file"],
            preset=record["preset"],
        )
        if resolved.config_hash != record["config_hash"]:
            raise RecordError(
                f"{where}: values do not match config_hash (the file was edited after the run started)",
                "restore the original file or start a new run",
            )
        lacking = sorted(set(CORE_PARAMETERS) - set(resolved.values))
        if lacking:
            raise RecordError(
                f"{where} has no core key {', '.join(lacking)}: an earlier benchbase wrote it",
                "start a new run (a resumed run must train under the keys it started with)",
            )
        return resolved


def config_hash(values: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of the values, as ``sha256:<hex>``."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def resolve_config(
    parameters: Mapping[str, Param],
    preset: Preset,
    vendor_values: Mapping[Any, Any],
    vendor_file: Path | None,
    overrides: Mapping[Any, Any],
    unofficial: bool,
    *,
    case: str,
) -> ResolvedConfig:
    """Apply the layers in order and check every value against its declaration.

    A preset belongs to the case and may set immutable keys (its result stays official). A vendor file may never set
    an immutable key, even with ``--unofficial``: a tuned file must not change the workload. ``--set`` of an immutable
    key to a different value needs ``unofficial`` and is listed in ``unofficial_changes``; setting it to the value it
    already has changes nothing and is allowed.

    Overrides given as :class:`Overrides` name each key's own flag in errors; a plain mapping is "--set".
    """
    values: dict[str, Any] = {key: param.default for key, param in parameters.items()}
    sources: dict[str, str] = dict.fromkeys(parameters, SOURCE_DEFAULT)
    changes: list[str] = []

    preset_origin = f"preset '{preset.name}'"
    for key, raw in preset.values.items():
        param = _lookup(parameters, key, preset_origin)
        values[key] = coerce_value(key, param, raw, preset_origin)
        sources[key] = f"preset:{preset.name}"

    vendor_origin = f"vendor file {vendor_file}"
    for key, raw in vendor_values.items():
        param = _lookup(parameters, key, vendor_origin)
        if not param.mutable:
            raise BenchbaseError(
                f"{vendor_origin} sets {key!r}, which is immutable for case {case} (it defines the workload)",
                f"remove {key!r} from the file; vendor files may change only mutable keys",
            )
        values[key] = coerce_value(key, param, raw, vendor_origin)
        sources[key] = f"vendor:{vendor_file}"

    origins = overrides.origins if isinstance(overrides, Overrides) else {}
    for key, raw in overrides.items():
        origin = origins.get(key, "--set")
        param = _lookup(parameters, key, origin)
        value = coerce_value(key, param, raw, origin)
        if not param.mutable:
            if value == values[key]:
                continue
            if not unofficial:
                raise BenchbaseError(
                    f"{key!r} is immutable for case {case} (it defines the workload)",
                    "add --unofficial to change it (the result is then marked unofficial)",
                )
            changes.append(f"{key}: {json.dumps(values[key])} -> {json.dumps(value)}")
        values[key] = value
        sources[key] = SOURCE_SET

    return ResolvedConfig(
        values=values,
        sources=sources,
        official=not changes,
        unofficial_changes=tuple(changes),
        vendor_file=str(vendor_file) if vendor_file is not None else None,
        preset=preset.name,
    )


def _lookup(parameters: Mapping[str, Param], key: Any, origin: str) -> Param:
    if isinstance(key, str) and key in parameters:
        return parameters[key]
    close = difflib.get_close_matches(str(key), list(parameters), n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(parameters))}"
    raise BenchbaseError(f"unknown key {quote_value(key)} in {origin}", fix)


def choose_preset(case: Case, name: str | None) -> Preset:
    """The preset ``--preset`` names, or the case's default one."""
    presets = case.presets()
    chosen = name or case.default_preset
    if chosen not in presets:
        raise BenchbaseError(
            f"unknown preset '{chosen}' for case {case.name}", f"choose one of: {', '.join(sorted(presets))}"
        )
    return presets[chosen]


def collect_overrides(set_file: Path | None, sets: tuple[str, ...], timeout: float | None = None) -> Overrides:
    """--set-file, then --set, then --timeout (as ``timeout_s``), so a command line can adjust a saved file; each
    key keeps the flag it came from, which an error about its value names."""
    overrides = Overrides()
    if set_file is not None:
        overrides.add(load_yaml_file(set_file), f"--set-file {set_file}")
    overrides.add(parse_set(list(sets)), "--set")
    if timeout is not None:
        overrides.add({"timeout_s": timeout}, "--timeout")
    return overrides


def resolve_for(
    case: Case,
    vendor: Vendor,
    preset_name: str | None,
    nnodes: int,
    nproc: int,
    overrides: dict[str, Any],
    unofficial: bool,
    variant: str | None,
) -> ResolvedConfig:
    """Layers: case defaults < preset < the vendor's tuned file for this device and topology < --set.

    Without ``--variant``, the tuned file named after the preset (``BI-V100x1x8-large.yaml``) comes before the plain
    one (``BI-V100x1x8.yaml``).

    The tuned file joins only when it was tuned for this preset (:func:`read_tuned_file`); a variant the user named
    for another preset is refused rather than silently left out. A compile the installed torch cannot do, or a
    precision the case does not train in, is refused here, before a run directory exists.
    """
    preset = choose_preset(case, preset_name)
    device_model = checked.call(vendor, "device_model()", checked.DEVICE_MODEL, vendor.device_model)
    vendor_file = vendor_config_path(vendor.config_dir, case.name, device_model, nnodes, nproc, variant)
    if variant is None:
        vendor_file = (
            preset_config_path(vendor.config_dir, case.name, device_model, nnodes, nproc, preset.name) or vendor_file
        )
    vendor_values: dict[str, Any] = {}
    if vendor_file is not None:
        vendor_values, tuned_for = read_tuned_file(vendor_file, case.presets(), case.default_preset)
        if preset.name not in tuned_for:
            if variant is not None:
                raise BenchbaseError(
                    f"config variant {variant!r} ({vendor_file}) is tuned for preset {', '.join(tuned_for)}, "
                    f"not {preset.name}",
                    f"drop --variant, or run --preset {tuned_for[0]}",
                )
            vendor_file, vendor_values = None, {}
    parameters = merge_parameters(case.name, case.parameters(), case.defaults())
    resolved = resolve_config(parameters, preset, vendor_values, vendor_file, overrides, unofficial, case=case.name)
    check_compile_available(resolved.core, vendor.compile_by_default)
    precision = resolved.core.precision
    if precision not in case.recipe.precisions:
        raise BenchbaseError(
            f"case {case.name} does not train in precision {precision!r} (from {resolved.sources['precision']})",
            f"choose one of: {', '.join(case.recipe.precisions)}",
        )
    return resolved


def check_compile_available(core: CoreConfig, vendor_default: bool) -> None:
    """Refuse a compiled run on a torch without ``torch.compile`` (before 2.0, e.g. a vendor stack on 1.13).

    torch is imported only when the run compiles, so resolving a config stays free of it otherwise.
    """
    if not core.compile_enabled(vendor_default):
        return
    import torch

    if not hasattr(torch, "compile"):
        raise BenchbaseError(
            f"compile is on but torch {torch.__version__} has no torch.compile",
            "set --set compile=off (torch.compile needs torch 2.0 or newer)",
        )


def repeat_config(resolved: ResolvedConfig, index: int) -> ResolvedConfig:
    """Repeat ``index`` of ``--repeat K``: the configured seed plus the index, so each repeat draws its own
    initialisation, dropout and data order (MLPerf seeds every run) and Stability measures more than crashes; the
    first repeat keeps the configured seed, so a single run is the same with or without ``--repeat``. The seed and
    where it came from are recorded in ``config.yaml`` and ``summary.json``."""
    if index == 0:
        return resolved
    seed = resolved.core.seed + index
    source = f"{resolved.sources.get('seed', SOURCE_DEFAULT)} + repeat {index}"
    return dataclasses.replace(
        resolved, values={**resolved.values, "seed": seed}, sources={**resolved.sources, "seed": source}
    )
