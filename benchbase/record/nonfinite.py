"""Numbers JSON cannot hold (a diverged NaN loss), kept visible in strict JSON (docs/records.md).

JSON has no NaN, and many readers reject the ``NaN`` token Python would write; yet a diverged run must show that it
diverged. So a non-finite number is written as ``null`` and listed, by JSON Pointer, under
:data:`benchbase.record.schema.NONFINITE_KEY`, from which the readers restore it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchbase.record.schema import NONFINITE_KEY


def encode_nonfinite(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Replace NaN/inf anywhere inside ``obj`` by ``null`` and list them under ``"nonfinite"``.

    A diverged loss must stay visible, yet JSON has no NaN: ``{"value": NaN}`` becomes
    ``{"value": null, "nonfinite": {"/value": "nan"}}``. Keys are JSON Pointers (RFC 6901) so any nesting is
    addressable; values are ``"nan"``, ``"inf"`` or ``"-inf"``. :func:`decode_nonfinite` restores the numbers.
    """
    found: dict[str, str] = {}

    def walk(value: Any, pointer: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            found[pointer] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return None
        if isinstance(value, Mapping):
            return {k: walk(v, f"{pointer}/{_escape_pointer(str(k))}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return value

    encoded = {k: walk(v, "/" + _escape_pointer(str(k))) for k, v in obj.items() if k != NONFINITE_KEY}
    if found:
        encoded[NONFINITE_KEY] = found
    return encoded


def decode_nonfinite(obj: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_nonfinite`, in place; raises ValueError for a marker that points nowhere."""
    markers = obj.pop(NONFINITE_KEY, None)
    if markers is None:
        return obj
    if not isinstance(markers, dict):
        raise ValueError(f"{NONFINITE_KEY!r} is not an object")
    for pointer, text in markers.items():
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} has unknown value {text!r}")
        parts = [_unescape_pointer(p) for p in str(pointer).split("/")[1:]]
        if not parts:
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} points at the whole object")
        container: Any = obj
        try:
            for part in parts[:-1]:
                container = container[int(part)] if isinstance(container, list) else container[part]
            last = parts[-1]
            if isinstance(container, list):
                container[int(last)] = float(text)
            elif isinstance(container, dict) and last in container:
                container[last] = float(text)
            else:
                raise KeyError(last)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} points nowhere") from None
    return obj


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")
