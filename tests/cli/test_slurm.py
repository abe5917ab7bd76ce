"""A real Slurm cluster on loopback runs the batch script benchbase writes.

The session starts munged, slurmctld and two slurmd (nodes ``bb1`` at 127.0.0.2 and ``bb2`` at 127.0.0.3, both this
machine) from a temporary folder, with ``task/affinity`` on as on most real clusters, so each task is confined to the
CPUs Slurm gave it. ``sbatch --wait`` runs the script; the report then finds one merged, converged run of world size
2, for 2 nodes x 1 task and for 1 node x 2 tasks. A step confined to one CPU still trains, its binding narrowed in one
line. Every process the cluster started is stopped at the end, whatever happened.

Where Slurm is missing the fixture installs it (Debian's ``slurm-wlm`` and ``munge``, as ``.ci/run`` does) and skips,
with the reason, only where that cannot be done. Wall time measured on 2 CPUs shared with other test suites (load
average 3-6): 2 min 15 s for this file: setup 23 s (the demo data prepared into a cold cache 21 s, the cluster's
start 1.3 s), 2x1 47 s, 1x2 45 s, the one-CPU step 17 s, the dry run 2 s. The requeue test (a job with site options,
signalled, requeued, resumed) took 204 s at a load average of 10-12 on 2026-12-07: 56 s to its first checkpoint and the
signal, 45 s until the requeued job ran (``cred_expire`` 30 s), 76 s to converge.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from conftest import apt_install_or_skip, benchbase_env, run_benchbase

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo", "scancel")
#: Where Debian puts the daemons, not on a user's PATH.
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
NODES = {"bb1": "127.0.0.2", "bb2": "127.0.0.3"}
#: A step credential's lifetime, which is also how long a requeued job waits before it starts again (slurm.conf(5),
#: ``cred_expire``; 120 s by default): long enough for a step to start on a loaded machine, short for the requeue test,
#: whose requeued job the scheduler's main loop then starts within ``sched_interval`` (2 s here, 60 s by default).
CRED_EXPIRE_S = 30
DEMO = ["run", "cpm", "--vendor", "cpu", "--preset", "demo"]
#: Both nodes are this machine, so a 2x1 run's two ranks share its CPUs with a full set of threads each; OpenMP's
#: default spin-waiting then makes each wait on the other (measured: 48 s against 7 s for 20 demo steps).
SHARED_CPUS = {"OMP_WAIT_POLICY": "PASSIVE"}


def _install_or_skip() -> None:
    """Install Slurm and munge where they are missing; skip, saying why, only where that is impossible."""
    if all(shutil.which(name, path=SEARCH) for name in DAEMONS):
        return
    apt_install_or_skip(("slurm-wlm", "munge"))


def _free_ports(count: int) -> list[int]:
    """Distinct TCP ports free on loopback now (held open together, so none is handed out twice)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _slurm_conf(root: Path, ports: list[int]) -> str:
    user = getpass.getuser()
    nodes = "\n".join(
        f"NodeName={name} NodeAddr={addr} NodeHostname={name} CPUs={os.cpu_count()} Port={port} State=UNKNOWN"
        for (name, addr), port in zip(NODES.items(), ports[2:])
    )
    return f"""ClusterName=benchbase
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket,cred_expire={CRED_EXPIRE_S}
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
{nodes}
PartitionName=debug Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""


def _ours(process: psutil.Process, conf: Path) -> bool:
    """A process started for this cluster: every daemon, step daemon and job task carries its SLURM_CONF."""
    try:
        return process.environ().get("SLURM_CONF") == str(conf)
    except psutil.Error:
        return False


def _stop(daemons: list[subprocess.Popen[bytes]], conf: Path, env: dict[str, str]) -> None:
    """Cancel what is still queued, stop the daemons' process groups, then anything else of this cluster."""
    if daemons:
        try:
            subprocess.run(["scancel", f"--user={getpass.getuser()}"], env=env, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            pass  # the controller is gone; the sweep below still finds the jobs' processes
    for daemon in reversed(daemons):
        try:
            os.killpg(daemon.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=15)
    leftovers = [p for p in psutil.process_iter() if p.pid != os.getpid() and _ours(p, conf)]
    for process in leftovers:
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(leftovers, timeout=15)


@pytest.fixture(scope="session")
def slurm_conf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A two-node cluster on loopback for this session; the ``SLURM_CONF`` that names it."""
    _install_or_skip()
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("munge", "state", "log", *(f"spool/{name}" for name in NODES)):
        (root / folder).mkdir(parents=True)
    (root / "munge").chmod(0o711)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, _free_ports(2 + len(NODES))))
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": SEARCH}
    munge = root / "munge"
    commands = [
        ["munged", "-F", "--force", f"--key-file={key}", f"--socket={munge}/munge.socket",
         f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"],
        ["slurmctld", "-D", "-f", str(conf)],
        *(["slurmd", "-D", "-N", name, "-f", str(conf)] for name in NODES),
    ]
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            with open(root / "log" / f"{command[0]}-{len(daemons)}.out", "wb") as log:
                daemons.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True))
            if command[0] == "munged":
                _wait_for(lambda: (munge / "munge.socket").exists(), 20, "munged to open its socket", root)
        _wait_for(lambda: _idle_nodes(env) == set(NODES), 60, "both nodes to be idle", root)
        yield str(conf)
    finally:
        _stop(daemons, conf, env)


def _idle_nodes(env: dict[str, str]) -> set[str]:
    shown = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], env=env, capture_output=True, text=True, timeout=30)
    return {line.split()[0] for line in shown.stdout.splitlines() if line.split()[1:] == ["idle"]}


def _wait_for(check, timeout_s: float, what: str, root: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in (root / "log").iterdir())
            pytest.fail(f"gave up after {timeout_s:.0f} s waiting for {what}\n{logs}")
        time.sleep(0.3)


def _write_script(args: list[str], cache_dir: Path, cwd: Path) -> Path:
    result = run_benchbase([*args, "--launcher", "slurm"], cache_dir, cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    (wrote,) = [line.removeprefix("wrote ") for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert f"sbatch {wrote}" in result.stdout, "it says how to submit the script"
    return Path(wrote)


def _report(runs: Path, cache_dir: Path) -> dict:  # type: ignore[type-arg]
    shown = run_benchbase(["report", str(runs), "--format", "json"], cache_dir, runs.parent)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


@pytest.fixture(scope="session")
def demo_cache(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's data prepared once, so the nodes of a job do not each prepare it."""
    prepared = run_benchbase(["prepare", "cpm", "--preset", "demo"], cache_dir, tmp_path_factory.mktemp("prepare"))
    assert prepared.returncode == 0, prepared.stderr
    return cache_dir


@pytest.mark.parametrize(("topology", "nnodes"), [("2x1", 2), ("1x2", 1)])
def test_sbatch_of_the_script_benchbase_writes_converges_as_one_run_of_world_size_2(
    slurm_conf: str, demo_cache: Path, tmp_path: Path, topology: str, nnodes: int
) -> None:
    port = _free_ports(1)[0]
    runs = tmp_path / "runs"
    args = [*DEMO, "--config", topology, "--out", str(runs), "--master-port", str(port)]
    script = _write_script(args, demo_cache, tmp_path)
    text = script.read_text()
    assert f"#SBATCH --nodes={nnodes}" in text and "#SBATCH --ntasks-per-node=1" in text
    assert "#SBATCH --exclusive" in text and "--gpus-per-node" not in text, "the host CPU asks Slurm for no GPU"
    job = subprocess.run(["sbatch", "--wait", "--parsable", str(script)], capture_output=True, text=True,
                         env=benchbase_env(demo_cache, SLURM_CONF=slurm_conf, **SHARED_CPUS), timeout=900)
    job_id = job.stdout.strip().split(";")[0]
    log = script.with_name(f"{script.stem}-{job_id}.out")
    output = log.read_text(errors="replace") if log.exists() else job.stderr
    assert job.returncode == 0, output
    report = _report(runs, demo_cache)
    assert report["skipped"] == [], report["skipped"]
    (row,) = report["rows"]
    assert row["group"]["world_size"] == 2 and row["group"]["nnodes"] == nnodes
    summaries = [json.loads((run / "summary.json").read_text()) for run in runs.iterdir()]
    assert len(summaries) == nnodes and {s["status"] for s in summaries} == {"converged"}, output
    seen = [s["rendezvous"] for s in summaries]
    if nnodes == 2:
        assert all(r["master_addr"] == NODES["bb1"] and r["master_port"] == port for r in seen), seen
    else:
        assert seen[0]["master_port"] > 0, "torchrun --standalone's own port is recorded"
    for run in runs.iterdir():
        assert json.loads((run / "env.json").read_text())["launch"]["binding_note"] is None, "whole nodes, as planned"


def test_a_step_confined_to_one_cpu_narrows_the_binding_in_one_line(
    slurm_conf: str, demo_cache: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    command = [
        "srun", "--nodes=1", "--ntasks=1", "--cpus-per-task=1", sys.executable, "-c",
        "from benchbase.cli import main; main()", *DEMO, "--config", "1x2", "--set", "max_steps=2",
        "--launcher", "slurm", "--out", str(runs),
    ]
    step = subprocess.run(command, cwd=tmp_path, env=benchbase_env(demo_cache, SLURM_CONF=slurm_conf),
                          capture_output=True, text=True, timeout=600)
    assert step.returncode == 3, step.stdout + step.stderr
    (note,) = [line for line in step.stdout.splitlines() if line.startswith("CPU binding")]
    assert "this process may not use" in note and "--cpus-per-task" in note
    (run,) = runs.iterdir()
    launch = json.loads((run / "env.json").read_text())["launch"]
    (cpu,) = {b["cpus"] for b in launch["bindings"]}
    assert launch["binding_note"] == note and cpu.isdigit(), "both ranks share the one CPU the step may use"
    assert json.loads((run / "summary.json").read_text())["status"] == "not_converged"


def test_dry_run_prints_the_batch_script_and_this_nodes_launch_without_writing(cache_dir: Path, tmp_path: Path) -> None:
    """No cluster needed: a device vendor's script asks for its GPUs, and every task repeats the run once."""
    shown = run_benchbase(["run", "cpm", "--vendor", "nvidia", "--config", "2x8", "--launcher", "slurm", "--dry-run"],
                          cache_dir, tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert {"#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8", "#SBATCH --exclusive"} \
        <= set(lines)
    (step,) = [line for line in lines if line.startswith("srun ")]
    assert " run cpm --vendor nvidia --config 2x8 --launcher slurm --master-addr \"$master_addr\"" in step
    assert "--dry-run" not in step and "--nnodes=2" in shown.stdout, "this node's torchrun line is shown too"
    assert not (tmp_path / "reports" / "slurm").exists(), "--dry-run writes nothing"


def _job_state(job_id: str, env: dict[str, str]) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True, text=True,
                           timeout=30)
    return dict(field.split("=", 1) for field in shown.stdout.split() if "=" in field)


def _wait_until(check, timeout_s: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no job log)"
            pytest.fail(f"gave up after {timeout_s:.0f} s waiting for {what}\n{text}")
        time.sleep(0.5)


def test_a_job_with_site_options_preempted_by_its_signal_is_requeued_and_resumes_to_one_converged_record(
    slurm_conf: str, demo_cache: Path, tmp_path: Path
) -> None:
    """The signal the script asked for (``--signal USR1@...``) is sent to its batch shell as Slurm would before the
    time limit (``scancel --batch --signal``); the script requeues the job, Slurm stops the step and runs the script
    again, and that run's step continues the same record from its checkpoint."""
    runs = tmp_path / "runs"
    site = ["--partition", "debug", "--account", "bench", "--time", "10", "--sbatch-option=--comment=requeue-test",
            "--signal", "USR1@30", "--requeue"]
    # The demo evaluates every 40 steps: a target of 0.9, which it meets at step 40, halves the test against the
    # official 0.96 (step 80); the first checkpoint (step 10) comes before it.
    faster = ["--unofficial", "--set", "target=0.9", "--set", "checkpoint_every=10"]
    script = _write_script([*DEMO, "--out", str(runs), *faster, *site], demo_cache, tmp_path)
    text = script.read_text()
    wanted = {"#SBATCH --partition=debug", "#SBATCH --account=bench", "#SBATCH --time=10",
              "#SBATCH --comment=requeue-test", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@30"}
    assert wanted <= set(text.splitlines())
    env = benchbase_env(demo_cache, SLURM_CONF=slurm_conf)
    submitted = subprocess.run(["sbatch", "--parsable", str(script)], env=env, capture_output=True, text=True,
                               timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    log = script.with_name(f"{script.stem}-{job_id}.out")
    _wait_until(lambda: any(runs.glob("*/checkpoint/state.pt")), 300, "the first checkpoint", log)
    signalled = subprocess.run(["scancel", "--batch", "--signal=USR1", job_id], env=env, capture_output=True,
                               text=True, timeout=30)
    assert signalled.returncode == 0, signalled.stderr
    _wait_until(lambda: _job_state(job_id, env).get("JobState") in ("COMPLETED", "FAILED", "CANCELLED"), 600,
                "the requeued job to end", log)
    state = _job_state(job_id, env)
    output = log.read_text(errors="replace")
    assert state["JobState"] == "COMPLETED" and state["Restarts"] == "1", (state, output)
    assert f"benchbase: SIGUSR1, requeueing job {job_id}" in output
    (record,) = runs.iterdir()
    summary = json.loads((record / "summary.json").read_text())
    assert summary["status"] == "converged", output
    events = [json.loads(line)["key"] for line in (record / "events.jsonl").read_text().splitlines()]
    assert events.count("run_start") == 2 and events.count("resume") == 1, "the second attempt resumed the first"
    job = json.loads((record / "env.json").read_text())["provenance"]["job"]
    assert (job["job_id"], job["partition"]) == (job_id, "debug") and "restart_count" not in job, \
        "env.json describes the attempt that started the record"
    assert job["node_list"] in NODES, "the node the job ran on"
    (row,) = _report(runs, demo_cache)["rows"]
    assert row["group"]["world_size"] == 1
