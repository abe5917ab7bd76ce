"""How ``telemetry.csv`` cells are read (:func:`benchbase.record.telemetry_file.telemetry_lines`): every number as
the record layer bounds numbers (beyond 1e30 infinite, subnormal 0, NaN kept as NaN), and a reading that is not a
finite number is no reading; quoted and unquoted rows alike, a repeated column read from its last place."""

from __future__ import annotations

import math
from pathlib import Path

from benchbase.record.files import bounded_float
from benchbase.record.telemetry_file import telemetry_lines

HEADER = "time_ms,node,device,power_w,energy_j,memory_used_gib,memory_total_gib,utilization_pct,temperature_c," \
         "clock_mhz,rss_gib"


def rows_of(tmp_path: Path, text: str) -> list:
    path = tmp_path / "telemetry.csv"
    path.write_text(text)
    return list(telemetry_lines(path))


def test_each_reading_is_bounded_as_every_record_number_is(tmp_path: Path) -> None:
    cells = ["1e31", "-1e30", "nan", "inf", "5e-324", "-0.0", "9.99e29", " 42.5 "]
    (row,) = rows_of(tmp_path, f"{HEADER}\n1000,0,1,{','.join(cells)}\n")
    readings = [row[name] for name in ("power_w", "energy_j", "memory_used_gib", "memory_total_gib",
                                       "utilization_pct", "temperature_c", "clock_mhz", "rss_gib")]
    expected = [None if not math.isfinite(bounded_float(cell)) else bounded_float(cell) for cell in cells]
    assert readings == expected == [None, None, None, None, 0.0, -0.0, 9.99e29, 42.5]
    assert math.copysign(1.0, readings[5]) == -1.0
    assert (row["time_ms"], row["node"], row["device"]) == (1000.0, 0, 1)


def test_quoted_and_unquoted_rows_read_alike_and_bad_rows_are_none(tmp_path: Path) -> None:
    text = (f"{HEADER}\n"
            "1000,0,0,100,,,,,,,\n"
            '"1100","0","0","101",,,,,,,\n'
            "1200,0,x,102,,,,,,,\n"
            ",0,0,103,,,,,,,\n")
    plain, quoted, bad_device, no_time = rows_of(tmp_path, text)
    assert (plain["power_w"], quoted["power_w"], quoted["time_ms"]) == (100.0, 101.0, 1100.0)
    assert plain["energy_j"] is None
    assert bad_device is None and no_time is None


def test_a_repeated_column_is_read_from_its_last_place_and_a_missing_one_is_empty(tmp_path: Path) -> None:
    (row,) = rows_of(tmp_path, "time_ms,node,device,power_w,power_w\n1000,0,0,1,2\n")
    assert row["power_w"] == 2.0
    assert row["rss_gib"] is None
