"""Every configuration value is converted to its key's declared type and checked against its range in one place.

A value that would fail only later, inside a rank (a seed numpy refuses, a batch no allocator can serve), is refused
here, before a run directory exists, with a message that names the key, where the value came from, and what it
should be.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

from benchbase.contract import Param
from benchbase.errors import BenchbaseError
from benchbase.record.bounded_yaml import BoolWord

#: Every integer key's range ends here unless it declares a lower ``maximum``: beyond 2**53 a JSON record (and any
#: float arithmetic on steps or samples) no longer holds the value exactly.
INT_LIMIT = 2**53
#: Every string key (a path, a name) is at most this long: PATH_MAX on Linux.
MAX_TEXT_CHARS = 4096


def _quoting() -> reprlib.Repr:
    """How much of a bad value an error message quotes: a few items, two levels, 80 characters of a string."""
    quote = reprlib.Repr()
    quote.maxlevel, quote.maxstring, quote.maxother = 2, 80, 80
    quote.maxdict = quote.maxlist = quote.maxtuple = quote.maxset = 4
    return quote


_QUOTE = _quoting()


def quote_value(raw: Any) -> str:
    """A bad value as an error message quotes it: bounded, because a value may be a list of thousands of items and
    ``repr`` would build all of it first."""
    return _QUOTE.repr(raw)


def coerce_value(key: str, param: Param, raw: Any, origin: str) -> Any:
    """Convert ``raw`` to the parameter's type and check choices and range.

    Numbers are accepted as numeric strings too, because YAML 1.1 (PyYAML) reads ``5e-4`` and ``1.0e3`` as strings.
    A YAML 1.1 boolean word read as a :class:`~benchbase.record.bounded_yaml.BoolWord` (``on``, ``no``) is the word
    for a string key (``compile=on``; a choice is then checked against the word as typed) and the boolean otherwise.
    An int accepts an integral float (``1000.0``); a float accepts an int; a bool accepts only a bool (so ``1`` is
    not silently true); non-finite numbers are refused. A parameter whose default is ``None`` has no type to coerce
    to and accepts any YAML scalar.

    Every value has a range: a number's is its declared ``minimum``/``maximum``, an integer's ends at
    :data:`INT_LIMIT` (either sign) unless declared lower, and a string has at most :data:`MAX_TEXT_CHARS`
    characters. So a value that would fail only later, in a rank (a seed numpy refuses, a batch no allocator can
    serve), is refused here, before a run directory exists.
    """
    if isinstance(raw, BoolWord):
        # YAML 1.1 reads on/off/yes/no/true/false as booleans; a string key (compile: on|off|vendor) means the word.
        raw = str(raw) if param.kind is str else raw.boolean
    if raw is None:
        if param.nullable or param.default is None:
            return None
        raise _bad_value(key, raw, origin, "a value (this key cannot be null)")
    kind = param.kind
    if kind is bool:
        if not isinstance(raw, bool):
            raise _bad_value(key, raw, origin, "true or false")
        value: Any = raw
    elif kind is int:
        number = _as_number(raw)
        if number is None or (isinstance(number, float) and not number.is_integer()):
            raise _bad_value(key, raw, origin, "an integer")
        value = int(number)
    elif kind is float:
        number = _as_number(raw)
        if number is None:
            raise _bad_value(key, raw, origin, "a number")
        value = float(number)
    elif kind is str:
        if not isinstance(raw, str):
            raise _bad_value(key, raw, origin, "a string")
        value = raw
    elif kind is type(None):
        if not isinstance(raw, (str, int, float, bool)) or (isinstance(raw, float) and not math.isfinite(raw)):
            raise _bad_value(key, raw, origin, "a single finite value")
        value = raw
    else:
        raise ValueError(f"parameter {key!r} has a default of unsupported type {kind.__name__}")
    if param.choices is not None and value not in param.choices:
        raise _bad_value(key, raw, origin, "one of " + ", ".join(str(c) for c in param.choices))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_range(key, param, value, raw, origin)
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise _bad_value(key, raw, origin, f"a string of at most {MAX_TEXT_CHARS} characters")
    return value


def _check_range(key: str, param: Param, value: float, raw: Any, origin: str) -> None:
    """The declared range, and for integers the :data:`INT_LIMIT` bound on both sides."""
    minimum = param.minimum if param.minimum is not None else (-INT_LIMIT if isinstance(value, int) else None)
    maximum = param.maximum if param.maximum is not None else (INT_LIMIT if isinstance(value, int) else None)
    if minimum is not None and value < minimum and not (param.zero_means_off and value == 0):
        off = ", or 0 for off" if param.zero_means_off else ""
        raise _bad_value(key, raw, origin, f"a number >= {_number(minimum)}{off}")
    if maximum is not None and value > maximum:
        raise _bad_value(key, raw, origin, f"a number <= {_number(maximum)}")


def _number(bound: float) -> str:
    """A bound as a user types it: ``2147483647``, ``0.05``."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _as_number(raw: Any) -> int | float | None:
    """A finite int or float from a number or a numeric string; ``None`` if it is neither (bools are not numbers)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _bad_value(key: str, raw: Any, origin: str, expected: str) -> BenchbaseError:
    return BenchbaseError(f"bad value {quote_value(raw)} for {key!r} in {origin}", f"expected {expected}")
