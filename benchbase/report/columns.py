"""The standard table's columns, in the seed's order (DeepSparkHub CPM README).

What each column measures: docs/report-format.md, "The standard table".
"""

from __future__ import annotations

CRITERIA = "Convergence criteria"
CONFIGURATION = "Configuration"
PERFORMANCE = "Performance"
ACCURACY = "Accuracy"
POWER = "Power (W)"
SCALABILITY = "Scalability"
MEMORY = "Memory utilization (G)"
STABILITY = "Stability"

STANDARD_COLUMNS: tuple[str, ...] = (
    CRITERIA,
    CONFIGURATION,
    PERFORMANCE,
    ACCURACY,
    POWER,
    SCALABILITY,
    MEMORY,
    STABILITY,
)
#: Columns whose cells are numbers (right-aligned); Configuration is the one text column.
NUMERIC_COLUMNS = frozenset(STANDARD_COLUMNS) - {CONFIGURATION}

#: Units of the numeric columns, shown under the header where a header has room (terminal, HTML); the seed's
#: Markdown header is kept exactly, so every form also states them in the legend (:data:`READING`).
UNITS = {
    PERFORMANCE: "samples/s",
    POWER: "W per device",
    MEMORY: "GiB per device",
}
#: How to read a row, printed under every table: the header, kept as the seed's, cannot say it.
READING = (
    "Configuration: case and preset, vendor and device model, then SDK, bs:global batch (with micro-batch x "
    "accumulation per device when accumulating), devices (with fsdp when the model was sharded over them), "
    "precision",
    "Units: Performance in samples/s, all devices together, over the train window; Power (W) as W per device*devices; "
    "Memory utilization (G) as GiB peak/capacity per device*devices; Stability as converged/counted runs of one "
    "--repeat group; Scalability with the range and the runs it rests on",
)

#: Row prefixes in the Configuration cell, and what they mean (printed as a legend under the table).
UNOFFICIAL = "[unofficial]"
PUBLISHED = "[published]"
#: An official configuration whose runs fought for CPUs (:mod:`benchbase.report.marks`): refused a clean verdict.
CONTENDED_ROW = "[contended]"
#: A row holding a run whose record does not verify (``report --verify``; docs/records.md, "What verify guarantees").
UNVERIFIED_ROW = "[unverified]"
LEGEND = {
    UNOFFICIAL: "changed an immutable parameter (--unofficial); not comparable with official results",
    PUBLISHED: "quoted from a published source (named below), never recomputed",
    CONTENDED_ROW: "official configuration measured on a contended or oversubscribed host: not a clean official "
    "result; rerun on a quiet host (README, \"A clean figure\")",
    UNVERIFIED_ROW: "a run of the row does not verify: its record does not prove its figures (benchbase verify); "
    "its first finding:",
}

#: The efficiency table under the standard one: what a buyer compares across vendors (docs/report-format.md,
#: "The efficiency table"). Its first column repeats the standard table's Configuration, so each row is found again.
MFU = "MFU"
TFLOPS = "TFLOP/s per device"
SAMPLES_PER_JOULE = "Samples per joule"
EFFICIENCY_COLUMNS: tuple[str, ...] = (MFU, TFLOPS, SAMPLES_PER_JOULE)
#: How to read the efficiency table, printed under it.
EFFICIENCY_READING = (
    "Efficiency: MFU = achieved model FLOP/s per device over the vendor's declared peak for the precision; "
    "TFLOP/s per device = p_train x flops_per_sample / physical devices; Samples per joule = 1 / energy per sample; "
    "each the mean over the row's basis runs, in three significant figures",
)
