"""Reading a YAML config file through benchbase's one YAML loader (:mod:`benchbase.record.bounded_yaml`), which
refuses duplicate keys and bounds what a document expands to; records' ``config.yaml`` is read with the same one.

A config file or a ``--set`` value comes from a user or a copied folder; whatever it holds must end as one line
naming the file and the fix, never as a silently kept duplicate, an exhausted memory or a RecursionError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from benchbase.errors import BenchbaseError
from benchbase.record.bounded_yaml import YamlTooLarge, safe_load

#: A config is a few dozen ``key: value`` lines (the largest shipped one is under 2 KB); a file beyond this is the
#: wrong file (``/dev/zero``, a dataset), and reading it whole would exhaust memory first.
MAX_CONFIG_BYTES = 1 << 20


def _kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def load_yaml_file(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; an empty file is an empty mapping (a tuned file that changes nothing).

    Every failure names the file (and for syntax errors the line and column) because the user has to go and edit it.
    At most :data:`MAX_CONFIG_BYTES` are read: a larger file is refused before it fills memory. Only a regular file
    is read: it is opened without waiting (``O_NONBLOCK``: opening a FIFO no writer holds would block for ever) and
    refused unless ``fstat`` says it is a regular file, so a FIFO, a device (``/dev/zero``) or a directory is one
    line at once, with or without ``--timeout``.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            kind = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(kind):
                raise BenchbaseError(
                    f"config file {path} is {_kind_of(kind)}, not a regular file",
                    "name a YAML file of 'key: value' lines",
                )
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise BenchbaseError(
                f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB, far more than any config",
                "check that the path names a YAML file of 'key: value' lines",
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise BenchbaseError(f"config file {path} does not exist", "check the path") from None
    except UnicodeDecodeError as exc:
        raise BenchbaseError(f"config file {path} is not UTF-8 text ({exc.reason})", "save it as UTF-8") from None
    except OSError as exc:
        raise BenchbaseError(
            f"cannot read config file {path}: {exc.strerror}", "check the path and permissions"
        ) from None
    try:
        data = safe_load(text, keep_bool_words=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, YamlTooLarge):
            raise BenchbaseError(
                f"config file {path}{where} {problem}", "write the config as 'key: value' lines of single values"
            ) from None
        raise BenchbaseError(f"malformed YAML in {path}{where}: {problem}", "fix the YAML there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BenchbaseError(
            f"config file {path} holds a {type(data).__name__} at the top level, not a mapping",
            "write it as 'key: value' lines",
        )
    return data
