"""The one way benchbase reads YAML: a safe loader that refuses duplicate keys and bounds what a document expands to.

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

#: A config is a few dozen ``key: value`` lines (the largest shipped one is under 2 KB); a file beyond this is the
#: wrong file (``/dev/zero``, a dataset), and reading it whole would exhaust memory first.
MAX_CONFIG_BYTES = 1 << 20
#: Nesting of lists and mappings in a config, aliases expanded. Values are scalars, so 2 levels would do; PyYAML
#: composes recursively and would end in a RecursionError near 1000.
MAX_DEPTH = 32
#: Values (keys, scalars, lists and mappings) a config may hold, every alias counted as the whole node it names: a
#: few aliases of aliases ("billion laughs") otherwise expand to gigabytes in whatever walks the result. Every
#: parameter is a single value, so a config of all of a case's keys holds under 200.
MAX_NODES = 1_000


class ConfigTooLarge(yaml.composer.ComposerError):
    """A YAML document nested or expanding beyond :data:`MAX_DEPTH` / :data:`MAX_NODES`."""


class UnreadableValue(yaml.constructor.ConstructorError):
    """A scalar that YAML resolves to a type whose constructor refuses it (``2001-13-01``, a 5000-digit integer)."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and bounding what a document may expand to.

    Duplicate keys: PyYAML keeps the last one silently, which would let a tuned file say ``batch_size`` twice and run
    with whichever came second. Bounds: nesting and values are counted while composing (long before Python's
    recursion limit, and before a megabyte of small values is composed), and the composed document is then measured
    with every alias expanded (each node measured once), before anything is constructed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Counted as they are composed: PyYAML is pure Python here, and composing a whole megabyte of small values
        # before measuring it took most of a minute.
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigTooLarge(None, None, f"is nested more than {MAX_DEPTH} levels deep", mark)
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark
                raise ConfigTooLarge(None, None, f"holds more than {MAX_NODES} values", mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _measure(node, 1, {})
        return node  # type: ignore[no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base constructor reports it with its position
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _measure(node: yaml.Node, depth: int, seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """``(values, levels)`` of ``node`` at nesting ``depth``, aliases expanded; raises :class:`ConfigTooLarge` past
    the bounds. ``seen`` holds each measured node by identity, so an alias costs a lookup, not a walk of its node."""
    known = seen.get(id(node))
    if known is None:
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        values, levels = 1, 0
        for child in children:
            child_values, child_levels = _measure(child, depth + 1, seen)
            values += child_values
            levels = max(levels, child_levels)
            if values > MAX_NODES:
                raise ConfigTooLarge(
                    None, None, f"expands to more than {MAX_NODES} values (each alias counted whole)", node.start_mark
                )
        known = seen[id(node)] = (values, levels + 1)
    if depth - 1 + known[1] > MAX_DEPTH:
        raise ConfigTooLarge(
            None, None, f"is nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark
        )
    return known


def safe_load(text: str) -> Any:
    """One YAML document through the bounded, unique-key loader; a constructor's own refusal is a YAML error too, so
    every caller reports bad input the same way."""
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, OverflowError) as exc:
        # A constructor's own error, e.g. an integer of 5000 digits (Python refuses to convert it) or 2001-13-01
        # read as a date: bad input like any YAML error, so it is raised as one.
        raise UnreadableValue(None, None, f"cannot be read ({exc})", None) from None


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
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, ConfigTooLarge):
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
