"""A site's Slurm options as the batch script writes them, and every value that could break out of its ``#SBATCH``
line or means nothing refused in one line (tests/cli/test_slurm.py submits such a script to a real cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchbase.errors import BenchbaseError
from benchbase.launch.slurm import BatchJob, step_argv
from benchbase.launch.slurm_site import SlurmSite


def _script(site: SlurmSite) -> list[str]:
    job = BatchJob(name="benchbase-cpm-cpu-1x1", nnodes=1, nproc_per_node=1, gpus_per_node=None,
                   run_command=["/venv/bin/benchbase", "run", "cpm", "--vendor", "cpu"], master_port=29500,
                   workdir=Path("/work"), script_path=Path("/work/reports/slurm/job.sbatch"), site=site)
    return job.text().splitlines()


def test_the_queue_time_and_other_sbatch_options_are_directives_after_the_scripts_own() -> None:
    lines = _script(SlurmSite(partition="gpu,debug", account="bench", qos="normal", time="1-12:00:00",
                              sbatch_options=("--constraint=h100", "--exclusive-user")))
    directives = [line for line in lines if line.startswith("#SBATCH")]
    assert directives[-6:] == ["#SBATCH --partition=gpu,debug", "#SBATCH --account=bench", "#SBATCH --qos=normal",
                               "#SBATCH --time=1-12:00:00", "#SBATCH --constraint=h100", "#SBATCH --exclusive-user"]
    assert directives.index("#SBATCH --output=/work/reports/slurm/job-%j.out") < directives.index(
        "#SBATCH --partition=gpu,debug")


def test_a_container_image_puts_pyxis_options_on_the_srun_line_and_runs_the_images_benchbase() -> None:
    (step,) = [line for line in _script(SlurmSite(container_image="nvcr.io#nvidia/pytorch:24.05-py3",
                                                  container_mounts="/data:/data:ro")) if line.startswith("srun ")]
    assert "'--container-image=nvcr.io#nvidia/pytorch:24.05-py3' --container-mounts=/data:/data:ro" in step
    assert " benchbase run cpm --vendor cpu --launcher slurm" in step and "/venv/bin" not in step


def test_requeue_with_a_signal_traps_it_and_requeues_the_job_keeping_one_log() -> None:
    lines = _script(SlurmSite(signal="usr1@120", requeue=True))
    assert {"#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@120"} <= set(lines)
    trap = next(line for line in lines if line.startswith("trap "))
    assert 'scontrol requeue "$SLURM_JOB_ID"' in trap and trap.endswith(" USR1")
    assert next(line for line in lines if line.startswith("srun ")).endswith(" &"), "in the background, so the " \
        "trap runs while the step does"


def test_a_signal_without_seconds_is_sent_sbatchs_default_60_seconds_before_the_limit() -> None:
    assert "#SBATCH --signal=B:TERM@60" in _script(SlurmSite(signal="SIGTERM", requeue=True))


def test_the_site_options_are_not_repeated_on_each_tasks_command_line() -> None:
    argv = ["run", "cpm", "--vendor", "cpu", "--partition", "gpu", "--time=30", "--sbatch-option", "--mem=0",
            "--container-image", "img", "--requeue", "--signal", "USR1", "--set", "checkpoint_every=5"]
    assert step_argv(argv) == ["run", "cpm", "--vendor", "cpu", "--set", "checkpoint_every=5"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"sbatch_options": ("--comment=x\n#SBATCH --wrap=rm",)}, "--comment=x\\x0a#SBATCH --wrap=rm is not a value"),
        ({"sbatch_options": ("--comment='a b'",)}, "without spaces, quotes or shell characters"),
        ({"sbatch_options": ("constraint=a100",)}, "give one sbatch option as --name or --name=value"),
        ({"sbatch_options": ("--nodes=4",)}, "the script writes --nodes itself; give the job's shape as --config"),
        ({"sbatch_options": ("--partition=gpu",)}, "give it as benchbase run's own --partition"),
        ({"sbatch_options": ("--output=/tmp/x",)}, "drop it: the script needs its own"),
        ({"partition": "gpu;reboot"}, "--partition gpu;reboot is not a value --partition takes"),
        ({"account": "a\rb"}, "--account a\\x0db is not a value"),
        ({"qos": "normal high"}, "--qos normal high is not a value"),
        ({"time": "1 day"}, "give it as e.g. --time 2:00:00 or 1-12"),
        ({"container_image": "img$(id)"}, "--container-image img$(id) is not a value"),
        ({"container_image": "img", "container_mounts": "/a:/b /c:/d"}, "--container-mounts /a:/b /c:/d is not"),
        ({"container_mounts": "/data:/data"}, "add --container-image IMAGE"),
        ({"signal": "KILL@60", "requeue": True}, "SIG one of USR1, USR2"),
        ({"signal": "USR1@1234567", "requeue": True}, "--signal USR1@1234567 is not a value"),
        ({"signal": "USR1"}, "but --requeue was not given"),
    ],
)
def test_a_value_that_could_break_out_of_its_line_or_means_nothing_is_refused_in_one_line(
    given: dict[str, object], expected: str
) -> None:
    with pytest.raises(BenchbaseError) as refused:
        SlurmSite.from_options(given)
    message = str(refused.value)
    assert expected in message and "\n" not in message and "\r" not in message
