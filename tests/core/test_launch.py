"""Launch plans: one process for 1x1, torchrun otherwise; bindings fitted to the CPUs the process may use; the Slurm
batch script and what a task of its step reads from Slurm; the failure reason a rank gives itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchbase.launch import slurm
from benchbase.contract import Binding
from benchbase.errors import BenchbaseError
from benchbase.launch.plan import plan_launch
from benchbase.hardware.topology import fit_to_allowed


def test_one_by_one_runs_the_worker_directly_without_a_launcher() -> None:
    plan = plan_launch(1, 1, ["--run-dir", "r"])
    assert plan.kind == "single"
    assert plan.command == [sys.executable, "-m", "benchbase.train.worker", "--run-dir", "r"]
    assert plan.environment()["WORLD_SIZE"] == "1"


def test_several_processes_on_one_node_use_torchrun_standalone_and_claim_no_port() -> None:
    plan = plan_launch(1, 8, ["--run-dir", "r"], master_port=29600)
    assert plan.kind == "torchrun"
    assert plan.command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc-per-node=8" in plan.command and "--standalone" in plan.command
    assert not any(arg.startswith("--rdzv-endpoint") for arg in plan.command), "--standalone would ignore it"
    assert plan.describe()["master_port"] is None, "torchrun picks the port; the supervisor records the one used"
    assert plan.command[-4:] == ["--module", "benchbase.train.worker", "--run-dir", "r"]


def test_multi_node_needs_a_master_address() -> None:
    with pytest.raises(BenchbaseError, match="no master address"):
        plan_launch(2, 8, [])


def test_multi_node_passes_node_rank_and_master_to_torchrun() -> None:
    plan = plan_launch(2, 4, [], node_rank=1, master_addr="10.0.0.1", master_port=29600)
    assert {"--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.1", "--master-port=29600"} <= set(plan.command)
    assert plan.world_size == 8


def test_node_rank_outside_the_topology_is_rejected() -> None:
    with pytest.raises(BenchbaseError, match="--node-rank 2 is outside 0..1"):
        plan_launch(2, 1, [], node_rank=2, master_addr="h")


def test_bindings_travel_to_the_workers_as_cpu_lists() -> None:
    binding = Binding(local_rank=0, device_index=0, cpus=(0, 1, 2), numa_node=0, source="test")
    plan = plan_launch(1, 1, [], bindings=[binding])
    assert plan.environment()["BENCHBASE_BINDINGS"] == "[[0, 1, 2]]"
    assert plan.describe()["bindings"][0]["cpus"] == "0-2"


# -- bindings against the CPUs this process may use ------------------------------------------------------------------
def _bindings(*cpu_lists: tuple[int, ...]) -> list[Binding | None]:
    return [Binding(rank, rank, cpus, 0, "sysfs") for rank, cpus in enumerate(cpu_lists)]


def test_bindings_within_the_allowed_cpus_are_kept_without_a_note(tmp_path: Path) -> None:
    planned = _bindings((0, 1), (2, 3))
    assert fit_to_allowed(tmp_path, planned, {0, 1, 2, 3, 4}) == (planned, None)


def test_each_rank_keeps_the_allowed_part_of_its_cpus(tmp_path: Path) -> None:
    fitted, note = fit_to_allowed(tmp_path, _bindings((0, 1), (2, 3)), {1, 2})
    assert [b.cpus for b in fitted] == [(1,), (2,)] and fitted[0].numa_node == 0
    assert note is not None and note.startswith("CPU binding 0-3 names CPUs this process may not use (allowed: 1-2")
    assert "each rank keeps the allowed part" in note and "\n" not in note


def test_a_rank_left_without_cpus_shares_out_the_allowed_ones_with_the_others(tmp_path: Path) -> None:
    """Slurm's task/affinity with --cpus-per-task=1: the issue's 'CPU binding 1 ... (allowed: 0)'."""
    fitted, note = fit_to_allowed(tmp_path, [*_bindings((0,), (1,)), None], {0})
    assert [b.cpus for b in fitted[:2]] == [(0,), (0,)] and fitted[2] is None
    assert "oversubscribed" in fitted[1].source and fitted[1].numa_node is None
    assert note is not None and "the ranks share out the allowed CPUs" in note


def test_a_binding_this_process_may_not_use_is_the_ranks_own_error(tmp_path: Path) -> None:
    """The worker applies its binding inside its error handling: one line in its log, exit code 2."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"values": {}, "case": "cpm", "vendor": "cpu", "run_id": "r"}))
    impossible = max(os.sched_getaffinity(0)) + 1
    worker = subprocess.run(
        [sys.executable, "-m", "benchbase.train.worker", "--run-dir", str(run)],
        env={**os.environ, "BENCHBASE_BINDINGS": f"[[{impossible}]]"}, capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == 2, worker.stdout + worker.stderr
    log = (run / "logs" / "rank0.log").read_text()
    assert f"error: CPU binding {impossible} of local rank 0 names no CPU this process may use" in log
    assert "Traceback" not in log


# -- Slurm --------------------------------------------------------------------------------------------------------
STEP = {"SLURM_STEP_ID": "0", "SLURM_NODEID": "1", "SLURM_STEP_NODELIST": "gpu[03-04]", "SLURM_STEP_NUM_NODES": "2",
        "SLURM_STEP_NUM_TASKS": "2"}


def test_a_task_of_the_step_takes_its_node_rank_from_slurm_and_the_master_it_was_given() -> None:
    assert slurm.in_step(STEP) and not slurm.in_step({"SLURM_JOB_ID": "7", "SLURM_NODEID": "0"})
    assert slurm.step_placement(2, "10.0.0.3", STEP) == (1, "10.0.0.3")
    assert slurm.step_placement(2, None, STEP) == (1, "gpu03"), "a step started by hand: its first host"


def test_a_step_with_another_shape_than_the_config_is_refused_in_one_line() -> None:
    with pytest.raises(BenchbaseError, match=r"asks for 2 node\(s\) but this Slurm step has 4 task\(s\) on 2 node"):
        slurm.step_placement(2, None, {**STEP, "SLURM_STEP_NUM_TASKS": "4"})


@pytest.mark.parametrize(("nodelist", "first"), [("gpu[03-04,07],cpu1", "gpu03"), ("n7", "n7"), ("a1,b2", "a1")])
def test_first_host_of_a_slurm_node_list(nodelist: str, first: str) -> None:
    assert slurm.first_host(nodelist) == first


def test_each_task_repeats_the_run_without_the_options_the_script_sets_itself() -> None:
    argv = ["run", "cpm", "--vendor", "cpu", "--dry-run", "--launcher", "slurm", "--master-port=1", "--node-rank", "1"]
    assert slurm.step_argv(argv) == ["run", "cpm", "--vendor", "cpu"]
    with pytest.raises(BenchbaseError, match="does not start with `run`"):
        slurm.step_argv(["report"])


def _job(tmp_path: Path, nnodes: int, gpus: int | None) -> slurm.BatchJob:
    return slurm.batch_job(
        "cpm", "nvidia", nnodes, 8, gpus_per_node=gpus, master_port=None, out_root=tmp_path / "runs",
        run_argv=["run", "cpm", "--vendor", "nvidia", "--config", f"{nnodes}x8", "--out", str(tmp_path / "runs")],
    )


def test_the_batch_script_asks_for_whole_nodes_and_runs_one_supervisor_per_node(tmp_path: Path) -> None:
    job = _job(tmp_path, 2, 8)
    lines = job.text().splitlines()
    assert lines[0] == "#!/bin/bash"
    sbatch = [line for line in lines if line.startswith("#SBATCH")]
    assert sbatch[:6] == [
        "#SBATCH --job-name=benchbase-cpm-nvidia-2x8", "#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=8", "#SBATCH --gpus-per-node=8", "#SBATCH --exclusive",
    ]
    assert f"#SBATCH --output={tmp_path}/slurm/benchbase-cpm-nvidia-2x8-%j.out" in sbatch
    assert 'master_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)' in lines
    step = lines[-1]
    assert "cpus_per_node=${SLURM_JOB_CPUS_PER_NODE%%[(,]*}" in lines, "2(x2) or 64,32: the first node's count"
    assert step.startswith('srun --nodes=2 --ntasks-per-node=1 --cpus-per-task="$cpus_per_node" /')
    assert step.endswith(f'--out {tmp_path}/runs --launcher slurm --master-addr "$master_addr" --master-port 29500')
    written = job.write()
    assert written == tmp_path / "slurm" / "benchbase-cpm-nvidia-2x8.sbatch" and written.read_text() == job.text()


def test_one_node_needs_no_master_and_the_host_cpu_asks_for_no_gpu(tmp_path: Path) -> None:
    text = _job(tmp_path, 1, None).text()
    assert "--gpus-per-node" not in text and "master_addr" not in text and "--master-port" not in text
    assert text.splitlines()[-1].endswith("--launcher slurm")


def test_a_script_that_cannot_be_written_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    job = _job(tmp_path / "taken", 1, None)
    with pytest.raises(BenchbaseError, match="cannot write the batch script .*; choose an --out"):
        job.write()
