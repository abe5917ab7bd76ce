"""Benchmark 7 runs end to end on tiny records and reports each command at each size, the fits and a verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import long_record


@pytest.mark.slow  # nine child processes, three of which import torch through the CPM plugin: about 40 s here
def test_each_command_is_measured_at_each_size_and_judged(tmp_path: Path) -> None:
    result = long_record.run(fractions=(1 / 2000, 1 / 1000, 1 / 500))
    text = "\n".join(result.lines())
    for command in long_record.COMMANDS:
        assert sum(line.strip().startswith(command) and "rows:" in line for line in result.notes) == 3
        assert sum(line.startswith(f"{command} ") and "start-up (" in line for line in result.notes) == 1
        assert sum(line.strip().startswith(command) and "of it the command's work" in line
                   for line in result.notes) == 3
        assert f"{command} fit: CPU s =" in text
    assert "verdict: peak RSS" in text and result.figure is not None and result.figure.value in (0.0, 1.0)


def test_the_synthetic_record_has_the_shape_asked_for(tmp_path: Path) -> None:
    shape = long_record.Shape(hours=0.01, devices=2, steps=300, resumed=True, evals=6)
    folder = long_record.write_long_record(tmp_path / "runs" / "r", shape)
    events = (folder / "events.jsonl").read_text().splitlines()
    assert sum('"key": "step"' in line for line in events) == 300
    assert sum('"key": "eval"' in line for line in events) == 6
    assert sum('"key": "resume"' in line for line in events) == 1
    rows = (folder / "telemetry.csv").read_text().splitlines()[1:]
    assert {row.split(",")[2] for row in rows} == {"0", "1"}


def test_linear_time_has_exponent_one_and_quadratic_time_two() -> None:
    def at(rows: int, work_s: float) -> long_record.Measured:
        return long_record.Measured("summary", rows, 0.4 + work_s, 50.0, work_s)

    assert long_record.growth_exponent(at(1000, 1.0), at(16_000, 16.0)) == 1.0
    assert long_record.growth_exponent(at(1000, 1.0), at(16_000, 256.0)) == 2.0
    assert long_record.growth_exponent(at(1000, 0.0), at(16_000, 9.0)) == float("inf"), "not measurable"


def test_the_work_is_measured_apart_from_the_start_up(tmp_path: Path) -> None:
    small = long_record.write_long_record(tmp_path / "small" / "runs" / "r", long_record.Shape.fraction(1 / 4000))
    large = long_record.write_long_record(tmp_path / "large" / "runs" / "r", long_record.Shape.fraction(1 / 200))
    measured = long_record.measure("mlperf", large, tmp_path, start_up=small)
    assert 0 < measured.work_s < measured.cpu_s
    assert measured.start_up_s > measured.work_s / 10, "the interpreter and the imports are in the start-up"


def test_a_commands_peak_is_its_own_not_the_memory_of_the_process_that_started_it(tmp_path: Path) -> None:
    folder = long_record.write_long_record(tmp_path / "runs" / "r", long_record.Shape.fraction(1 / 4000))
    parent_memory = bytearray(400 * 1024 * 1024)
    parent_memory[:: 4096] = b"\x01" * len(range(0, len(parent_memory), 4096))  # touched: resident, not just mapped
    measured = long_record.measure("summary", folder, tmp_path, start_up=folder)
    assert 0 < measured.peak_mb < 300  # ru_maxrss would have read the parent's 400 MB and more
