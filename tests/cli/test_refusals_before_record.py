"""A request the run would refuse is refused before its run folder exists: exit 2, one line naming the problem and
the fix, no folder made, nothing in ``--out`` touched (benchbase/run/preflight.py). ``--dry-run`` makes the same
checks in the same order, so it refuses exactly what the run refuses, with the same line and exit code, and shows the
plan only of a request that would start; it plans for another machine only where the vendor finds no device here."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

Bench = Callable[..., CompletedProcess[str]]

#: A stand-in for an accelerator absent here: a board with one device, which its ranks cannot share.
ONE_DEVICE_VENDOR = """
    import torch
    from benchbase import DeviceInfo, PrecisionPolicy, Vendor, hookimpl

    FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")


    class OneBoard(Vendor):
        name = "oneboard"
        description = "one device, one rank per device (test stand-in)"
        default_device_model = "OB1"

        def discover(self):
            return [DeviceInfo(index=0, model="OB1")]

        def setup_device(self, local_rank):
            return torch.device("cpu")

        def precision_policy(self, requested):
            return FP32


    @hookimpl
    def benchbase_register_vendors(register):
        register(OneBoard())
"""


@pytest.fixture(scope="module")
def one_device_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in as an installed distribution (module plus dist-info with its entry point) on a PYTHONPATH."""
    site = tmp_path_factory.mktemp("site-oneboard")
    (site / "oneboard_vendor.py").write_text(textwrap.dedent(ONE_DEVICE_VENDOR).lstrip())
    info = site / "oneboard_vendor-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oneboard-vendor\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[benchbase]\noneboard = oneboard_vendor\n")
    return site


def refused_alike(bench: Bench, tmp_path: Path, args: list[str], words: str, **env: str) -> str:
    """The run and its dry run both refuse ``args`` with exit 2 and the same one line holding ``words``, and leave
    no ``--out`` folder behind; returns that line."""
    out = tmp_path / "runs"
    lines = []
    for extra in ([], ["--dry-run"]):
        result = bench("run", *args, *extra, "--out", str(out), **env)
        assert result.returncode == 2, result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], result.stderr
        assert "Traceback" not in result.stderr
        assert "Ranks on this node" not in result.stdout, "no plan is shown for a request that would not start"
        lines.append(errors[0])
        assert not out.exists(), f"{extra or 'the run'} made {out}"
    assert lines[0] == lines[1], "the dry run refuses with the run's own line"
    return lines[0]


def test_a_precision_the_vendor_refuses_is_refused_before_any_record(bench: Bench, tmp_path: Path) -> None:
    line = refused_alike(bench, tmp_path, ["cpm", "--vendor", "cpu", "--preset", "demo", "--set", "precision=fp16"],
                         "precision fp16 is not supported on the CPU")
    assert "use --set precision=fp32 or --set precision=bf16" in line


def test_more_ranks_than_devices_is_refused_by_the_run_and_its_dry_run_alike(
    bench: Bench, tmp_path: Path, one_device_site: Path
) -> None:
    refused_alike(bench, tmp_path, ["cpm", "--vendor", "oneboard", "--preset", "demo", "--config", "1x2"],
                  "--config asks for 2 processes per node but vendor 'oneboard' found 1 device(s); use --config Nx1",
                  PYTHONPATH=str(one_device_site))
    fits = bench("run", "cpm", "--vendor", "oneboard", "--preset", "demo", "--dry-run",
                 PYTHONPATH=str(one_device_site))
    assert fits.returncode == 0 and "Ranks on this node" in fits.stdout, fits.stdout + fits.stderr
    assert "detected here" not in fits.stdout  # its device is here: the plan is this machine's


def test_data_too_small_for_one_batch_on_every_rank_is_refused_by_the_dry_run_too(
    bench: Bench, tmp_path: Path
) -> None:
    refused_alike(bench, tmp_path, ["cpm", "--vendor", "cpu", "--preset", "demo", "--set", "eval_batch_size=300",
                                    "--config", "1x2"],
                  "prepared evaluation data holds 500 samples, fewer than one evaluation batch on every rank")


def test_a_preset_that_needs_data_is_refused_without_it_by_the_dry_run_too(bench: Bench, tmp_path: Path) -> None:
    refused_alike(bench, tmp_path, ["cpm", "--vendor", "cpu", "--preset", "official"],
                  "preset 'official' of case cpm needs --data-dir")


def test_a_bad_node_placement_is_refused_before_any_record(bench: Bench, tmp_path: Path) -> None:
    refused_alike(bench, tmp_path, ["cpm", "--vendor", "cpu", "--preset", "demo", "--config", "2x1", "--node-rank",
                                    "1"], "--master-addr")


def test_without_a_device_here_the_dry_run_plans_for_another_machine_and_says_what_a_run_here_would_refuse(
    bench: Bench, tmp_path: Path
) -> None:
    result = bench("run", "cpm", "--vendor", "iluvatar", "--config", "1x8", "--set", "precision=fp32", "--dry-run",
                   "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no iluvatar devices detected here (a run here would refuse: no Iluvatar BI-V100 found" in result.stdout
    assert "Ranks on this node" in result.stdout and not (tmp_path / "runs").exists()


def test_compile_on_as_the_docs_write_it_is_accepted(bench: Bench) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "compile=on", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split("│")[2].strip() for line in result.stdout.splitlines() if "│ compile " in line] == ["on"]


def test_a_resume_the_record_refuses_is_refused_by_its_dry_run_too_and_the_record_is_untouched(
    bench: Bench, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    made = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=2", "--out", str(out))
    assert made.returncode == 3, made.stdout + made.stderr  # the budget spent: a finished run, not resumable
    (run,) = out.iterdir()
    before = {path: path.read_bytes() for path in sorted(run.rglob("*")) if path.is_file()}
    lines = []
    for extra in ([], ["--dry-run"]):
        result = bench("run", "cpm", "--vendor", "cpu", "--resume", str(run), *extra)
        assert result.returncode == 2, result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "already finished (not_converged); only a stopped run can be resumed" in errors[0]
        assert "Ranks on this node" not in result.stdout
        lines.append(errors[0])
    assert lines[0] == lines[1]
    assert {path: path.read_bytes() for path in sorted(run.rglob("*")) if path.is_file()} == before
    assert list(out.iterdir()) == [run]


def test_a_configuration_whose_memory_estimate_exceeds_the_host_is_refused_before_any_record(
    bench: Bench, tmp_path: Path
) -> None:
    # CPM large's fp32 weights, gradients and AdamW moments alone are 39 GiB; the CPU offers the memory available
    # at that moment, so the run's line and its dry run's may name budgets a few MiB apart.
    out = tmp_path / "runs"
    for extra in ([], ["--dry-run"]):
        result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--unofficial", "--set",
                       "model_size=large", *extra, "--out", str(out))
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = [text for text in result.stderr.splitlines() if text.startswith("error:")]
        assert line.startswith("error: the estimated memory of ") and "GiB per device does not fit" in line
        assert line.endswith("(ddp, 1 ranks; docs/memory.md); use parallelism: fsdp (--set parallelism=fsdp); "
                             "or a smaller batch_size with a larger grad_accum; or more devices")
        assert not out.exists() and "Traceback" not in result.stderr


def test_the_large_preset_plans_fsdp_on_eight_bi_v100_and_refuses_ddp_there(bench: Bench) -> None:
    planned = bench("run", "cpm", "--preset", "large", "--vendor", "iluvatar", "--config", "1x8", "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "BI-V100x1x8-large.yaml" in planned.stdout
    assert "parallelism fsdp" in planned.stdout
    assert "GiB estimated of 32.0 GiB (fsdp; GiB per rank: weights 1.21, optimizer moments 2.42" in planned.stdout
    replicas = bench("run", "cpm", "--preset", "large", "--vendor", "iluvatar", "--config", "1x8", "--dry-run",
                     "--set", "parallelism=ddp")
    assert replicas.returncode == 2
    assert replicas.stderr.startswith("error: the estimated memory of 57.7 GiB per device does not fit BI-V100's")
