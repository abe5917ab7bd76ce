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
* Any number of magnitude :data:`LARGEST_FIXED` or more (or, in significant figures, below
  :data:`SMALLEST_SIGNIFICANT`) prints in scientific notation (``1.00e+308``), and a
  non-finite one as ``inf``/``-inf``/``nan``: only a damaged or hand-edited record holds such a value, and the report
  must still show the run (and every other run) rather than fail or print a 309-digit cell.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

#: No measured quantity (samples/s, seconds, watts, steps) comes near this; beyond it a number is shown in
#: scientific notation.
LARGEST_FIXED = 1e15
#: Below this magnitude :func:`significant` uses scientific notation too: its figures would follow hundreds of
#: zeros (``5e-324``).
SMALLEST_SIGNIFICANT = 1e-6


def round_half_up(value: float, decimals: int) -> Decimal:
    """``value`` rounded half-up to ``decimals`` places, as the decimal its shortest repr spells.

    The context holds every digit a finite double can have before the point (309) plus the decimals: the default
    28 digits made ``quantize`` raise ``InvalidOperation`` for ``1e308``.
    """
    context = Context(prec=330 + max(decimals, 0))
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=context)


def _beyond_fixed(value: float) -> str | None:
    """The text of a non-finite or out-of-range number (see the module docstring); ``None`` for any other."""
    if not math.isfinite(value):
        return str(float(value))
    if abs(value) >= LARGEST_FIXED:
        return f"{value:.2e}"
    return None


def fixed(value: float, decimals: int) -> str:
    """Fixed-point text with half-up rounding (``fixed(20.65, 1) == "20.7"``)."""
    beyond = _beyond_fixed(value)
    if beyond is not None:
        return beyond
    text = format(round_half_up(value, decimals), "f")
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def significant(value: float, digits: int = 3) -> str:
    """``digits`` significant figures without scientific notation, keeping every integer digit."""
    if value == 0 or _beyond_fixed(value) is not None:
        return fixed(value, 0)
    if abs(value) < SMALLEST_SIGNIFICANT:
        return f"{value:.{digits - 1}e}"
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
    """Stability with the runs it rests on: ``1 (3/3)``, ``0.67 (2/3)``, ``0 (0/1)``; a bare ``1`` would not say
    whether one run or ten reached the target."""
    share = "1" if hits == total else "0" if hits == 0 else fixed(hits / total, 2)
    return f"{share} ({hits}/{total})"


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
    beyond = _beyond_fixed(value)
    return beyond if beyond is not None else f"{int(round_half_up(value, 0)):,}"


def not_available(reason: str) -> str:
    """The one way a cell says it has no number, and why."""
    return f"n/a ({reason})"
