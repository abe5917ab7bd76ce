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

#: Row prefixes in the Configuration cell, and what they mean (printed as a legend under the table).
UNOFFICIAL = "[unofficial]"
PUBLISHED = "[published]"
LEGEND = {
    UNOFFICIAL: "changed an immutable parameter (--unofficial); not comparable with official results",
    PUBLISHED: "quoted from a published source (named below), never recomputed",
}
