"""Foreign strings are text: one hostile string set, planted in every field a record, a plugin or the command line
can give, comes out of every renderer inert for its medium (docs/reliability.md, "Foreign strings are text").

The terminal gets no rich markup interpreted and no raw control character (no ESC to clear the screen or set the
title); Markdown gets no link, image or HTML and tables keep their shape; CSV gets no formula cell; JSON keeps each
string exactly, in ASCII; HTML gets no tag or attribute it did not write; the Slurm batch script passes ``bash -n``
and carries each string as one quoted argument, refusing control characters it cannot carry. A run whose ``--out``
is markup is recorded as it ended, not failed, and its table prints.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import shlex
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from markdown_it import MarkdownIt
from reliability_support import REPO, outcome_line
from rich.console import Console

from benchbase.cli import output
from benchbase.errors import BenchbaseError
from benchbase.foreign import has_control, visible
from benchbase.launch.slurm import batch_job
from benchbase.registry.plugins import PluginInfo
from benchbase.report import build_report, compare_runs, load_runs, render, render_rich
from benchbase.report import svg
from benchbase.run.live import RunView

#: Markup, terminal control, Markdown, HTML, spreadsheet and shell syntax, a line break, a very long string and a
#: character beyond the Basic Multilingual Plane: each a way a foreign string could be read as an instruction.
HOSTILE = (
    "[/]",
    "[bold red]x",
    "\x1b[2J\x1b]0;pwn\x07",
    "![x](https://evil.example/a.png)",
    "[link](https://evil.example) <https://evil.example> www.evil.example a@evil.example",
    "<script>alert(1)</script>",
    '" onload="x',
    "=cmd|' /C calc'!A0",
    "a\nb",
    "$(touch /tmp/pwned)",
    "`id`",
    "'; rm -rf ~ #",
    "\u202eevil\x9b31m",
    "L" * 3000,
    "run \U0001f680 ok",
)
#: The same set where a file name can hold it (no slash): each becomes a run folder's name, the record's run id.
FOLDER_SAFE = [text for text in HOSTILE if "/" not in text and len(text) < 200]
_ESC_OR_CSI = ("\x1b", "\x9b", "\x07")


def _report_records() -> object:
    """The synthetic records of the report tests (tests/report/conftest.py), loaded under a name of their own."""
    spec = importlib.util.spec_from_file_location("report_records", REPO / "tests" / "report" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One record per hostile string: the string is its folder name (where a name can hold it), device model, SDK,
    reason and the name of a case extra; a failed run, so its reason is shown."""
    records = _report_records()
    root = tmp_path_factory.mktemp("hostile") / "runs"
    for index, text in enumerate(HOSTILE):
        run_id = text if text in FOLDER_SAFE else f"run-{index}"
        records.write_record(root, run_id, device_model=text, sdk=text, reason=text, status="failed", exit_code=4,
                             final_extras={text: 0.5, "token_accuracy": 0.5})
    return root


@pytest.fixture(scope="module")
def report(hostile_runs: Path):  # noqa: ANN201 - a Report
    result = load_runs([hostile_runs])
    assert len(result.runs) == len(HOSTILE), result.skipped
    return build_report(result, reference=False, detail=True)


def _terminal(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def assert_terminal_inert(text: str) -> None:
    """No control sequence reaches the terminal; each hostile string is there, spelled out, as its characters."""
    assert not any(code in text for code in _ESC_OR_CSI), repr(text[:500])
    assert "\u202e" not in text
    for hostile in ("[/]", "[bold red]x", "\\x1b[2J\\x1b]0;pwn\\x07", "<script>alert(1)</script>"):
        assert hostile in text.replace("\n", "").replace(" ", "") or hostile.replace(" ", "") in text.replace(
            "\n", "").replace(" ", ""), hostile


def test_the_terminal_table_prints_hostile_text_as_text(report) -> None:  # noqa: ANN001 - fixture
    assert_terminal_inert(_terminal(render_rich(report)))
    assert_terminal_inert(render(report, "table"))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_holds_only_the_tags_and_attributes_it_wrote(report) -> None:  # noqa: ANN001 - fixture
    page = render(report, "html")
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert not [name for name in parser.attributes if name.startswith("on")], parser.attributes
    assert not any(code in page for code in _ESC_OR_CSI)
    shown = "".join(parser.text)
    assert "<script>alert(1)</script>" in shown and '" onload="x' in shown


def _markdown_tokens(text: str) -> list:
    flat = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        flat.append(token)
        flat.extend(token.children or ())
    return flat


def test_markdown_has_no_link_image_or_html_and_keeps_its_tables(report) -> None:  # noqa: ANN001 - fixture
    text = render(report, "md")
    tokens = _markdown_tokens(text)
    kinds = {token.type for token in tokens}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "autolink"}, kinds
    # Every row stays one row of its table's cells: eight in the standard table (header and one row per record),
    # four in the efficiency table under it, two in each detail table.
    cells_per_row, cells = [], 0
    for token in tokens:
        if token.type == "tr_open":
            cells = 0
        elif token.type in ("td_open", "th_open"):
            cells += 1
        elif token.type == "tr_close":
            cells_per_row.append(cells)
    assert cells_per_row.count(8) == cells_per_row.count(4) == len(HOSTILE) + 1, cells_per_row
    assert set(cells_per_row) == {8, 4, 2}, cells_per_row
    assert not any(code in text for code in _ESC_OR_CSI)
    # GitHub links bare URLs and addresses too: none keeps the form it links.
    assert "https://" not in text and "www.evil" not in text and "a@evil" not in text


def test_csv_cells_are_never_formulas_and_never_control_text(report) -> None:  # noqa: ANN001 - fixture
    text = render(report, "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == len(HOSTILE) + 1 and len({len(row) for row in rows}) == 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) or _number(cell), cell
            assert not cell.startswith("-") or _number(cell), cell
    assert not has_control(text.replace("\n", ""))
    assert "'=cmd|' /C calc'!A0" in text
    assert "final_extras.=cmd|' /C calc'!A0" in rows[0], rows[0]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_json_keeps_every_string_exactly_in_ascii(report) -> None:  # noqa: ANN001 - fixture
    text = render(report, "json")
    assert text.isascii()
    assert {hostile for hostile in HOSTILE} <= set(_strings(json.loads(text)))


def _strings(value: object) -> list[str]:
    """Every string in a JSON document, keys and values, and the words of those strings that hold run ids."""
    if isinstance(value, str):
        return [value, *value.split(" ")]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *_strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@pytest.mark.parametrize("fmt", ["table", "md", "json", "csv"])
def test_the_compare_view_is_inert_in_every_format(hostile_runs: Path, fmt: str) -> None:
    a, b = hostile_runs / "[bold red]x", hostile_runs / "\x1b[2J\x1b]0;pwn\x07"
    text = compare_runs(a, b, fmt, context=[hostile_runs])
    assert not any(code in text for code in _ESC_OR_CSI), repr(text)
    if fmt == "md":
        assert not {t.type for t in _markdown_tokens(text)} & {"link_open", "image", "html_inline", "html_block"}
    if fmt == "csv":
        assert not any(cell.startswith(("=", "@", "+")) for row in csv.reader(io.StringIO(text)) for cell in row)


def test_the_live_view_prints_phase_and_extras_as_text() -> None:
    for terminal in (False, True):
        sink = io.StringIO()
        console = Console(file=sink, width=200, color_system=None, force_terminal=terminal)
        with RunView(console, "[/] \x1b[2J", 10, 0.9) as view:
            for hostile in HOSTILE:
                view.consume([
                    {"key": "eval", "step": 2, "value": 0.5, "metadata": {"extras": {hostile: 0.5}}},
                    {"key": "train_stop", "value": hostile},
                ])
                view.step, view.phase = "[bold]", hostile
                view.console.print(view.render())
                assert "[bold]" in visible(view.progress_line())
        assert not any(code in sink.getvalue() for code in ("\x1b[2J", "\x9b", "\x07")), repr(sink.getvalue()[-300:])


def test_plugin_and_catalogue_views_print_every_name_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=sink, width=400, color_system=None))
    plugins = [PluginInfo(name=text, distribution=text, version=text, module="m", hooks=[text], cases=[text],
                          error=text if index % 2 else None, conflicts=[text]) for index, text in enumerate(HOSTILE)]
    registry = SimpleNamespace(plugins=plugins, conflicts=list(HOSTILE),
                               origins={("case", text): plugins[0] for text in HOSTILE})
    output.print_plugins(registry)
    case = SimpleNamespace(presets=lambda: list(HOSTILE), default_preset=HOSTILE[0], metric_name=HOSTILE[1],
                           description=HOSTILE[2])
    vendor = SimpleNamespace(default_device_model=HOSTILE[3], distributed_backend=HOSTILE[5], description=HOSTILE[7])
    output.print_catalogue(SimpleNamespace(cases={text: case for text in HOSTILE},
                                           vendors={text: vendor for text in HOSTILE}))
    printed = sink.getvalue()
    assert not any(code in printed for code in _ESC_OR_CSI)
    assert "[bold red]x" in printed and "[/]" in printed


@pytest.fixture
def shell_argv() -> list[str]:
    """The hostile strings a shell line could carry (no control characters): as ``--set`` values of a run."""
    argv = ["run", "cpm", "--vendor", "cpu"]
    for text in HOSTILE:
        if not has_control(text):
            argv += ["--set", f"note={text}"]
    return argv


def test_the_slurm_script_quotes_every_argument_and_passes_bash_n(tmp_path: Path, shell_argv: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "work $(touch pwned) `id` '; rm -rf ~ #"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    job = batch_job("[/]$(id)", "cpu;`id`", 2, 2, gpus_per_node=2, run_argv=shell_argv, master_port=None,
                    out_root=Path("out [/] $(touch pwned)"))
    script = job.text()
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    srun = next(line for line in script.splitlines() if line.startswith("srun "))
    words = shlex.split(srun)
    assert all(f"note={text}" in words for text in HOSTILE if not has_control(text))
    job_name = next(line for line in script.splitlines() if line.startswith("#SBATCH --job-name="))
    assert set(job_name.split("=", 1)[1]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    assert not (workdir / "pwned").exists()


@pytest.mark.parametrize("where", ["argument", "out", "workdir"])
def test_a_control_character_in_the_slurm_script_is_refused_in_one_line(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / ("a\nb" if where == "workdir" else "plain")
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    out = "o\x1b[2J" if where == "out" else "out"
    argv = ["run", "cpm", "--set", "note=x\n#SBATCH --wrap=id" if where == "argument" else "note=x", "--out", out]
    with pytest.raises(BenchbaseError, match="control character") as refused:
        batch_job("cpm", "cpu", 1, 1, gpus_per_node=None, run_argv=argv, master_port=None, out_root=Path(out))
    assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)


@pytest.mark.parametrize("values", [
    [5e-324, 5e-324], [0.0, 1e308], [-1e308, 1e308], [float("nan"), 1.0], [float("inf"), 2.0], [1e-14, 2e-14],
    [float("nan")], [3.0, 3.0],
])
def test_plot_axes_survive_any_number_a_record_holds(values: list[float]) -> None:
    points = [(float(step), value) for step, value in enumerate(values)]
    chart = svg.Chart(title="<b>", x_label="step", y_label="loss", lines=[svg.Line("loss", points)],
                      rules=[svg.Rule(float("inf"), "target"), svg.Rule(1e308, "huge")],
                      bands=[svg.Band(0.0, float("nan"), "window", "#000")])
    drawn = svg.render(chart)
    assert drawn.startswith("<svg") and drawn.endswith("</svg>") and "<b>" not in drawn
    assert "nan" not in drawn.replace("&", "")


def test_a_run_whose_out_is_markup_is_recorded_as_it_ended_and_its_table_prints(bench) -> None:  # noqa: ANN001
    out = bench.cwd / "runs [/] [bold red]x"
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=4",
                       "--set", "log_interval=2", "--out", str(out))
    printed = result.stdout + result.stderr
    assert result.returncode in (0, 3), printed
    assert "Traceback" not in printed and "MarkupError" not in printed
    assert outcome_line(printed).split(":")[0] in ("converged", "not_converged")
    assert "benchbase report" in printed and "[/]" in printed
    (run_dir,) = out.iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] in ("converged", "not_converged")


def test_report_of_hostile_records_is_one_clean_table(bench, hostile_runs: Path) -> None:  # noqa: ANN001
    result = bench.run("report", str(hostile_runs), "--detail")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(code in result.stdout + result.stderr for code in _ESC_OR_CSI)
    written = bench.cwd / "r [bold red]x \x1b[2J.md"
    result = bench.run("report", str(hostile_runs), "--format", "md", "--output", str(written))
    assert result.returncode == 0 and written.is_file(), result.stderr
    assert "\x1b" not in result.stdout and "[bold red]x" in result.stdout
