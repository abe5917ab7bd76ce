"""Two "pods" on loopback, placed only by the PET_* variables a Kubeflow operator sets: each runs `benchbase run ...
--launcher kubernetes` with no --node-rank, --master-addr or --master-port, the two train the demo together with
gloo, and the report merges their parts into one run of world size 2. No cluster runs here: the pods are two
processes of this machine given the environment the training operator v1.9.0 gives a PyTorchJob's Master and Worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import benchbase_env
from test_multinode import free_port

pytestmark = pytest.mark.slow

BENCHBASE = [sys.executable, "-c", "from benchbase.cli import main; main()"]


def test_two_pods_placed_only_by_pet_variables_make_one_run_of_world_size_2(cache_dir: Path, tmp_path: Path) -> None:
    port = str(free_port())
    runs = tmp_path / "runs"
    command = [*BENCHBASE, "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "2x1", "--set",
               "max_steps=6", "--set", "log_interval=2", "--launcher", "kubernetes", "--out", str(runs)]
    operator = {"PET_NNODES": "2", "PET_NPROC_PER_NODE": "1", "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": port}
    pods = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=benchbase_env(cache_dir, OMP_WAIT_POLICY="PASSIVE", PET_NODE_RANK=str(rank),
                                           BENCHBASE_POD_NAME=f"bench-{'master' if rank == 0 else 'worker'}-0",
                                           BENCHBASE_JOB_NAME="bench", **operator))
        for rank in (0, 1)
    ]
    outputs = [pod.communicate(timeout=600)[0] for pod in pods]
    assert [pod.returncode for pod in pods] == [3, 3], outputs
    summaries = {}
    for run in runs.iterdir():
        summary = json.loads((run / "summary.json").read_text())
        summaries[summary["node_rank"]] = summary
        env = json.loads((run / "env.json").read_text())
        assert env["launch"]["master_addr"] == "127.0.0.1" and env["launch"]["master_port"] == int(port)
    assert set(summaries) == {0, 1} and summaries[1]["main_run_id"] == summaries[0]["run_id"]
    assert summaries[0]["world_size"] == 2 and summaries[0]["rendezvous"]["master_port"] == int(port)
    report = subprocess.run([*BENCHBASE, "report", str(runs), "--format", "json"], env=benchbase_env(cache_dir),
                            capture_output=True, text=True, check=True, timeout=300)
    rows = json.loads(report.stdout)["rows"]
    assert len(rows) == 1 and rows[0]["group"]["world_size"] == 2 and rows[0]["group"]["nnodes"] == 2
    assert json.loads(report.stdout)["skipped"] == []


def test_a_pod_whose_job_disagrees_with_config_is_refused_in_one_line_before_any_record(
        cache_dir: Path, tmp_path: Path) -> None:
    pod = subprocess.run(
        [*BENCHBASE, "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "2x1", "--launcher",
         "kubernetes", "--out", str(tmp_path / "runs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=benchbase_env(cache_dir, PET_NNODES="3", PET_NODE_RANK="0", PET_MASTER_ADDR="127.0.0.1",
                          PET_MASTER_PORT="29500"),
    )
    assert pod.returncode == 2, pod.stdout + pod.stderr
    assert pod.stderr.strip().splitlines() == [
        "error: --config asks for 2 node(s) but this job has PET_NNODES=3; give --config the job's number of pods "
        "(the PyTorchJob's Master plus Worker replicas) as its N"]
    assert not (tmp_path / "runs").exists()
