"""The user's ``benchbase run ...`` arguments as each node of a submitted job repeats them."""

from __future__ import annotations

import shlex
from collections.abc import Collection

from benchbase.errors import BenchbaseError


def node_argv(
    argv: list[str], dropped: Collection[str], where: str, flags: Collection[str] = ("--dry-run",)
) -> list[str]:
    """``argv`` without the ``dropped`` options (each with its value, given as ``--opt V`` or ``--opt=V``) and the
    ``flags`` (options without a value; ``--dry-run`` by default), which the job sets for every node itself;
    ``where`` names the job for the error."""
    if argv[:1] != ["run"]:
        raise BenchbaseError(
            f"cannot repeat the command line {shlex.join(argv)!r} in {where}: it does not start with `run`",
            "write the job from a shell with `benchbase run ... --launcher NAME`",
        )
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped:
            skip = True
        elif arg not in flags and not arg.startswith(tuple(f"{option}=" for option in dropped)):
            kept.append(arg)
    return kept
