"""The inline SVG charts: round ticks, honest thinning, labelled axes and legends."""

from __future__ import annotations

from benchbase.report import svg


def test_ticks_are_round_numbers_covering_the_data():
    assert svg.nice_ticks(0.62, 0.93) == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert svg.nice_ticks(0, 3558) == [0, 1000, 2000, 3000, 4000]
    ticks = svg.nice_ticks(150, 162.5)
    assert ticks[0] <= 150 and ticks[-1] >= 162.5
    assert [svg.tick_label(value, 2.5) for value in (150, 152.5)] == ["150.0", "152.5"]
    assert svg.tick_label(12000, 2000) == "12,000"


def test_thinning_keeps_spikes_and_order():
    points = [(float(x), 1.0) for x in range(10_000)]
    points[5_000] = (5_000.0, 50.0)
    kept = svg.thin(points, 100)
    assert len(kept) <= 200
    assert (5_000.0, 50.0) in kept
    assert kept == sorted(kept)


def test_a_chart_has_title_axis_labels_ticks_legend_and_shaded_bands():
    chart = svg.Chart(
        title="Power per device",
        x_label="time since run start (s)",
        y_label="power (W)",
        lines=[svg.Line("dev 0", [(0, 40), (10, 150), (20, 148)])],
        bands=[svg.Band(2, 18, "train window", "#0072B2")],
        rules=[svg.Rule(140, "cap 140 W")],
    )
    markup = svg.render(chart)
    assert markup.startswith("<svg") and markup.endswith("</svg>")
    for text in (">Power per device</text>", ">time since run start (s)</text>", ">power (W)</text>",
                 ">dev 0</text>", ">train window</text>", ">cap 140 W</text>", ">150</text>"):
        assert text in markup
    assert "<polyline" in markup and 'fill-opacity="0.12"' in markup


def test_a_chart_without_data_says_why():
    markup = svg.render(svg.Chart("Power per device", "t (s)", "W", [], empty_reason="no power sensor"))
    assert ">no power sensor</text>" in markup and "<polyline" not in markup
