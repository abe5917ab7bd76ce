"""``benchbase list``."""

from __future__ import annotations

import click

from benchbase.cli.output import print_catalogue
from benchbase.registry.plugins import load_checked_registry


@click.command("list")
def list_command() -> None:
    """List installed cases (with their presets) and vendors."""
    registry = load_checked_registry()
    registry.check()
    print_catalogue(registry)
