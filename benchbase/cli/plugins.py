"""``benchbase plugins``."""

from __future__ import annotations

import click

from benchbase.cli.output import print_plugins
from benchbase.registry.plugins import load_registry


@click.command("plugins")
def plugins_command() -> None:
    """List installed plugins with their distribution, version, hooks and what they provide; broken plugins are shown
    with their error and name conflicts are shown, not refused, so this is where a user sees what to uninstall."""
    print_plugins(load_registry())
