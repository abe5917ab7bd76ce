"""The ``benchbase`` command line: the click group, one module a verb, and the one-line error handler.

Every user mistake ends as one line on stderr naming the problem and the fix, with a non-zero exit code; a run's
exit code says its status (0 converged, 3 not converged, 4 failed, 5 timeout, 130 interrupted; 2 is bad input).
Each verb module parses its options, makes one call into the layer that decides, and prints through
:mod:`benchbase.cli.output`.
"""

from __future__ import annotations

import sys

import click
import yaml

from benchbase import __version__
from benchbase.cli.env import env_command
from benchbase.cli.export import export_group
from benchbase.cli.list import list_command
from benchbase.cli.output import err_console, print_text
from benchbase.cli.plugins import plugins_command
from benchbase.cli.prepare import prepare_command
from benchbase.cli.report import report_command
from benchbase.cli.run import run_command
from benchbase.errors import MAX_PROBLEM_CHARS, BenchbaseError, one_line
from benchbase.record import disk_space
from benchbase.registry import bounded


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchbase")
def cli() -> None:
    """benchbase: measure how well AI accelerators train real models.

    Run a case on a vendor's hardware with `benchbase run`, then print the standard table with `benchbase report`.
    """


for command in (list_command, plugins_command, env_command, prepare_command, run_command, report_command,
                export_group):
    cli.add_command(command)


def main() -> None:
    """Entry point: one line for user errors, never a traceback for them."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("error: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        # Click quotes the value it refused, which may be a megabyte long; BenchbaseError bounds its own.
        message = one_line(exc.format_message(), MAX_PROBLEM_CHARS)
        print_text(f"error: {message}", err_console)
        sys.exit(exc.exit_code)
    except BenchbaseError as exc:
        print_text(f"error: {exc}", err_console)
        sys.exit(exc.exit_code)
    except yaml.YAMLError as exc:
        print_text(f"error: {one_line(str(exc), MAX_PROBLEM_CHARS)}", err_console)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        sys.exit(130)
    except bounded.RunStopped as exc:
        print_text(f"error: {exc}", err_console)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A disk that is full, read-only or not ours, met outside a run's record (a cache, an output file).
        print_text(f"error: {disk_space.describe(exc)}", err_console)
        sys.exit(2)
