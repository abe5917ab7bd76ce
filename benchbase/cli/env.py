"""``benchbase env``: the host, and what each vendor finds on it."""

from __future__ import annotations

import json

import click

from benchbase.cli.output import console, markup_safe
from benchbase.errors import BenchbaseError


@click.command("env")
@click.option("--vendor", "vendor_name", help="Only this vendor (default: every installed vendor).")
def env_command(vendor_name: str | None) -> None:
    """Show the host and what each vendor finds on it (or, in one line, why it finds nothing)."""
    # Torch's version is read from its files: importing torch would triple this command's time, and what only the
    # imported torch knows (threads, MKL, TF32 switches) is in every run's env.json (``host.torch``).
    from benchbase.hardware.host import host_basics
    from benchbase.hardware.torch_build import torch_build
    from benchbase.registry import bounded, checked
    from benchbase.registry.plugins import load_checked_registry

    registry = load_checked_registry()
    vendors = [registry.vendor(vendor_name)] if vendor_name else [registry.vendors[n] for n in sorted(registry.vendors)]
    facts = host_basics()
    console.print(f"[bold]host[/bold] {markup_safe(facts['hostname'])}: {markup_safe(facts['os'])}, Python "
                  f"{markup_safe(facts['python'])}, torch {markup_safe(torch_build()['version'])}, "
                  f"{facts['cpu_count_logical']} CPUs, {facts['memory_total_gib']} GiB", highlight=False,
                  soft_wrap=True)
    for vendor in vendors:
        # Each call is bounded and its value checked (a hung driver, an exception or a wrong type is one line naming
        # the plugin), and one vendor's trouble never hides what the others found.
        try:
            devices = checked.call(vendor, "discover()", checked.DEVICES, vendor.discover)
            found = ", ".join(f"{d.index}: {d.model}" for d in devices)
            console.print(f"[bold]{markup_safe(vendor.name)}[/bold]: {len(devices)} device(s): {markup_safe(found)}",
                          highlight=False, soft_wrap=True)
        except BenchbaseError as exc:
            console.print(f"[bold]{markup_safe(vendor.name)}[/bold]: [yellow]nothing found[/yellow]: "
                          f"{markup_safe(exc)}", soft_wrap=True, highlight=False)
            if isinstance(exc, bounded.PluginHang):
                continue
        try:
            console.print_json(json.dumps(checked.call(vendor, "environment()", checked.FACTS, vendor.environment)))
        except BenchbaseError as exc:
            console.print(f"[bold]{markup_safe(vendor.name)}[/bold]: [yellow]no environment[/yellow]: "
                          f"{markup_safe(exc)}", soft_wrap=True, highlight=False)
