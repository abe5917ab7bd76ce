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
import hashlib
import json
import math
import re
import reprlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchbase.contract import Param, Preset
from benchbase.errors import BenchbaseError
from benchbase.record.rundir import RecordError, check_name

#: The data order draws ``RandomState(seed + epoch)``, which takes seeds below 2**32, and ``--repeat`` adds the
#: repeat's index to the seed: half of that range stays free for epochs and repeats.
MAX_SEED = 2**31 - 1
#: Per-device batch and accumulation: far above any device's memory, far below an int64 element count.
MAX_BATCH = 2**20
#: A year. Timers and ``sleep`` refuse timeouts near the float maximum (OverflowError), so the range ends here.
MAX_TIMEOUT_S = 365 * 24 * 3600.0
#: Every integer key's range ends here unless it declares a lower ``maximum``: beyond 2**53 a JSON record (and any
#: float arithmetic on steps or samples) no longer holds the value exactly.
INT_LIMIT = 2**53
#: Every string key (a path, a name) is at most this long: PATH_MAX on Linux.
MAX_TEXT_CHARS = 4096
#: Nodes and processes per node of ``--config NxM``: larger than any cluster benchbase is run on.
MAX_TOPOLOGY = 4096

CORE_PARAMETERS: dict[str, Param] = {
    "precision": Param(
        "auto",
        "arithmetic precision; 'auto' lets the vendor choose what its hardware trains best with",
        choices=("auto", "fp32", "bf16", "fp16", "amp"),
    ),
    "log_interval": Param(10, "steps between logged step events", minimum=1),
    "telemetry_interval_s": Param(
        1.0, "seconds between telemetry samples; 0 = off (no sampler, no power or memory curves)", minimum=0.05,
        maximum=3600.0, zero_means_off=True,
    ),
    "timeout_s": Param(
        0.0, "wall-clock limit of the whole run in seconds; 0 = no limit", minimum=0, maximum=MAX_TIMEOUT_S
    ),
    "checkpoint_every": Param(0, "steps between checkpoints for --resume; 0 = never", minimum=0),
    # The keys every case has: the core trainer, the supervisor and the report read these and only these.
    "batch_size": Param(1, "per-device micro-batch", minimum=1, maximum=MAX_BATCH),
    "grad_accum": Param(1, "micro-batches accumulated per optimizer step", minimum=1, maximum=MAX_BATCH),
    "eval_batch_size": Param(1, "per-device evaluation batch", minimum=1, maximum=MAX_BATCH),
    "max_steps": Param(1000, "step budget (optimizer steps)", minimum=1),
    "max_samples": Param(0, "sample budget (0 = none)", minimum=0),
    "target": Param(0.0, "metric value that counts as converged (higher is better)", mutable=False),
    "eval_interval_samples": Param(
        1, "evaluate every ceil(this / global batch) steps, and once before training", mutable=False, minimum=1
    ),
    "seed": Param(0, "seed of initialisation, dropout and data order", minimum=0, maximum=MAX_SEED),
    "compile": Param(
        "vendor", "torch.compile the model for training: on, off, or the vendor's default", choices=("vendor", "on", "off")
    ),
}

SOURCE_DEFAULT = "default"
SOURCE_SET = "set"

_TOPOLOGY = re.compile(r"(\d+)x(\d+)")

#: A config is a few dozen ``key: value`` lines (the largest shipped one is under 2 KB); a file beyond this is the
#: wrong file (``/dev/zero``, a dataset), and reading it whole would exhaust memory first.
MAX_CONFIG_BYTES = 1 << 20
#: Nesting of lists and mappings in a config, aliases expanded. Values are scalars, so 2 levels would do; PyYAML
#: composes recursively and would end in a RecursionError near 1000.
MAX_DEPTH = 32
#: Values (keys, scalars, lists and mappings) a config may hold, every alias counted as the whole node it names: a
#: few aliases of aliases ("billion laughs") otherwise expand to gigabytes in whatever walks the result. Every
#: parameter is a single value, so a config of all of a case's keys holds under 200.
MAX_NODES = 1_000


def _quoting() -> reprlib.Repr:
    """How much of a bad value an error message quotes: a few items, two levels, 80 characters of a string."""
    quote = reprlib.Repr()
    quote.maxlevel, quote.maxstring, quote.maxother = 2, 80, 80
    quote.maxdict = quote.maxlist = quote.maxtuple = quote.maxset = 4
    return quote


_QUOTE = _quoting()


class ConfigTooLarge(yaml.composer.ComposerError):
    """A YAML document nested or expanding beyond :data:`MAX_DEPTH` / :data:`MAX_NODES`."""


class UnreadableValue(yaml.constructor.ConstructorError):
    """A scalar that YAML resolves to a type whose constructor refuses it (``2001-13-01``, a 5000-digit integer)."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and bounding what a document may expand to.

    Duplicate keys: PyYAML keeps the last one silently, which would let a tuned file say ``batch_size`` twice and run
    with whichever came second. Bounds: nesting and values are counted while composing (long before Python's
    recursion limit, and before a megabyte of small values is composed), and the composed document is then measured
    with every alias expanded (each node measured once), before anything is constructed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Counted as they are composed: PyYAML is pure Python here, and composing a whole megabyte of small values
        # before measuring it took most of a minute.
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigTooLarge(None, None, f"is nested more than {MAX_DEPTH} levels deep", mark)
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark
                raise ConfigTooLarge(None, None, f"holds more than {MAX_NODES} values", mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _measure(node, 1, {})
        return node  # type: ignore[no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base constructor reports it with its position
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _measure(node: yaml.Node, depth: int, seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """``(values, levels)`` of ``node`` at nesting ``depth``, aliases expanded; raises :class:`ConfigTooLarge` past
    the bounds. ``seen`` holds each measured node by identity, so an alias costs a lookup, not a walk of its node."""
    known = seen.get(id(node))
    if known is None:
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        values, levels = 1, 0
        for child in children:
            child_values, child_levels = _measure(child, depth + 1, seen)
            values += child_values
            levels = max(levels, child_levels)
            if values > MAX_NODES:
                raise ConfigTooLarge(
                    None, None, f"expands to more than {MAX_NODES} values (each alias counted whole)", node.start_mark
                )
        known = seen[id(node)] = (values, levels + 1)
    if depth - 1 + known[1] > MAX_DEPTH:
        raise ConfigTooLarge(
            None, None, f"is nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark
        )
    return known


def _safe_load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, OverflowError) as exc:
        # A constructor's own error, e.g. an integer of 5000 digits (Python refuses to convert it) or 2001-13-01
        # read as a date: bad input like any YAML error, so it is raised as one.
        raise UnreadableValue(None, None, f"cannot be read ({exc})", None) from None


def load_yaml_file(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; an empty file is an empty mapping (a tuned file that changes nothing).

    Every failure names the file (and for syntax errors the line and column) because the user has to go and edit it.
    At most :data:`MAX_CONFIG_BYTES` are read: a larger file (or ``/dev/zero``) is refused before it fills memory.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise BenchbaseError(
                f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB, far more than any config",
                "check that the path names a YAML file of 'key: value' lines",
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise BenchbaseError(f"config file {path} does not exist", "check the path") from None
    except UnicodeDecodeError as exc:
        raise BenchbaseError(f"config file {path} is not UTF-8 text ({exc.reason})", "save it as UTF-8") from None
    except OSError as exc:
        raise BenchbaseError(
            f"cannot read config file {path}: {exc.strerror}", "check the path and permissions"
        ) from None
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, ConfigTooLarge):
            raise BenchbaseError(
                f"config file {path}{where} {problem}", "write the config as 'key: value' lines of single values"
            ) from None
        raise BenchbaseError(f"malformed YAML in {path}{where}: {problem}", "fix the YAML there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BenchbaseError(
            f"config file {path} holds a {type(data).__name__} at the top level, not a mapping",
            "write it as 'key: value' lines",
        )
    return data


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
            f"bad --config {_QUOTE.repr(text)}: expected NxM (nodes x processes per node) with N and M from 1 to "
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
    and booleans arrive typed. A key given twice keeps the last value, as in most command lines."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise BenchbaseError(f"bad --set {item!r}", "write it as key=value, e.g. --set batch_size=16")
        try:
            result[key] = _safe_load(raw)
        except ConfigTooLarge as exc:
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
    raise BenchbaseError(f"unknown key {_QUOTE.repr(key)} in {origin}", fix)


def coerce_value(key: str, param: Param, raw: Any, origin: str) -> Any:
    """Convert ``raw`` to the parameter's type and check choices and range.

    Numbers are accepted as numeric strings too, because YAML 1.1 (PyYAML) reads ``5e-4`` and ``1.0e3`` as strings.
    An int accepts an integral float (``1000.0``); a float accepts an int; a bool accepts only a bool (so ``1`` is
    not silently true); non-finite numbers are refused. A parameter whose default is ``None`` has no type to coerce
    to and accepts any YAML scalar.

    Every value has a range: a number's is its declared ``minimum``/``maximum``, an integer's ends at
    :data:`INT_LIMIT` (either sign) unless declared lower, and a string has at most :data:`MAX_TEXT_CHARS`
    characters. So a value that would fail only later, in a rank (a seed numpy refuses, a batch no allocator can
    serve), is refused here, before a run directory exists.
    """
    if raw is None:
        if param.nullable or param.default is None:
            return None
        raise _bad_value(key, raw, origin, "a value (this key cannot be null)")
    kind = param.kind
    if kind is bool:
        if not isinstance(raw, bool):
            raise _bad_value(key, raw, origin, "true or false")
        value: Any = raw
    elif kind is int:
        number = _as_number(raw)
        if number is None or (isinstance(number, float) and not number.is_integer()):
            raise _bad_value(key, raw, origin, "an integer")
        value = int(number)
    elif kind is float:
        number = _as_number(raw)
        if number is None:
            raise _bad_value(key, raw, origin, "a number")
        value = float(number)
    elif kind is str:
        if not isinstance(raw, str):
            raise _bad_value(key, raw, origin, "a string")
        value = raw
    elif kind is type(None):
        if not isinstance(raw, (str, int, float, bool)) or (isinstance(raw, float) and not math.isfinite(raw)):
            raise _bad_value(key, raw, origin, "a single finite value")
        value = raw
    else:
        raise ValueError(f"parameter {key!r} has a default of unsupported type {kind.__name__}")
    if param.choices is not None and value not in param.choices:
        raise _bad_value(key, raw, origin, "one of " + ", ".join(str(c) for c in param.choices))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_range(key, param, value, raw, origin)
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise _bad_value(key, raw, origin, f"a string of at most {MAX_TEXT_CHARS} characters")
    return value


def _check_range(key: str, param: Param, value: float, raw: Any, origin: str) -> None:
    """The declared range, and for integers the :data:`INT_LIMIT` bound on both sides."""
    minimum = param.minimum if param.minimum is not None else (-INT_LIMIT if isinstance(value, int) else None)
    maximum = param.maximum if param.maximum is not None else (INT_LIMIT if isinstance(value, int) else None)
    if minimum is not None and value < minimum and not (param.zero_means_off and value == 0):
        off = ", or 0 for off" if param.zero_means_off else ""
        raise _bad_value(key, raw, origin, f"a number >= {_number(minimum)}{off}")
    if maximum is not None and value > maximum:
        raise _bad_value(key, raw, origin, f"a number <= {_number(maximum)}")


def _number(bound: float) -> str:
    """A bound as a user types it: ``2147483647``, ``0.05``."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _as_number(raw: Any) -> int | float | None:
    """A finite int or float from a number or a numeric string; ``None`` if it is neither (bools are not numbers)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _bad_value(key: str, raw: Any, origin: str, expected: str) -> BenchbaseError:
    # reprlib, not repr: a value may be a list of thousands of items, and repr would build all of it first.
    return BenchbaseError(f"bad value {_QUOTE.repr(raw)} for {key!r} in {origin}", f"expected {expected}")
