"""The HTML report: one self-contained file with the table and per-run SVG plots, rendered by a real browser.

Records are synthetic, written per docs/records.md into tmp_path, with events and telemetry shaped like a real run.
"""

from __future__ import annotations

import re
import struct
import zlib

import pytest

from benchbase.report import build_report, load_runs, render
from benchbase.report.screenshot import find_chromium, screenshot
from benchbase.report.render_html import DEFAULT_PLOTS, render_html
from benchbase.report.series import read_series

CHARTS_PER_RUN = 6


@pytest.fixture
def runs(runs_dir, write_run):
    write_run(runs_dir, "gpu-like", power={"mean_w_per_device": 150.0, "source": "nvml"},
              nproc_per_node=2, world_size=2, global_batch=32)
    write_run(runs_dir, "cpu-like")
    return runs_dir


def test_html_is_one_self_contained_file_that_fetches_nothing(runs):
    html = render(build_report(load_runs([runs]), reference=True, detail=True), "html")
    assert html.startswith("<!DOCTYPE html>")
    assert "http://" not in html and "https://" not in html
    for remote in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src="):
        assert remote not in html.lower(), remote
    assert re.findall(r'href="([^"]*)"', html) == ["#row-1", "#row-2"]  # in-page anchors only
    assert html.count("<svg") == 2 * CHARTS_PER_RUN


def test_each_run_gets_loss_metric_throughput_power_memory_and_utilization_plots(runs):
    html = render(build_report(load_runs([runs])), "html")
    for title in ("Training loss", "Evaluation: embedding_average", "Training throughput", "Power per device",
                  "Device memory used", "Device utilization"):
        assert html.count(f">{title}</text>") == 2
    assert "target 0.91" in html
    assert "train window" in html and "evaluation" in html
    assert "dev 0" in html and "dev 1" in html
    assert "no power sensor (empty power_w cells)" in html  # the cpu-like run has no power readings
    assert "power (W)" in html and "time since launch (s)" in html and "samples/s (all devices)" in html


def test_series_follow_the_events_and_telemetry_of_the_record(runs):
    run = next(run for run in load_runs([runs]).runs if run.run_id == "gpu-like")
    series = read_series(run)
    assert len(series.loss) == run.steps
    assert series.metric[0] == (0, pytest.approx(run.initial_metric))
    assert series.metric[-1][1] == pytest.approx(run.final_metric)
    assert series.train_window is not None and series.train_window[0] == pytest.approx(run.init_s)
    assert len(series.eval_intervals) == len(series.metric)
    assert set(series.power_w) == {"dev 0", "dev 1"}
    assert series.problems == []


def test_torn_and_missing_files_become_notes_not_errors(runs_dir, write_run):
    folder = write_run(runs_dir, "torn", telemetry=False)
    with (folder / "events.jsonl").open("a") as handle:
        handle.write('{"time_ms": 17950000')
    (run,) = load_runs([runs_dir]).runs
    series = read_series(run)
    assert series.problems == [
        "1 unreadable line(s) in events.jsonl skipped",
        "no telemetry.csv in torn: no power, memory or utilisation curves",
    ]
    html = render(build_report(load_runs([runs_dir])), "html")
    assert "no telemetry.csv" in html and "1 unreadable line(s) in events.jsonl skipped" in html


def _decode_png_rows(data: bytes, rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the first ``rows`` unfiltered scanlines of an 8-bit RGB/RGBA PNG (PNG spec, section 9)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset: offset + 4])
        kind = data[offset + 4: offset + 8]
        body = data[offset + 8: offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    previous, out = bytearray(stride), []
    for index in range(rows):
        kind, line = raw[index * (stride + 1)], bytearray(raw[index * (stride + 1) + 1: (index + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        out.append(bytes(line))
        previous = line
    return width, height, [b"".join(row[j: j + 3] for j in range(0, stride, channels)) for row in out]


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_chromium_renders_the_report_into_a_non_blank_picture(runs, tmp_path):
    html = tmp_path / "report.html"
    html.write_text(render(build_report(load_runs([runs]), reference=True), "html"), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html, png)
    data = png.read_bytes()
    assert len(data) > 50_000  # a blank 1280x2000 page compresses to a few kB
    width, height, rows = _decode_png_rows(data, 260)
    assert (width, height) == (1280, 2000)
    header = rows[40][60 * 3: 61 * 3]
    assert sum(header) < 3 * 100, f"the dark header band should be dark, got {tuple(header)}"
    body = [row[i: i + 3] for row in rows[200:] for i in range(0, len(row), 3)]
    assert body.count(b"\xff\xff\xff") > len(body) // 3, "below the header lies the white table card"
    colours = {row[i: i + 3] for row in rows for i in range(0, len(row), 3 * 7)}
    assert len(colours) > 50, "a rendered page has text, gradients and borders, not a handful of flat colours"


def test_a_page_plots_the_most_recent_runs_it_is_told_to_and_lists_the_others(runs_dir, write_run):
    """A folder of thousands of runs would make a page no browser opens (188 MB at 10,000 runs), so the page plots
    the N most recently started runs (`--plots N`, 1000 by default; `--plots all`) and lists the others with
    their facts. The logs of a run it does not plot are never read: here they are folders, which a read would
    name under the run."""
    for day in (1, 2, 3, 4):
        write_run(runs_dir, f"day-{day}", started_at=f"2026-11-0{day}T10:00:00Z")
    for name in ("events.jsonl", "telemetry.csv"):
        (runs_dir / "day-1" / name).unlink()
        (runs_dir / "day-1" / name).mkdir()
    report = build_report(load_runs([runs_dir]))

    two = render_html(report, plots=2)
    articles = {run_id: two[two.index(f">{run_id}</span>"):] for run_id in ("day-1", "day-2", "day-3", "day-4")}
    for run_id, article in articles.items():
        article = article[:article.index("</article>")]
        assert ("<svg" in article) == (run_id in ("day-3", "day-4")), run_id
        assert ("not plotted" in article) == (run_id in ("day-1", "day-2")), run_id
    assert "plots for 2 of 4 runs" in two
    assert "Plots are drawn for the 2 most recently started of the 4 runs" in two
    assert "not read" not in two and "not a regular file" not in two

    every = render_html(report, plots=None)
    assert every.count("<svg") == 4 * CHARTS_PER_RUN
    assert "events.jsonl not read" in every  # plotted, day-1's logs are read, and their problem shown
    assert "not plotted" not in every and "plots for" not in every
    assert render(report, "html") == render_html(report, plots=DEFAULT_PLOTS) == every  # 4 runs: all plotted
