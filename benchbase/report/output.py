"""Writing a report to ``--output``: whatever the path is, the user reads one line, never a traceback.

The file is written in place, as a shell redirection would: a report is derived from the records and can be made
again, and writing in place keeps what the user set up at that path (a symlink, its owner and mode, a device such as
``/dev/stdout``), which a rename over it would replace.
"""

from __future__ import annotations

from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.report.loading import RECORD_FILES
from benchbase.run.lock import LOCK_FILE


def refuse_output_in_records(output: Path, read: list[Path]) -> None:
    """The report never writes into a run folder (it would replace or add to a record) nor into a folder of runs it
    reads (the next report would list the file as a broken record)."""
    folders = [output.resolve().parent, *output.resolve().parent.parents]
    markers = (*RECORD_FILES, LOCK_FILE)
    run = next((folder for folder in folders if any((folder / name).exists() for name in markers)), None)
    runs = next((Path(path) for path in read if Path(path).resolve() in folders), None)
    if run is not None or runs is not None:
        where = f"run folder {run}" if run is not None else f"runs folder {runs}"
        raise BenchbaseError(
            f"--output {output} is inside the {where}; the report never writes into run records",
            "write it outside the folders of runs, e.g. under reports/",
        )


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
