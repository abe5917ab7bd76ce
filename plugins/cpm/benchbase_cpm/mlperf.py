"""The CPM case as MLPerf's tools see it: its benchmark names, its ruleset and which config keys are its recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.kit import CONFIG_FILE, STATED, CaseProfile, Hyperparameter
from benchbase_cpm.reference_rules import BETAS, EPS

#: The compliance-checker config for CPM (package data; docs/mlperf.md, "The CPM ruleset").
RULESET = Path(__file__).resolve().parent / "mlperf_rules" / "cpm.yaml"


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def hyperparameters(values: Mapping[str, Any]) -> list[Hyperparameter]:
    """CPM's recipe (benchbase_cpm.recipe): AdamW with its constant betas and eps, and the peak lr, weight decay
    and warmup fraction of the record's config; the schedule is linear warmup over ``warmup * max_steps`` updates,
    then linear decay."""
    return [
        ("opt_name", "adamw", STATED),
        ("opt_base_learning_rate", values["lr"], CONFIG_FILE),
        ("opt_learning_rate_warmup_steps", _whole(float(values["warmup"]) * int(values["max_steps"])), CONFIG_FILE),
        ("opt_learning_rate_decay_schedule", "linear with linear warmup", STATED),
        ("opt_adamw_beta_1", BETAS[0], STATED),
        ("opt_adamw_beta_2", BETAS[1], STATED),
        ("opt_adamw_epsilon", EPS, STATED),
        ("opt_adamw_weight_decay", values["weight_decay"], CONFIG_FILE),
        ("gradient_accumulation_steps", values["grad_accum"], CONFIG_FILE),
        ("max_steps", values["max_steps"], CONFIG_FILE),
        ("max_sequence_length", values["seq_length"], CONFIG_FILE),
    ]


PROFILE = CaseProfile(
    case="cpm",
    benchmarks={"official": "cpm", "demo": "cpm_demo"},
    ruleset=RULESET,
    hyperparameters=hyperparameters,
    train_samples=("prepare", "facts", "train", "windows"),
    eval_samples=("prepare", "facts", "valid", "windows"),
)
