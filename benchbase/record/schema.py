"""The record's vocabulary, written down once: statuses and exit codes, file names, the fields of ``summary.json``
and the columns of the telemetry files (docs/records.md is the contract this module spells out).

Everything that writes or reads a record (the supervisor, the summary builder, the validator, the report) takes its
words from here, so a field added to :data:`SUMMARY_FIELDS` is written, validated, loaded and reported without a
second edit, and no two of them can disagree about what a record holds. Data only: no I/O, no behaviour beyond
looking things up in the tables below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from benchbase.contract import SensorReading
from benchbase.hardware.container import CONTAINER_KEYS  # noqa: F401 - the vocabulary names it here too

#: The summary schema ``benchbase run`` writes. Schema 2 replaced schema 1's one case-specific field (CPM's final
#: token accuracy) by ``final_extras`` and ``initial_extras``; the report still reads both.
SUMMARY_SCHEMA = 2
READABLE_SUMMARY_SCHEMAS = (1, 2)

# ---------------------------------------------------------------------------------------------------------------
# Statuses
# ---------------------------------------------------------------------------------------------------------------

#: The status of a record whose run has not ended (or whose supervisor died before it could say so).
RUNNING = "running"
CONVERGED = "converged"
NOT_CONVERGED = "not_converged"
FAILED = "failed"
TIMEOUT = "timeout"
INTERRUPTED = "interrupted"
#: The training loss stopped being a finite number: the run stopped, and its throughput measured no real training.
DIVERGED = "diverged"
#: Every final status and the exit code ``benchbase run`` ends with; 2 is left to bad input, as click uses it.
STATUS_EXIT_CODES: dict[str, int] = {
    CONVERGED: 0,
    NOT_CONVERGED: 3,
    FAILED: 4,
    TIMEOUT: 5,
    DIVERGED: 6,
    INTERRUPTED: 130,
}
FINAL_STATUSES: tuple[str, ...] = tuple(STATUS_EXIT_CODES)
#: Statuses whose run finished its training loop, so its throughput is a full measurement (not ``diverged``: its
#: steps after the loss went non-finite trained nothing, so its throughput is no figure of the hardware).
COMPLETED_STATUSES: tuple[str, ...] = (CONVERGED, NOT_CONVERGED)

# ---------------------------------------------------------------------------------------------------------------
# Files of a run folder
# ---------------------------------------------------------------------------------------------------------------

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"
ENV_FILE = "env.json"
EVENTS_FILE = "events.jsonl"
TELEMETRY_FILE = "telemetry.csv"
#: Beside ``telemetry.csv``: the host's and the run's cumulative CPU seconds at each sample.
CPU_LOAD_FILE = "cpu_load.csv"
#: Written by a node other than the first: the run id of the main record its record belongs to.
NODE_FILE = "node.json"
#: The lock that makes one supervisor the record's only writer (:mod:`benchbase.run.lock`).
LOCK_FILE = "run.lock"
#: Space set aside so a full disk cannot stop the record being finished; gone once the run ends.
RESERVE_FILE = ".reserve"
#: Written when a run ends: the size and sha256 of every other file of the record (:mod:`benchbase.record.manifest`).
MANIFEST_FILE = "manifest.json"
LOGS_DIR = "logs"
#: A rank's log in :data:`LOGS_DIR`; ``{rank}`` is its global rank.
RANK_LOG = "rank{rank}.log"
#: Other nodes' telemetry gathered into the main record: ``nodes/<node>/telemetry.csv``.
NODES_DIR = "nodes"
CHECKPOINT_DIR = "checkpoint"
#: The training state in :data:`CHECKPOINT_DIR`.
CHECKPOINT_FILE = "state.pt"
#: Files whose presence marks a folder as a run folder, even when its summary is missing.
RECORD_FILES: tuple[str, ...] = (SUMMARY_FILE, CONFIG_FILE, ENV_FILE, EVENTS_FILE, TELEMETRY_FILE)

# ---------------------------------------------------------------------------------------------------------------
# Keys inside JSON records
# ---------------------------------------------------------------------------------------------------------------

#: ``env.json``'s account of what produced the result: ``communication`` and ``kernels`` (each ``library`` and
#: ``version``), ``code`` (distribution -> ``version``, ``revision``, ``source``) and ``job``
#: (:mod:`benchbase.run.provenance`).
ENV_PROVENANCE = "provenance"
#: ``env.json``'s container this run ran in (``None`` on a bare host), its keys those of
#: :data:`CONTAINER_KEYS` plus ``sources`` (:mod:`benchbase.hardware.container`).
ENV_CONTAINER = "container"

#: Key under which a JSON object lists the numbers that JSON cannot hold (:mod:`benchbase.record.nonfinite`).
NONFINITE_KEY = "nonfinite"
#: Metadata key of an ``eval`` event under which the worker puts the case's extra numbers (name -> value).
EVAL_EXTRAS_KEY = "extras"
#: Metadata keys the worker itself puts on an ``eval`` event; older workers wrote the extras flat beside them.
EVAL_OWN_KEYS = frozenset({"eval_s", "start_ms", "end_ms"})
#: Metadata key of a ``step`` event: the global gradient norm of the logged step before clipping, present only when
#: the case's recipe clips (``Recipe.max_grad_norm``); not finite on an update the loss scaler skipped.
STEP_GRAD_NORM_KEY = "grad_norm"

#: ``windows`` of the summary: seconds of each timing window (docs/records.md, "windows"); the last, ``e2e_s``, is
#: the supervisor's, the others the worker's. ``train_s`` and ``core_s`` are the steady window's, after the
#: warm-up that ``warmup_s`` holds.
WINDOW_KEYS: tuple[str, ...] = (
    "init_s", "train_s", "eval_s", "core_s", "whole_s", "data_wait_s", "warmup_s", "e2e_s"
)
#: Window keys records gained after records were already written without them (the validator does not ask).
WINDOW_KEYS_ADDED: tuple[str, ...] = ("warmup_s",)
#: ``throughput`` of the summary: samples per second over the train, core, whole and end-to-end windows;
#: ``p_train`` and ``p_core`` count the samples after the warm-up only.
THROUGHPUT_KEYS: tuple[str, ...] = ("p_train", "p_core", "p_whole", "fps_e2e")
POWER_SOURCES: tuple[str, ...] = ("telemetry", "unavailable")
MEMORY_SOURCES: tuple[str, ...] = ("vendor", "telemetry", "unavailable")

# ---------------------------------------------------------------------------------------------------------------
# Telemetry columns
# ---------------------------------------------------------------------------------------------------------------

#: One column per sensor of :class:`benchbase.contract.SensorReading`, in its order: a sensor added there is a
#: column here, so the writer and the readers cannot fall out of step with the vendors' readings.
SENSOR_COLUMNS: tuple[str, ...] = tuple(
    field.name for field in dataclasses.fields(SensorReading) if field.name != "device"
)
#: ``telemetry.csv``'s header: when, which device of which node, its sensors, then the run's resident memory.
TELEMETRY_COLUMNS: tuple[str, ...] = ("time_ms", "node", "device", *SENSOR_COLUMNS, "rss_gib")
#: ``cpu_load.csv``'s header: when, the host's busy CPU seconds, the run's own CPU seconds and the telemetry sampler
#: thread's own CPU seconds (all cumulative; older records lack the last column).
CPU_LOAD_COLUMNS: tuple[str, ...] = ("time_ms", "host_busy_s", "run_cpu_s", "sampler_cpu_s")

# ---------------------------------------------------------------------------------------------------------------
# The fields of summary.json
# ---------------------------------------------------------------------------------------------------------------


class Kind(Enum):
    """The JSON type a field holds; the value is how messages name it."""

    NUMBER = "a number"
    INTEGER = "an integer"
    STRING = "a string"
    BOOLEAN = "a boolean"
    OBJECT = "an object"
    NUMBERS = "an object of numbers"
    VERSIONS = "an object of version strings"


@dataclass(frozen=True)
class Field:
    """One key of ``summary.json`` (or of one of its objects) and everything the code that handles it must know.

    A field may be null unless ``required``. ``always_present`` is false for fields schema 2 gained after records
    were already written without them: the validator does not ask for those. ``base`` fields are known to the
    supervisor before training and passed to the summary builder; the others the builder derives from the record.
    The report reads a field into its run under ``report_as`` (default: the field's name) unless ``reported`` is
    false; it skips a record lacking a field that ``identifies`` the run's configuration, and averages a ``mean``
    field over the runs of a row. ``keys`` are an object's own fields; ``choices`` the only values it may take.
    """

    name: str
    kind: Kind
    doc: str = ""
    required: bool = False
    always_present: bool = True
    base: bool = False
    reported: bool = True
    report_as: str | None = None
    identifies: bool = False
    mean: bool = False
    choices: tuple[str, ...] = ()
    keys: tuple[Field, ...] = ()

    @property
    def report_name(self) -> str:
        """The attribute of the report's run that holds this field."""
        return self.report_as or self.name


_NUMBER, _INT, _STR, _BOOL, _OBJECT = Kind.NUMBER, Kind.INTEGER, Kind.STRING, Kind.BOOLEAN, Kind.OBJECT


def _object(name: str, doc: str, *keys: Field, required: bool = True, always_present: bool = True) -> Field:
    """An object of the summary: the report reads its keys, never the object as a whole."""
    return Field(name, _OBJECT, doc, required=required, always_present=always_present, reported=False, keys=keys)


#: The summary's top-level fields in the order ``summary.json`` writes them (docs/records.md, "summary.json").
SUMMARY_FIELDS: tuple[Field, ...] = (
    Field("schema", _INT, "the summary schema, :data:`SUMMARY_SCHEMA`", required=True, reported=False),
    Field("run_id", _STR, required=True, base=True, identifies=True),
    Field("case", _STR, required=True, base=True, identifies=True),
    Field("preset", _STR, base=True, identifies=True),
    Field("vendor", _STR, required=True, base=True, identifies=True),
    Field(
        "official", _BOOL, "whether the config is the case's official one", required=True, base=True, identifies=True
    ),
    Field("status", _STR, "``running`` or one of :data:`FINAL_STATUSES`", required=True, base=True, identifies=True),
    Field("exit_code", _INT, "the code :data:`STATUS_EXIT_CODES` gives the status; null while running", base=True),
    Field("reason", _STR, "why the run ended as it did, in one line", base=True),
    Field("started_at", _STR, "UTC, ``2026-11-28T08:00:00Z``", base=True),
    Field("ended_at", _STR, "UTC, ``2026-11-28T08:00:00Z``", base=True),
    Field("nnodes", _INT, base=True, identifies=True),
    Field("nproc_per_node", _INT, base=True, identifies=True),
    Field("world_size", _INT, base=True, identifies=True),
    Field(
        "devices",
        _INT,
        "the physical devices the per-device figures (power, energy per sample, MFU) divide by: ranks sharing one "
        "device count it once; ``world_size`` where the record cannot say",
        always_present=False,
    ),
    Field("node_rank", _INT, base=True),
    Field("main_run_id", _STR, "the run id of node 0's record, on the records of the other nodes", base=True),
    Field("repeat_group", _STR, "the ``--repeat`` group the run belongs to", base=True),
    Field("repeat_index", _INT, base=True),
    Field(
        "seed",
        _INT,
        "the seed the run trained with (each repeat of a group has its own)",
        always_present=False,
        base=True,
    ),
    Field("device_model", _STR, base=True, identifies=True),
    Field("sdk", _STR, "the vendor's SDK label; null when its environment() gave none", base=True),
    Field("precision", _STR, base=True, identifies=True),
    Field(
        "parallelism",
        _STR,
        "the core key ``parallelism``: ``ddp`` (every rank holds the whole model) or ``fsdp`` (sharded over the "
        "ranks); absent from records made before the key, which all trained with DDP",
        always_present=False,
        base=True,
    ),
    Field("per_device_batch", _INT, base=True, identifies=True),
    Field("global_batch", _INT, "samples per optimizer step, from the worker's ``run_start``", identifies=True),
    Field("grad_accum", _INT, base=True),
    Field("metric_name", _STR, base=True, identifies=True),
    Field("target", _NUMBER, base=True, identifies=True),
    Field(
        "higher_is_better",
        _BOOL,
        "whether a higher metric is better (the target a lower bound) or a lower one (an upper bound); records made "
        "before it lack it and mean higher (benchbase.record.target)",
        always_present=False,
        base=True,
    ),
    Field("final_metric", _NUMBER, "the metric of the last evaluation", mean=True),
    Field("final_extras", Kind.NUMBERS, "the case's extras of the last evaluation, by name in the case's order"),
    Field("initial_metric", _NUMBER, "the metric of the first evaluation", mean=True),
    Field("initial_extras", Kind.NUMBERS, "the case's extras of the first evaluation", reported=False),
    Field(
        "final_eval_samples",
        _INT,
        "samples the last evaluation scored, all ranks together: the whole validation split at every world size",
        always_present=False,
    ),
    Field("steps", _INT, mean=True),
    Field("samples", _INT, mean=True),
    Field("converged_step", _INT),
    Field("converged_samples", _INT),
    _object(
        "windows",
        "seconds of each timing window; the supervisor measures ``e2e_s``, the worker the others",
        *(
            Field(key, _NUMBER, base=key == "e2e_s", mean=key in ("data_wait_s", "e2e_s"),
                  always_present=key not in WINDOW_KEYS_ADDED)
            for key in WINDOW_KEYS
        ),
    ),
    _object(
        "throughput",
        "samples per second over each window",
        *(Field(key, _NUMBER, mean=True) for key in THROUGHPUT_KEYS),
    ),
    Field("time_to_target_s", _NUMBER, mean=True),
    Field("flops_per_sample", _NUMBER),
    Field("peak_flops_per_device", _NUMBER, base=True, mean=True),
    Field("mfu", _NUMBER, "model FLOP/s utilisation over the train window", mean=True),
    _object(
        "power",
        "power and energy per physical device over the attempts, evaluations and warm-ups excluded",
        Field("mean_w_per_device", _NUMBER, report_as="power_w_per_device", mean=True),
        Field("energy_per_sample_j", _NUMBER, mean=True),
        Field("source", _STR, report_as="power_source", choices=POWER_SOURCES),
        Field("energy_source", _STR, "``counter`` or ``mean_power``", reported=False),
        Field(
            "samples_per_device",
            _INT,
            "the fewest telemetry samples any device contributed to the mean",
            always_present=False,
            reported=False,
        ),
        Field(
            "too_few_samples",
            _BOOL,
            "whether the power figures rest on too few samples (benchbase.record.power.MIN_POWER_SAMPLES) or on a "
            "sampler that fell below half its configured rate",
            always_present=False,
        ),
    ),
    _object(
        "telemetry",
        "how well the sampler kept its configured rate over the attempts",
        Field("interval_s", _NUMBER, "the configured interval; 0 means telemetry was off", reported=False),
        Field("achieved_hz", _NUMBER, "the lowest rate any device was sampled at", reported=False),
        Field("longest_gap_s", _NUMBER, "the longest time any device went without a sample", reported=False),
        Field("rows", _INT, "the rows of every node's telemetry.csv", reported=False),
        Field("sampler_cpu_s", _NUMBER, "the sampler thread's own CPU seconds over the run (this node's)",
              reported=False, always_present=False),
        Field("sampler_cpu_per_sample_ms", _NUMBER, "the sampler's CPU milliseconds per sample", reported=False,
              always_present=False),
        required=False,
        always_present=False,
    ),
    _object(
        "harness",
        "the harness's own CPU time, a measure of its overhead",
        Field("supervisor_cpu_s", _NUMBER, base=True, reported=False),
        Field("events_cpu_s", _NUMBER, reported=False),
        Field("cpu_s", _NUMBER, reported=False),
        Field("share_of_train", _NUMBER, report_as="harness_cpu_share", mean=True),
    ),
    _object(
        "threads",
        "intra-op threads of each rank by global rank: ``policy`` the core's (the CPUs of the rank's binding), "
        "``used`` what the rank ran with after its vendor set up the device; null in records made before it",
        Field("policy", Kind.NUMBERS, report_as="threads_policy"),
        Field("used", Kind.NUMBERS, report_as="threads_used"),
        required=False,
        always_present=False,
    ),
    _object(
        "memory",
        "peak memory per device",
        Field("peak_gib_per_device", _NUMBER, report_as="peak_memory_gib_per_device", mean=True),
        Field("source", _STR, reported=False, choices=MEMORY_SOURCES),
    ),
    Field(
        "device_memory_total_gib",
        _NUMBER,
        "one device's memory capacity, for the used/total memory cell",
        always_present=False,
        mean=True,
    ),
    Field("config_hash", _STR, base=True),
    _object(
        "host",
        "where the run ran and whether it had its CPUs to itself; null without an env.json",
        Field("hostname", _STR),
        Field("cpus", _INT, report_as="host_cpus"),
        Field("ranks", _INT, reported=False),
        Field("threads", _INT, report_as="host_threads"),
        Field("oversubscribed", _BOOL, "more ranks or threads than the CPUs the run may use"),
        Field("others_cpu_share", _NUMBER, "the share of the host's CPU time other processes took in the attempts"),
        Field("contended", _BOOL, "whether others took more than a tenth of the host's CPU time in the attempts"),
        required=False,
        always_present=False,
    ),
    Field("software", Kind.VERSIONS, "the versions of the packages that shape a result", always_present=False),
    _object(
        "provenance",
        "what produced the result, from ``env.json`` ``provenance``; null in records made before it",
        Field("communication", _STR, "the collective library and its version, e.g. ``nccl 2.21.5``",
              report_as="communication_library"),
        Field("kernels", _STR, "the kernel library and its version, e.g. ``cudnn 9.1.0``", report_as="kernel_library"),
        Field("code", Kind.VERSIONS, "each benchbase distribution's revision, e.g. ``git <commit>+dirty``",
              report_as="code_revisions"),
        Field("job", _STR, "the scheduler's job, e.g. ``slurm job 4242``; never part of a row's identity"),
        required=False,
        always_present=False,
    ),
)


#: Keys the supervisor adds after the schema's fields, about the attempt rather than the measurement: the sensor
#: errors the sampler met, the rendezvous the ranks actually used, the lifecycle hooks (observers) that raised.
TELEMETRY_ERRORS, RENDEZVOUS, OBSERVER_ERRORS = "telemetry_errors", "rendezvous", "observer_errors"
SUMMARY_EXTRAS: tuple[str, ...] = (TELEMETRY_ERRORS, RENDEZVOUS, OBSERVER_ERRORS)


def field_names() -> tuple[str, ...]:
    """The summary's top-level keys; any other key of a summary is an extra (``telemetry_errors``...)."""
    return tuple(field.name for field in SUMMARY_FIELDS)


def base_field_names() -> frozenset[str]:
    """What the supervisor may pass to the summary builder: the base fields, an object's own by their key."""
    return frozenset(field.name for _, field in _all_fields() if field.base)


def reported_fields() -> Iterator[tuple[tuple[str, ...], Field]]:
    """Every field the report reads, with its place in the summary (``("power", "mean_w_per_device")``)."""
    return ((location, field) for location, field in _all_fields() if field.reported)


def report_means() -> tuple[str, ...]:
    """The report's names of the fields a row averages over its runs."""
    return tuple(field.report_name for _, field in reported_fields() if field.mean)


def _all_fields() -> Iterator[tuple[tuple[str, ...], Field]]:
    for field in SUMMARY_FIELDS:
        yield (field.name,), field
        for key in field.keys:
            yield (field.name, key.name), key
