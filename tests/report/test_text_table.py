"""The plain-text tables of ``report --format table`` are the characters rich prints, laid out without rich.

:func:`benchbase.report.text_table.plain_table` exists for speed alone (a 10,000-run table took rich seconds), so
its one promise is rich's output: here on random tables that wrap, fold, narrow and keep columns on one line, and on
a real report; and, where it declines a table, rich still prints it.
"""

from __future__ import annotations

import io
import random

import pytest
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from benchbase.report import build_report, load_runs, render_rich
from benchbase.report.render_text import render_text
from benchbase.report.text_table import TextColumn, TextTable, plain_table

WORDS = ("0.91", "n/a", "(contended:", "other", "processes", "used", "36%", "of", "the", "CPUs)", "1 (baseline)",
         "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:32, 1x, AMP", "†", "227*1",
         "cpm_cpu_1x1_000477_a_run_id_longer_than_any_column_is_wide", "", " ", "x")


def rich_text(table: TextTable, width: int) -> str:
    """What rich prints for ``table`` on a colourless console ``width`` wide: the reference."""
    rich_table = Table(title=table.title, box=box.SIMPLE_HEAVY, header_style="bold", title_style="bold")
    for column in table.columns:
        rich_table.add_column(column.header, justify="right" if column.right else "left", overflow="fold",
                              no_wrap=column.no_wrap, min_width=column.min_width)
    for index, row in enumerate(table.rows):
        rich_table.add_row(*(Text(cell) for cell in row), end_section=index in table.section_ends)
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True, legacy_windows=False)
    console.print(rich_table)
    return console.export_text()


def random_table(rng: random.Random) -> TextTable:
    columns = [TextColumn(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
                          + ("\n(unit per device)" if rng.random() < 0.3 else ""),
                          right=rng.random() < 0.6, no_wrap=rng.random() < 0.25,
                          min_width=rng.choice((None, None, None, 5, 24)))
               for _ in range(rng.randint(1, 8))]
    rows = [[" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6))) for _ in columns]
            for _ in range(rng.randint(0, 12))]
    sections = {rng.randrange(len(rows))} if rows and rng.random() < 0.5 else set()
    return TextTable(rng.choice(("benchbase report", "Efficiency")), columns, rows, sections)


def test_random_tables_come_out_as_rich_prints_them() -> None:
    rng = random.Random(22)
    laid_out = 0
    for _ in range(400):
        table = random_table(rng)
        width = rng.choice((40, 80, 120, 240, 240))
        plain = plain_table(table, width)
        if plain is not None:
            laid_out += 1
            assert plain == rich_text(table, width), (table, width)
    # Declined (about half): tables wider than their console, which rich crops, and columns narrowed to no room.
    assert laid_out > 150


def test_what_it_declines_is_left_to_rich() -> None:
    wide = TextTable("t", [TextColumn("a")], [["数据"]])
    assert plain_table(wide, 80) is None  # two cells a character on a terminal
    assert plain_table(TextTable("t", [TextColumn("a")] * 30, [["word"] * 30]), 40) is None  # no room
    assert plain_table(TextTable("t", []), 80) is None


@pytest.fixture
def mixed_report(runs_dir, write_run):
    """Rows that wrap and fold: long hosts and SDKs, unofficial and failed runs, a repeat group, a 1x2 row."""
    write_run(runs_dir, "a1", repeat_group="rg", throughput={"p_train": 40.123456789},
              power={"mean_w_per_device": 101.25, "source": "nvml"})
    write_run(runs_dir, "a2", repeat_group="rg", repeat_index=1, throughput={"p_train": 44.0})
    write_run(runs_dir, "b1", nproc_per_node=2, world_size=2, global_batch=32, throughput={"p_train": 80.5})
    write_run(runs_dir, "c1", official=False, device_model="an accelerator whose model name runs on " * 3)
    write_run(runs_dir, "d1", status="failed", sdk="sdk " + "x" * 90)
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "summary.json").write_text("{")
    return build_report(load_runs([runs_dir]), reference=True, detail=True)


@pytest.mark.parametrize("width", [240, 100, 60])
def test_a_report_reads_as_rich_prints_it(mixed_report, width) -> None:
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True, legacy_windows=False)
    console.print(render_rich(mixed_report))
    assert render_text(mixed_report, width=width) == console.export_text()
