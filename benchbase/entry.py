"""The target of the ``benchbase`` console script, free of imports on purpose.

A process pool started with ``spawn`` (CPM's tokenizer workers) re-runs the parent's main module in every worker.
For ``benchbase`` that module is the console script, which imports its target: pointing it at :mod:`benchbase.cli`
made every worker import click, rich and torch (about 1.4 s) before tokenizing a line. Importing the command line
only when the script really runs keeps a worker's start-up to its own needs.
"""

from __future__ import annotations


def main() -> None:
    """Run the ``benchbase`` command line."""
    from benchbase.cli import main as run_cli

    run_cli()
