"""Real runs at 1x1, 1x2 and 1x3 score the same validation samples to the same metric, and say how many.

The example case's 1024 validation points in eval batches of 100 divide neither by the batch nor by batch x 2 or
x 3 ranks, so any topology that dropped a tail (the reference's ``drop_last``) would score fewer. The evaluation
before training runs on identical weights at every topology (the same seed builds them, DDP broadcasts rank 0's), so
its metric and extras must agree to fp rounding of the summation order. The count is read back from the raw
events, ``summary.json`` and the size the case's ``prepare`` recorded in ``env.json``, which must all say the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchbase.record.events import read_events
from conftest import run_benchbase
from test_example_case import case_site  # noqa: F401 (the fixture installing the example case)

VALIDATION_SPLIT = 1024
EVAL_BATCH = 100
COMMON = ["run", "spirals", "--vendor", "cpu", "--set", "max_steps=2", "--set", f"eval_batch_size={EVAL_BATCH}"]


def first_and_last_eval(record: Path) -> tuple[dict, dict]:
    evals = [event for event in read_events(record / "events.jsonl") if event["key"] == "eval"]
    return evals[0], evals[-1]


def test_every_topology_scores_the_whole_validation_split_to_the_same_metric(
    case_site: Path, cache_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    before_training = {}
    for topology in ("1x1", "1x2", "1x3"):
        out = tmp_path / topology
        result = run_benchbase([*COMMON, "--config", topology, "--out", str(out)], cache_dir, tmp_path,
                               PYTHONPATH=str(case_site))
        assert result.returncode == 3, result.stdout + result.stderr
        (record,) = out.iterdir()
        first, last = first_and_last_eval(record)
        assert first["step"] == 0
        for event in (first, last):
            assert event["metadata"]["eval_samples"] == VALIDATION_SPLIT
            assert event["metadata"]["eval_batches"] == 11  # ten of 100, one of 24
        summary = json.loads((record / "summary.json").read_text())
        assert summary["final_eval_samples"] == last["metadata"]["eval_samples"]
        prepared = json.loads((record / "env.json").read_text())["prepare"]
        assert summary["final_eval_samples"] == prepared["eval_points"], "the split the case prepared, all of it"
        before_training[topology] = first
    single = before_training["1x1"]
    for topology in ("1x2", "1x3"):
        other = before_training[topology]
        assert other["value"] == pytest.approx(single["value"], abs=1e-6), topology
        assert other["metadata"]["extras"] == pytest.approx(single["metadata"]["extras"], abs=1e-6), topology
