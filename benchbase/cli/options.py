"""Options and value checks that several commands share, and the type of ``--launcher``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from benchbase.config.coerce import coerce_value
from benchbase.config.parameters import CORE_PARAMETERS
from benchbase.launch.builtin import LAUNCHERS


def set_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--set-file`` and ``--set``, shared by ``run`` and ``prepare`` so both read overrides alike."""
    function = click.option(
        "--set-file",
        "set_file",
        type=click.Path(path_type=Path),
        help="YAML file of KEY: VALUE overrides, applied before --set (same rules as --set).",
    )(function)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config key (repeatable). Only mutable keys unless --unofficial.",
    )(function)


#: A host name (at most 253 characters, RFC 1035) or an IPv4/IPv6 address, as torchrun's --master-addr takes it.
_ADDRESS = re.compile(r"[A-Za-z0-9._:%\[\]-]{1,253}")


def check_address(value: str | None) -> str | None:
    """``--master-addr`` is checked here, not first by the rendezvous on every node minutes later."""
    if value is not None and not _ADDRESS.fullmatch(value):
        raise click.BadParameter(
            "expected a host name or an IP address (letters, digits, '.', '-', ':', at most 253 characters)",
            param_hint="'--master-addr'",
        )
    return value


def check_timeout(value: float | None) -> float | None:
    """``--timeout`` is checked against ``timeout_s``'s range as it is parsed, before any plugin call runs under it
    (click's float takes ``nan`` and ``1e308``)."""
    if value is not None:
        coerce_value("timeout_s", CORE_PARAMETERS["timeout_s"], value, "--timeout")
    return value


class LauncherName(click.ParamType):
    """``--launcher``: any launcher a plugin registers, checked against the registry once the command loads it (loading
    plugins for ``--help`` would import torch); the help lists the core's own."""

    name = "launcher"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"[{'|'.join(launcher.name for launcher in LAUNCHERS)}]"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(launcher.name) for launcher in LAUNCHERS if launcher.name.startswith(incomplete)]


def slurm_site_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``run``'s options for ``--launcher slurm``'s batch script (:mod:`benchbase.launch.slurm_site` checks their
    values, in one line each)."""
    slurm = "(--launcher slurm) "
    options = [
        click.option("--partition", help=slurm + "Partition to queue the job in (#SBATCH --partition)."),
        click.option("--account", help=slurm + "Account to charge the job to (#SBATCH --account)."),
        click.option("--qos", help=slurm + "Quality of service (#SBATCH --qos)."),
        click.option("--time", help=slurm + "Time limit, e.g. 30, 2:00:00 or 1-12 (#SBATCH --time)."),
        click.option("--sbatch-option", "sbatch_options", multiple=True, metavar="--NAME[=VALUE]",
                     help=slurm + "Any other sbatch option, one per use (repeatable), e.g. "
                                  "--sbatch-option=--constraint=a100."),
        click.option("--container-mounts", metavar="SRC:DST[:FLAGS][,...]",
                     help=slurm + "Bind mounts into the --container-image container (pyxis: srun "
                                  "--container-mounts)."),
        click.option("--signal", metavar="SIG[@SECONDS]",
                     help=slurm + "Signal Slurm sends the batch script SECONDS (default 60) before the time limit; "
                                  "the script then requeues the job (needs --requeue)."),
        click.option("--requeue", is_flag=True,
                     help=slurm + "Requeue the job when it is preempted or signalled; the requeued job resumes the "
                                  "same record from its last checkpoint (needs --set checkpoint_every=N)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function
