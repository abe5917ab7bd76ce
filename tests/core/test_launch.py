"""Launch plans: one process for 1x1, torchrun otherwise, Slurm facts read from its environment."""

from __future__ import annotations

import sys

import pytest

from benchbase.contract import Binding
from benchbase.errors import BenchbaseError
from benchbase.launch import from_slurm_environment, plan_launch, slurm_submit_command


def test_one_by_one_runs_the_worker_directly_without_a_launcher() -> None:
    plan = plan_launch(1, 1, ["--run-dir", "r"])
    assert plan.kind == "single"
    assert plan.command == [sys.executable, "-m", "benchbase.worker", "--run-dir", "r"]
    assert plan.environment()["WORLD_SIZE"] == "1"


def test_several_processes_on_one_node_use_torchrun_standalone() -> None:
    plan = plan_launch(1, 8, ["--run-dir", "r"])
    assert plan.kind == "torchrun"
    assert plan.command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc-per-node=8" in plan.command and "--standalone" in plan.command
    assert plan.command[-4:] == ["--module", "benchbase.worker", "--run-dir", "r"]


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


def test_slurm_environment_gives_node_rank_and_the_first_host_as_master() -> None:
    env = {"SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "gpu[03-04,07],cpu1"}
    assert from_slurm_environment(env) == (1, "gpu03")


def test_outside_slurm_the_error_says_how_to_submit() -> None:
    with pytest.raises(BenchbaseError, match="not inside a Slurm allocation"):
        from_slurm_environment({})


def test_slurm_submit_line_starts_one_supervisor_per_node() -> None:
    line = slurm_submit_command(2, ["run", "cpm", "--vendor", "iluvatar", "--config", "2x8"], 29500)
    assert line[:3] == ["srun", "--nodes=2", "--ntasks-per-node=1"]
    assert line[-4:] == ["--launcher", "slurm", "--master-port", "29500"]
