"""``benchbase env``: the host, and what each vendor finds on it."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from benchbase.cli.output import console
from benchbase.errors import BenchbaseError
from benchbase.hardware.host import host_facts
from benchbase.registry import bounded, checked
from benchbase.registry.plugins import load_checked_registry


@click.command("env")
@click.option("--vendor", "vendor_name", help="Only this vendor (default: every installed vendor).")
def env_command(vendor_name: str | None) -> None:
    """Show the host and what each vendor finds on it (or, in one line, why it finds nothing)."""
    registry = load_checked_registry()
    vendors = [registry.vendor(vendor_name)] if vendor_name else [registry.vendors[n] for n in sorted(registry.vendors)]
    facts = host_facts()
    console.print(f"[bold]host[/bold] {facts['hostname']}: {facts['os']}, Python {facts['python']}, "
                  f"torch {facts['torch']['version']}, {facts['cpu_count_logical']} CPUs, "
                  f"{facts['memory_total_gib']} GiB")
    for vendor in vendors:
        # Each call is bounded and its value checked (a hung driver, an exception or a wrong type is one line naming
        # the plugin), and one vendor's trouble never hides what the others found.
        try:
            devices = checked.call(vendor, "discover()", checked.DEVICES, vendor.discover)
            found = ", ".join(f"{d.index}: {d.model}" for d in devices)
            console.print(f"[bold]{vendor.name}[/bold]: {len(devices)} device(s): {found}")
        except BenchbaseError as exc:
            console.print(f"[bold]{vendor.name}[/bold]: [yellow]nothing found[/yellow]: {escape(str(exc))}",
                          soft_wrap=True)
            if isinstance(exc, bounded.PluginHang):
                continue
        try:
            console.print_json(json.dumps(checked.call(vendor, "environment()", checked.FACTS, vendor.environment)))
        except BenchbaseError as exc:
            console.print(f"[bold]{vendor.name}[/bold]: [yellow]no environment[/yellow]: {escape(str(exc))}",
                          soft_wrap=True)
