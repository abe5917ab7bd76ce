"""What the MLPerf export needs to know about a case, supplied by the case's plugin (its
``benchbase_mlperf_profile`` hook, :mod:`benchbase.export.mlperf.hookspecs`).

The core's exporter knows the MLPerf log format and the record; which config keys are a case's optimizer settings,
what its benchmark is called and which ruleset checks it are the case's knowledge, so they live in its plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The source a hyperparameter line names: the record file it came from, or the export itself for stated facts.
STATED = "benchbase-export"

#: One hyperparameter line: MLPerf key, value, the record file it came from (a file name of
#: :mod:`benchbase.record.schema`, e.g. ``CONFIG_FILE``) or STATED.
Hyperparameter = tuple[str, Any, str]


@dataclass(frozen=True)
class CaseProfile:
    """What the export needs to know about one case: its MLPerf benchmark names, ruleset and hyperparameter keys."""

    case: str
    #: preset -> ``submission_benchmark`` (a preset without a name here is refused: its ruleset would not know it)
    benchmarks: Mapping[str, str]
    #: the compliance-checker config the case's plugin ships (a path to its package data)
    ruleset: Path
    #: config values (``config.yaml`` ``values``) -> the case's MLPerf hyperparameter lines, in log order
    hyperparameters: Callable[[Mapping[str, Any]], list[Hyperparameter]]
    #: where ``env.json`` holds the training and evaluation set sizes (samples)
    train_samples: tuple[str, ...]
    eval_samples: tuple[str, ...]
