"""How numbers look in the report, decided once so every renderer agrees.

Rounding is half-up on the decimal text of the value (``156.5`` W prints ``157``), because that is what a reader
checking a cell by hand expects; Python's ``round`` rounds half to even and binary floats would make ``20.65``
print as ``20.6``.

* Throughput (samples/s): three significant figures, but never fewer than the integer digits
  (``357``, ``1059``, ``47.9``, ``5.12``, ``0.512``).
* Metric values and the target: 2 to 4 decimals, trailing zeros dropped beyond two (``0.91``, ``0.912``, ``0.9123``).
* Power: mean per-device watts as an integer, times the device count (``156*8``).
* Memory: peak GiB per device with one decimal, times the device count (``20.6*8``).
* Ratios (scalability, comparison): two decimals.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value: float, decimals: int) -> Decimal:
    """``value`` rounded half-up to ``decimals`` places, as the decimal its shortest repr spells."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def fixed(value: float, decimals: int) -> str:
    """Fixed-point text with half-up rounding (``fixed(20.65, 1) == "20.7"``)."""
    text = format(round_half_up(value, decimals), "f")
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def significant(value: float, digits: int = 3) -> str:
    """``digits`` significant figures without scientific notation, keeping every integer digit."""
    if value == 0 or not math.isfinite(value):
        return fixed(value, 0) if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = fixed(value, decimals)
    if decimals and len(text.replace("-", "").replace(".", "").lstrip("0")) > digits:
        text = fixed(value, decimals - 1)  # rounding carried into a new digit (9.996 -> 10.00 -> 10.0)
    return text


def throughput(value: float) -> str:
    """Samples/s as the Performance column prints it."""
    return significant(value, 3)


def metric(value: float) -> str:
    """A metric or target with 2 to 4 decimals (``0.91``, ``0.912``)."""
    text = fixed(value, 4)
    whole, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0")
    return f"{whole}.{decimals.ljust(2, '0')}"


def per_device(value: float, devices: int, decimals: int) -> str:
    """A per-device figure times the device count, the seed's ``156*8`` form."""
    return f"{fixed(value, decimals)}*{devices}"


def ratio(value: float) -> str:
    """Scalability and comparison ratios."""
    return fixed(value, 2)


def fraction(hits: int, total: int) -> str:
    """Stability: ``1`` when every counted run reached the target, else ``0.67 (2/3)``."""
    if hits == total:
        return "1"
    if hits == 0:
        return f"0 (0/{total})"
    return f"{fixed(hits / total, 2)} ({hits}/{total})"


def seconds(value: float) -> str:
    """Durations in the seed's E2E style (``3558.36 s``)."""
    return f"{fixed(value, 2)} s"


def percent(value: float, decimals: int = 1) -> str:
    """A fraction (0.123) as a percentage (``12.3%``)."""
    return f"{fixed(value * 100, decimals)}%"


def flops(value: float) -> str:
    """FLOP/s with an SI prefix (``312 TFLOP/s``)."""
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(value) >= factor:
            return f"{significant(value / factor, 3)} {prefix}FLOP/s"
    return f"{significant(value, 3)} FLOP/s"


def count(value: float) -> str:
    """Steps and samples with thousands separators (``869,632``)."""
    return f"{int(round_half_up(value, 0)):,}"


def not_available(reason: str) -> str:
    """The one way a cell says it has no number, and why."""
    return f"n/a ({reason})"
