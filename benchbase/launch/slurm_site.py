"""A site's Slurm options for the batch script: where the job queues (``--partition``, ``--account``, ``--qos``), how
long it may run (``--time``), anything else as ``--sbatch-option``, the container its tasks run in (pyxis's ``srun
--container-image`` and ``--container-mounts``), and whether a preempted job is requeued (``--requeue``, with
``--signal`` for the warning Slurm sends before it stops the job).

Every value is checked before it is written: sbatch reads a ``#SBATCH`` line up to its end, so a newline, or any
character a shell or sbatch's own parser could read as the start of something else, would let a value write lines of
its own choosing into a script that then runs on every node. What no rule below allows is refused in one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.foreign import visible

#: The ``run`` options only this module reads, by parameter name; ``--requeue`` is the only flag. ``--container-image``
#: is ``run``'s own (``JobShape.container_image``), which the Kubernetes launcher reads too.
SITE_OPTIONS: dict[str, str] = {
    "partition": "--partition",
    "account": "--account",
    "qos": "--qos",
    "time": "--time",
    "sbatch_options": "--sbatch-option",
    "container_mounts": "--container-mounts",
    "signal": "--signal",
    "requeue": "--requeue",
}
#: Partition, account and QoS names (a partition may be a comma-separated list).
_NAME = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")
#: sbatch's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]].
_TIME = re.compile(r"\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}|UNLIMITED|INFINITE")
#: One sbatch option as ``--name`` or ``--name=value``; the value without spaces, quotes or shell characters.
_SBATCH_OPTION = re.compile(r"--([a-z][a-z0-9-]*)(=[A-Za-z0-9_.,:@%/+=-]+)?")
#: pyxis's image (``[USER@][REGISTRY#]IMAGE[:TAG]``, or a squashfs file's path) and mounts (``SRC:DST[:FLAGS],...``).
_IMAGE = re.compile(r"[A-Za-z0-9_.@#:/+-]+")
_MOUNTS = re.compile(r"[A-Za-z0-9_.@:/+-]+(,[A-Za-z0-9_.@:/+-]+)*")
#: ``--signal``'s signals: those a batch shell can trap without stopping on them first.
SIGNALS = ("USR1", "USR2", "URG", "HUP", "INT", "TERM", "CONT", "QUIT")
_SIGNAL = re.compile(rf"(?:SIG)?({'|'.join(SIGNALS)})(?:@(\d{{1,5}}))?")
#: Seconds before the time limit that Slurm sends ``--signal``'s signal when ``@SECONDS`` is not given (sbatch's own
#: default).
DEFAULT_SIGNAL_SECONDS = 60
#: What the script sets itself; ``--sbatch-option`` may not set these again.
_OWN = ("job-name", "nodes", "ntasks-per-node", "cpus-per-task", "gpus-per-node", "exclusive", "chdir", "output",
        "open-mode", "partition", "account", "qos", "time", "signal", "requeue", "no-requeue")


@dataclass(frozen=True)
class SlurmSite:
    """The site's options, checked; :meth:`directives` and :meth:`srun_options` are what the script writes."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None
    sbatch_options: tuple[str, ...] = ()
    container_image: str | None = None
    container_mounts: str | None = None
    signal: str | None = None
    requeue: bool = False
    #: ``signal`` read as (name, seconds before the time limit).
    warning: tuple[str, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for key, pattern, example in (("partition", _NAME, "gpu"), ("account", _NAME, "bench"),
                                      ("qos", _NAME, "normal"), ("time", _TIME, "2:00:00 or 1-12"),
                                      ("container_image", _IMAGE, "nvcr.io#nvidia/pytorch:24.05-py3"),
                                      ("container_mounts", _MOUNTS, "/data:/data:ro,/scratch:/scratch")):
            value = getattr(self, key)
            if value is not None and not pattern.fullmatch(value):
                option = f"--{key.replace('_', '-')}"
                _refuse(option, value, f"give it as e.g. {option} {example}")
        for option in self.sbatch_options:
            match = _SBATCH_OPTION.fullmatch(option)
            if not match:
                _refuse("--sbatch-option", option, "give one sbatch option as --name or --name=value, the value "
                        "without spaces, quotes or shell characters (e.g. --sbatch-option=--constraint=a100)")
            elif match.group(1) in _OWN:
                raise BenchbaseError(f"--sbatch-option {option}: the script writes --{match.group(1)} itself",
                                     _own_fix(match.group(1)))
        if self.container_mounts is not None and self.container_image is None:
            raise BenchbaseError("--container-mounts mounts folders into the container of --container-image, and "
                                 "none was given", "add --container-image IMAGE")
        if self.signal is not None:
            match = _SIGNAL.fullmatch(self.signal.upper())
            if not match:
                _refuse("--signal", self.signal, f"give SIG[@SECONDS] with SIG one of {', '.join(SIGNALS)} "
                        "(e.g. --signal USR1@120)")
            if not self.requeue:
                raise BenchbaseError("--signal asks Slurm to warn the job before it stops it, so that it can be "
                                     "requeued, but --requeue was not given", "add --requeue")
            seconds = int(match.group(2)) if match.group(2) else DEFAULT_SIGNAL_SECONDS
            object.__setattr__(self, "warning", (match.group(1), seconds))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SlurmSite:
        """From ``run``'s options by their keys in :data:`SITE_OPTIONS` (missing keys: not given)."""
        given = {key: options[key] for key in (*SITE_OPTIONS, "container_image")
                 if options.get(key) not in (None, (), False)}
        if "sbatch_options" in given:
            given["sbatch_options"] = tuple(given["sbatch_options"])
        return cls(**given)

    def directives(self) -> list[str]:
        """The ``#SBATCH`` lines for these options, after the script's own."""
        lines = [f"#SBATCH --{key}={getattr(self, key)}" for key in ("partition", "account", "qos", "time")
                 if getattr(self, key) is not None]
        lines += [f"#SBATCH {option}" for option in self.sbatch_options]
        if self.requeue:
            # The log of every attempt stays in the one file: a requeued job would otherwise truncate it.
            lines += ["#SBATCH --requeue", "#SBATCH --open-mode=append"]
        if self.warning is not None:
            name, seconds = self.warning
            lines.append(f"#SBATCH --signal=B:{name}@{seconds}")
        return lines

    def srun_options(self) -> list[str]:
        """pyxis's options for the step's ``srun`` line."""
        options = []
        if self.container_image is not None:
            options.append(f"--container-image={self.container_image}")
        if self.container_mounts is not None:
            options.append(f"--container-mounts={self.container_mounts}")
        return options


def _own_fix(name: str) -> str:
    """How to get what an ``--sbatch-option`` the script writes itself asked for."""
    if name in ("partition", "account", "qos", "time", "signal", "requeue"):
        return f"give it as benchbase run's own --{name}"
    if name in ("nodes", "ntasks-per-node", "cpus-per-task", "gpus-per-node"):
        return "give the job's shape as --config NxM (N nodes x M ranks each)"
    return "drop it: the script needs its own"


def _refuse(option: str, value: str, fix: str) -> None:
    raise BenchbaseError(f"{option} {visible(value)} is not a value {option} takes, or could break out of its line "
                         "in the Slurm batch script", fix)
