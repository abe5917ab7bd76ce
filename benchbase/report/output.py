"""Writing a report to ``--output``: whatever the path is, the user reads one line, never a traceback.

The file is written in place, as a shell redirection would: a report is derived from the records and can be made
again, and writing in place keeps what the user set up at that path (a symlink, its owner and mode, a device such as
``/dev/stdout``), which a rename over it would replace.
"""

from __future__ import annotations

from pathlib import Path

from benchbase.errors import BenchbaseError


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path``; a folder, a missing parent folder or an unwritable path is a one-line error."""
    path = Path(path)
    if path.is_dir():
        raise BenchbaseError(f"--output {path} is a folder", f"name a file, e.g. --output {path / 'report.md'}")
    if not path.parent.is_dir():
        raise BenchbaseError(
            f"the folder of --output {path} does not exist", f"create {path.parent} first or choose another path"
        )
    try:
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise BenchbaseError(
            f"cannot write --output {path}: {exc.strerror or exc}", "choose a writable path for --output"
        ) from None
