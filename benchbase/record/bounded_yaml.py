"""The bounded YAML loader: a safe loader that refuses duplicate keys and bounds what a document expands to.

It lives in the record layer because a record's ``config.yaml`` is untrusted input like a user's config file, and
both must be read by the same loader (:mod:`benchbase.config.safe_yaml` reads config files with it; the record layer
reads ``config.yaml`` with it). Whatever a document holds ends as a YAML error, never as a silently kept duplicate,
an exhausted memory or a RecursionError.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Nesting of lists and mappings in a config, aliases expanded. Values are scalars, so 2 levels would do; PyYAML
#: composes recursively and would end in a RecursionError near 1000.
MAX_DEPTH = 32
#: Values (keys, scalars, lists and mappings) a config may hold, every alias counted as the whole node it names: a
#: few aliases of aliases ("billion laughs") otherwise expand to gigabytes in whatever walks the result. Every
#: parameter is a single value, so a config of all of a case's keys holds under 200.
MAX_NODES = 1_000


class YamlTooLarge(yaml.composer.ComposerError):
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
                raise YamlTooLarge(None, None, f"is nested more than {MAX_DEPTH} levels deep", mark)
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark
                raise YamlTooLarge(None, None, f"holds more than {MAX_NODES} values", mark)
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
    """``(values, levels)`` of ``node`` at nesting ``depth``, aliases expanded; raises :class:`YamlTooLarge` past
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
                raise YamlTooLarge(
                    None, None, f"expands to more than {MAX_NODES} values (each alias counted whole)", node.start_mark
                )
        known = seen[id(node)] = (values, levels + 1)
    if depth - 1 + known[1] > MAX_DEPTH:
        raise YamlTooLarge(
            None, None, f"is nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark
        )
    return known


class BoolWord(str):
    """A YAML 1.1 boolean word (``on``, ``Off``, ``yes``, ``false``) kept as the user typed it, with the boolean YAML
    reads it as in :attr:`boolean`.

    YAML 1.1 reads ``compile: on`` as ``True``, and the word is then gone: a key whose values are words (``on``,
    ``off``, ``vendor``) could only refuse it. The config layer reads config files and ``--set`` values keeping the
    word, and each key's declared type decides: a string key takes the word, a boolean key the boolean.
    """

    boolean: bool

    def __new__(cls, word: str, boolean: bool) -> BoolWord:
        made = super().__new__(cls, word)
        made.boolean = boolean
        return made


class _BoolWordSafeLoader(_UniqueKeySafeLoader):
    """The bounded loader, reading YAML 1.1 booleans as :class:`BoolWord`."""

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> BoolWord:
        return BoolWord(str(node.value), bool(super().construct_yaml_bool(node)))


_BoolWordSafeLoader.add_constructor("tag:yaml.org,2002:bool", _BoolWordSafeLoader.construct_yaml_bool)


def safe_load(text: str, keep_bool_words: bool = False) -> Any:
    """One YAML document through the bounded, unique-key loader; a constructor's own refusal is a YAML error too, so
    every caller reports bad input the same way. ``keep_bool_words``: booleans arrive as :class:`BoolWord`."""
    try:
        if keep_bool_words:
            return yaml.load(text, Loader=_BoolWordSafeLoader)  # noqa: S506 - a SafeLoader subclass
        return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, OverflowError) as exc:
        # A constructor's own error, e.g. an integer of 5000 digits (Python refuses to convert it) or 2001-13-01
        # read as a date: bad input like any YAML error, so it is raised as one.
        raise UnreadableValue(None, None, f"cannot be read ({exc})", None) from None
