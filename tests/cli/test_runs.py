"""Real runs through the real command: the demo converges by learning, records are complete, and two ranks train
together through torchrun with gloo."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import yaml

from benchbase.record.cpu_load_file import read_cpu_load
from benchbase.record.events import read_events
from benchbase.record.telemetry_file import read_telemetry

Bench = Callable[..., CompletedProcess[str]]
RECORD_FILES = ("config.yaml", "env.json", "events.jsonl", "telemetry.csv", "summary.json")


def only_run(runs: Path, topology: str) -> Path:
    found = [p for p in runs.iterdir() if p.is_dir() and f"-{topology}-" in p.name]
    assert len(found) == 1, found
    return found[0]


def test_demo_converges_by_learning_and_prints_the_standard_table(bench: Bench, tmp_path: Path) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Convergence criteria" in result.stdout and "Stability" in result.stdout
    run = next((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "converged"
    evals = [e for e in read_events(run / "events.jsonl") if e["key"] == "eval"]
    first, last = evals[0], evals[-1]
    assert first["value"] < summary["target"] - 0.05, "the untrained model must score clearly below the target"
    assert last["value"] >= summary["target"]
    accuracy = [e["metadata"]["extras"]["token_accuracy"] for e in (first, last)]
    assert accuracy[1] > accuracy[0] + 0.3, "reached by learning"
    assert summary["steps"] < 600, "stops on the target, not on the step budget"


def test_every_run_leaves_a_complete_record(scale_runs: Path) -> None:
    run = only_run(scale_runs, "1x1")
    for name in RECORD_FILES:
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["values"]["max_steps"] == 12 and config["config_hash"].startswith("sha256:")
    env = json.loads((run / "env.json").read_text())
    assert env["launch"]["kind"] == "single" and env["host"]["torch"]["version"]
    rows = read_telemetry(run / "telemetry.csv")
    assert rows and all(row["rss_gib"] for row in rows)
    keys = [e["key"] for e in read_events(run / "events.jsonl")]
    assert keys[0] == "launch" and keys[-1] == "run_stop"
    for key in ("run_start", "eval", "step", "windows", "train_stop"):
        assert key in keys
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["samples"] == 12 * 16
    windows = summary["windows"]
    assert 0 < windows["core_s"] <= windows["train_s"] <= windows["whole_s"] <= windows["e2e_s"]
    assert summary["seed"] == config["values"]["seed"] == 1234
    host = summary["host"]
    assert host["hostname"] == env["host"]["hostname"] and host["ranks"] == 1 and host["oversubscribed"] is False
    share = host["others_cpu_share"]
    if share is None:  # docs/records.md: fewer than two cpu_load samples inside a train window this short
        assert host["contended"] is None
    else:
        assert share >= 0 and host["contended"] == (share > 0.10)
    assert len(read_cpu_load(run / "cpu_load.csv")) >= 2 and summary["software"] == env["host"]["packages"]
    provenance = env["provenance"]  # what a CPU run really used, read from this machine's torch and installation
    assert provenance["communication"]["library"] == "gloo" and provenance["kernels"]["library"] == "onednn"
    assert provenance["code"]["benchbase-core"]["source"] == "git checkout", "installed editable from this checkout"
    assert summary["provenance"]["communication"].startswith("gloo built into torch ")
    warmup_samples = [e for e in read_events(run / "events.jsonl") if e["key"] == "windows"][-1]["metadata"][
        "warmup_samples"]
    steady = summary["samples"] - warmup_samples
    assert abs(summary["throughput"]["p_train"] - steady / windows["train_s"]) < 1e-6 * summary["samples"]


def test_telemetry_off_starts_no_sampler_and_the_record_says_there_are_no_readings(
    bench: Bench, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=3",
                   "--set", "telemetry_interval_s=0", "--out", str(runs))
    assert result.returncode in (0, 3), result.stdout + result.stderr
    run = only_run(runs, "1x1")
    assert read_telemetry(run / "telemetry.csv") == []
    assert (run / "telemetry.csv").read_text().count("\n") == 1, "the header only"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3
    assert summary["power"]["source"] == "unavailable" and summary["power"]["mean_w_per_device"] is None
    assert yaml.safe_load((run / "config.yaml").read_text())["values"]["telemetry_interval_s"] == 0


def test_two_ranks_train_through_torchrun_with_gloo(scale_runs: Path) -> None:
    run = only_run(scale_runs, "1x2")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 32
    env = json.loads((run / "env.json").read_text())
    assert env["launch"]["kind"] == "torchrun" and "--nproc-per-node=2" in env["launch"]["command"]
    assert (run / "logs" / "rank0.log").is_file() and (run / "logs" / "rank1.log").is_file()
    cpus = [set(b["cpus"].split(",")) for b in env["launch"]["bindings"]]
    assert not cpus[0] & cpus[1], "the two ranks are pinned to disjoint CPUs"
    # The estimate it was cleared with: two DDP replicas on the host's memory, their peaks measured beside it.
    estimate = env["memory_estimate"]
    assert (estimate["parallelism"], estimate["ranks_per_device"]) == ("ddp", 2) and estimate["device_gib"] > 0
    assert set(estimate["parts_gib"]) == {"weights", "optimizer_moments", "gradients", "activations", "ddp_buckets"}


def test_report_shows_scalability_of_the_two_rank_run_against_the_one_rank_run(
    bench: Bench, scale_runs: Path, tmp_path: Path
) -> None:
    records = [json.loads((only_run(scale_runs, topology) / "summary.json").read_text()) for topology in ("1x1", "1x2")]
    folder = scale_runs
    if any(record["host"]["contended"] for record in records):
        # Other jobs took the CPUs (a shared host), so the report refuses the ratio; the same records as if the host
        # had been quiet must give it.
        folder = tmp_path / "quiet"
        shutil.copytree(scale_runs, folder)
        for summary_file in folder.glob("*/summary.json"):
            summary = json.loads(summary_file.read_text())
            summary["host"].update(contended=False, others_cpu_share=0.0)
            summary_file.write_text(json.dumps(summary))
    result = bench("report", str(folder), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["group"]["world_size"]: row["values"] for row in json.loads(result.stdout)["rows"]}
    one, two = (record["throughput"]["p_train"] for record in records)
    assert abs(rows[2]["scalability"] - two / (2 * one)) < 1e-9


def fake_host_sysfs(root: Path) -> Path:
    """Stands in for a 2-socket host's /sys (16 cores x 2 threads, siblings i and i+16): no such host is here."""
    files = {"devices/system/cpu/online": "0-31", "devices/system/node/online": "0-1",
             "devices/system/node/node0/cpulist": "0-7,16-23", "devices/system/node/node1/cpulist": "8-15,24-31"}
    for cpu in range(32):
        core = cpu % 16
        files[f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"] = f"{core},{core + 16}"
        files[f"devices/system/cpu/cpu{cpu}/topology/physical_package_id"] = str(core // 8)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text + "\n")
    return root


def test_iluvatar_dry_run_prints_config_bindings_precision_and_torchrun(bench: Bench, tmp_path: Path) -> None:
    sysfs = fake_host_sysfs(tmp_path / "sys")
    result = bench("run", "cpm", "--vendor", "iluvatar", "--config", "1x8", "--dry-run", "--sysfs-root", str(sysfs))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "BI-V100x1x8.yaml" in out and "'label': 'AMP'" in out
    assert "--nproc-per-node=8" in out and "torch.distributed.run" in out
    rows = [line.split("│") for line in out.splitlines() if "fallback:" in line]
    assert len(rows) == 8, "8 ranks, each with its (labelled fallback) binding: no BI-V100 is here to locate"
    cpu_lists = [row[3].strip() for row in rows]
    assert len(set(cpu_lists)) == 8, "each rank gets its own CPUs of the given sysfs tree"


def _resolved_rows(out: str) -> dict[str, tuple[str, str]]:
    """The dry-run's "Resolved config" table as key -> (value, from)."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[0] and cells[0] != "key":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_a_tuned_file_applies_only_to_the_preset_it_was_tuned_for(bench: Bench, tmp_path: Path) -> None:
    sysfs = fake_host_sysfs(tmp_path / "sys")
    demo = bench("run", "cpm", "--vendor", "iluvatar", "--preset", "demo", "--config", "1x8", "--dry-run",
                 "--sysfs-root", str(sysfs))
    assert demo.returncode == 0, demo.stderr
    assert "vendor config none" in demo.stdout and "BI-V100x1x8.yaml" not in demo.stdout
    values = _resolved_rows(demo.stdout)
    for key, value in {"lr": "0.002", "warmup": "0.05", "max_steps": "600", "batch_size": "16",
                       "activation_checkpointing": "False"}.items():
        assert values[key] == (value, "preset:demo"), (key, values)  # the demo's, not BI-V100x1x8.yaml's
    assert values["precision"] == ("auto", "default"), "the tuned file's amp is not applied either"
    variant = bench("run", "cpm", "--vendor", "iluvatar", "--preset", "demo", "--config", "1x8", "--variant", "bs128",
                    "--dry-run", "--sysfs-root", str(sysfs))
    assert variant.returncode == 2 and "Traceback" not in variant.stderr, variant.stderr
    assert "is tuned for preset official, not demo" in variant.stderr
