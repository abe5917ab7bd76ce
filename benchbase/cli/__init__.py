"""The ``benchbase`` command line: the click group, one module a verb, and the one-line error handler.

Every user mistake ends as one line on stderr naming the problem and the fix, with a non-zero exit code; a run's
exit code says its status (0 converged, 3 not converged, 4 failed, 5 timeout, 130 interrupted; 2 is bad input, 1 an
error of benchbase itself). No traceback reaches the user unless ``BENCHBASE_DEBUG=1`` asks for it.
Each verb module (imported only when named: :mod:`benchbase.cli.verbs`) parses its options, makes one call into the layer that decides, and prints through
:mod:`benchbase.cli.output`.
"""

from __future__ import annotations

import os
import sys
import traceback

import click
import yaml

from benchbase import __version__
from benchbase.cli.output import err_console, print_text
from benchbase.cli.verbs import VerbGroup
from benchbase.errors import MAX_PROBLEM_CHARS, BenchbaseError, one_line
from benchbase.record import disk_space
from benchbase.registry import bounded

#: Exit code of an error of benchbase itself (a bug): apart from every run status and from bad input (2), so a
#: script tells "benchbase broke" from "the run failed". A run it happened in is recorded as failed.
INTERNAL_ERROR_EXIT = 1
#: Environment variable that, set to 1, prints the traceback of any error before its one line.
DEBUG_ENV = "BENCHBASE_DEBUG"


@click.group(cls=VerbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchbase")
def cli() -> None:
    """benchbase: measure how well AI accelerators train real models.

    Run a case on a vendor's hardware with `benchbase run`, then print the standard table with `benchbase report`.
    """


def main() -> None:
    """Entry point: every exception ends as one line on stderr and a documented exit code, never a traceback
    (unless :data:`DEBUG_ENV` asks for one). ``SystemExit`` keeps its code: click and the verbs exit with it."""
    try:
        _main()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as exc:  # noqa: BLE001 - the last line of defence: nothing reaches the user as a traceback
        _debug_traceback()
        name = bounded.exception_text(exc)
        print_text(
            f"error: benchbase failed unexpectedly ({one_line(name, MAX_PROBLEM_CHARS)}); this is a bug in "
            f"benchbase or a plugin: please report it with the output of the same command run with {DEBUG_ENV}=1",
            err_console,
        )
        sys.exit(INTERNAL_ERROR_EXIT)


def _debug_traceback() -> None:
    if os.environ.get(DEBUG_ENV) == "1":
        traceback.print_exc()


def _main() -> None:
    """The expected errors, each with its documented exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("error: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _debug_traceback()
        # Click quotes the value it refused, which may be a megabyte long; BenchbaseError bounds its own.
        message = one_line(exc.format_message(), MAX_PROBLEM_CHARS)
        print_text(f"error: {message}", err_console)
        sys.exit(exc.exit_code)
    except BenchbaseError as exc:
        _debug_traceback()
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
        _debug_traceback()
        # A disk that is full, read-only or not ours, met outside a run's record (a cache, an output file).
        print_text(f"error: {disk_space.describe(exc)}", err_console)
        sys.exit(2)
