"""The verbs of ``benchbase``, each imported only when the command line names it.

A verb's module brings what that verb needs (the report builder, the exporter, the config resolver, rich tables),
and most commands use one verb: importing them all made every command pay for every verb's imports before doing
anything (issue 22: a dry run spent a third of its start importing verbs it never ran). ``benchbase --help`` and
shell completion still list every verb with its one-line help, so they import each verb's module.
"""

from __future__ import annotations

from collections.abc import Callable

import click


def _list() -> click.Command:
    from benchbase.cli.list import list_command

    return list_command


def _plugins() -> click.Command:
    from benchbase.cli.plugins import plugins_command

    return plugins_command


def _env() -> click.Command:
    from benchbase.cli.env import env_command

    return env_command


def _prepare() -> click.Command:
    from benchbase.cli.prepare import prepare_command

    return prepare_command


def _run() -> click.Command:
    from benchbase.cli.run import run_command

    return run_command


def _report() -> click.Command:
    from benchbase.cli.report import report_command

    return report_command


def _verify() -> click.Command:
    from benchbase.cli.verify import verify_command

    return verify_command


def _export() -> click.Command:
    from benchbase.cli.export import export_group

    return export_group


#: Each verb's name and how to import its command.
VERBS: dict[str, Callable[[], click.Command]] = {
    "list": _list,
    "plugins": _plugins,
    "env": _env,
    "prepare": _prepare,
    "run": _run,
    "report": _report,
    "verify": _verify,
    "export": _export,
}


class VerbGroup(click.Group):
    """A click group whose verbs are imported by name when invoked (or listed), not when the program starts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = VERBS.get(cmd_name)
        return None if load is None else load()
