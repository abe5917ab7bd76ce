"""The verbs of ``benchbase``, each imported only when the command line names it.

A verb's module brings what that verb needs (the report builder, the exporter, the config resolver, rich tables),
and most commands use one verb: importing them all made every command pay for every verb's imports before doing
anything (issue 22: a dry run spent a third of its start importing verbs it never ran). ``benchbase --help`` and
shell completion still list every verb with its one-line help, so they import each verb's module.
"""

from __future__ import annotations

import importlib

import click

#: Each verb's name, the module that defines its command, and the command's name there.
VERBS: dict[str, tuple[str, str]] = {
    "list": ("benchbase.cli.list", "list_command"),
    "plugins": ("benchbase.cli.plugins", "plugins_command"),
    "env": ("benchbase.cli.env", "env_command"),
    "prepare": ("benchbase.cli.prepare", "prepare_command"),
    "run": ("benchbase.cli.run", "run_command"),
    "report": ("benchbase.cli.report", "report_command"),
    "verify": ("benchbase.cli.verify", "verify_command"),
    "export": ("benchbase.cli.export", "export_group"),
}


class VerbGroup(click.Group):
    """A click group whose verbs are imported by name when invoked (or listed), not when the program starts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = VERBS.get(cmd_name)
        if where is None:
            return None
        module, command = where
        loaded: click.Command = getattr(importlib.import_module(module), command)
        return loaded
