"""Every user mistake ends in one line on stderr naming the problem and the fix, a non-zero exit, no traceback,
and nothing already recorded is touched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from conftest import SHARED_CPM

Bench = Callable[..., CompletedProcess[str]]


def assert_one_line_error(result: CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0], "the error is the last thing printed"
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_unknown_case_lists_installed_cases(bench: Bench) -> None:
    assert_one_line_error(bench("run", "resnet", "--vendor", "cpu"), "unknown case 'resnet'", "installed cases: cpm")


def test_unknown_vendor_lists_installed_vendors(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "acme9", "--preset", "demo")
    assert_one_line_error(result, "unknown vendor 'acme9'", "cpu", "iluvatar", "nvidia")


def test_unknown_preset_lists_the_case_presets(bench: Bench) -> None:
    assert_one_line_error(bench("run", "cpm", "--vendor", "cpu", "--preset", "fast"), "unknown preset 'fast'", "demo")


@pytest.mark.parametrize("topology", ["x8", "1x0", "8", "1x8x2"])
def test_malformed_topology_says_the_expected_form(bench: Bench, topology: str) -> None:
    assert_one_line_error(bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", topology), "NxM")


def test_more_processes_than_devices_is_refused_with_a_fix(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "iluvatar", "--config", "1x8", "--preset", "demo")
    assert_one_line_error(result, "no Iluvatar BI-V100 found")


def test_malformed_yaml_names_file_and_line(bench: Bench, tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("batch_size: 8\nlr: [0.1\n")
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set-file", str(bad))
    assert_one_line_error(result, "mine.yaml", "line")


def test_set_of_an_immutable_key_needs_unofficial(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "model_size=small", "--dry-run")
    assert_one_line_error(result, "'model_size' is immutable", "--unofficial")


def test_set_of_an_immutable_key_with_unofficial_is_accepted_and_marked(bench: Bench) -> None:
    result = bench(
        "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "model_size=small", "--unofficial", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "official False" in result.stdout


def test_set_of_an_unknown_key_suggests_the_nearest(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "batchsize=8", "--dry-run")
    assert_one_line_error(result, "unknown key 'batchsize'", "batch_size")


def test_set_without_equals_sign_is_refused(bench: Bench) -> None:
    assert_one_line_error(bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "lr"), "key=value")


def test_official_preset_without_data_dir_says_what_to_pass(bench: Bench) -> None:
    assert_one_line_error(bench("run", "cpm", "--vendor", "cpu"), "needs --data-dir")


def test_data_dir_that_does_not_exist(bench: Bench, tmp_path: Path) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--data-dir", str(tmp_path / "nope"))
    assert_one_line_error(result, "is not a directory")


@pytest.mark.skipif(not SHARED_CPM.is_dir(), reason="needs the real CPM tokenizer in ../shared/cpm")
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"train": [["a b", "c"]]}', "valid"),
        ('{"train": "not a list", "valid": []}', "train"),
        ('{"train": [["only one"]], "valid": [["a", "b"]]}', "train[0]"),
        ("[1, 2", "JSON"),
    ],
)
def test_stc_json_of_the_wrong_shape_names_the_first_bad_place(
    bench: Bench, tmp_path: Path, content: str, fragment: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "STC.json").write_text(content, encoding="utf-8")
    result = bench("prepare", "cpm", "--data-dir", str(data), "--set", f"tokenizer_dir={SHARED_CPM}")
    assert_one_line_error(result, fragment)


def test_a_bad_run_leaves_earlier_records_untouched(bench: Bench, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    earlier = runs / "20260101-000000-cpm-cpu-1x1-abcdef"
    earlier.mkdir(parents=True)
    (earlier / "summary.json").write_text(json.dumps({"status": "converged"}))
    before = sorted(p.name for p in runs.iterdir())
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "lr=-1", "--out", str(runs))
    assert_one_line_error(result, "lr")
    assert sorted(p.name for p in runs.iterdir()) == before
    assert json.loads((earlier / "summary.json").read_text()) == {"status": "converged"}


def test_from_large_without_shards_names_the_files_it_looked_for(bench: Bench, tmp_path: Path) -> None:
    empty = tmp_path / "cpm-large"
    empty.mkdir()
    assert_one_line_error(bench("prepare", "cpm", "--from-large", str(empty)), "mp_rank")


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["batch_size=4096", "grad_accum=8"], "holds 20000 samples, fewer than one global batch"),
        (["eval_batch_size=1000"], "holds 500 samples, fewer than one evaluation batch on every rank"),
    ],
)
def test_data_too_small_for_one_batch_is_refused_before_a_record_exists(
    bench: Bench, tmp_path: Path, sets: list[str], expected: str
) -> None:
    """The demo corpus has 20,000 training and 500 evaluation windows: a run that cannot fill one global batch or
    one evaluation batch per rank is refused right after preparation, not started to fail in its ranks."""
    runs = tmp_path / "runs"
    args = [item for value in sets for item in ("--set", value)]
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", *args, "--out", str(runs))
    assert_one_line_error(result, expected)
    assert result.returncode == 2
    assert not runs.exists() or not any(runs.iterdir()), "nothing was recorded"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--sbatch-option", "--comment=x\n#SBATCH --wrap=rm"], "--comment=x\\x0a#SBATCH --wrap=rm is not a value"),
        (["--requeue"], "add --set checkpoint_every=N"),
    ],
)
def test_a_slurm_site_option_that_could_break_its_line_or_means_nothing_is_refused_in_one_line(
    bench: Bench, tmp_path: Path, options: list[str], expected: str
) -> None:
    """Each value's own rules: tests/core/test_slurm_site.py."""
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--launcher", "slurm", *options)
    assert_one_line_error(result, expected)
    assert result.returncode == 2 and not (tmp_path / "reports").exists(), "no script was written"


def test_a_slurm_site_option_without_the_slurm_launcher_is_refused(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--partition", "gpu", "--requeue")
    assert_one_line_error(result, "--partition, --requeue only apply to a job a launcher writes", "--launcher slurm")


def test_a_container_image_without_a_launcher_that_writes_a_job_is_refused(bench: Bench, tmp_path: Path) -> None:
    """The image is read by the launchers that write a job (Slurm through pyxis, Kubernetes); a run here would
    train outside any container while its command line named one."""
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--container-image", "team/benchbase:1")
    assert_one_line_error(result, "--container-image only applies to a job a launcher writes",
                          "--launcher slurm or kubernetes")
    assert result.returncode == 2 and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("arguments", "fragment"), [
    (["--format", "html", "--plots", "some"], "--plots 'some' is neither a number of runs nor 'all'"),
    (["--format", "html", "--plots", "-3"], "--plots '-3' is neither a number of runs nor 'all'"),
    (["--format", "html", "--plots", "1" * 5000], "is neither a number of runs nor 'all'"),
    (["--format", "md", "--plots", "10"], "this report draws no plots"),
])
def test_a_plot_count_that_is_none_or_plots_nothing_is_refused(bench: Bench, tmp_path: Path, arguments: list[str],
                                                                fragment: str) -> None:
    result = bench("report", str(tmp_path), *arguments, "--output", str(tmp_path / "page"))
    assert_one_line_error(result, fragment)
    assert result.returncode == 2 and not (tmp_path / "page").exists()
