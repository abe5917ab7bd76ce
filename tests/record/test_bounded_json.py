"""Every number of a record is read bounded (:func:`benchbase.record.files.loads_bounded`), whichever decoder reads
it: texts that can hold no out-of-bounds number skip the per-number calls, and must read exactly as the bounding
decoder reads them."""

from __future__ import annotations

import json
import math
import random

from benchbase.record.files import bounded_float, bounded_int, loads_bounded


def bounding(text: str) -> object:
    """The reference: every number through the bounds."""
    return json.loads(text, parse_int=bounded_int, parse_float=bounded_float, parse_constant=float)


def number_text(rng: random.Random) -> str:
    sign = rng.choice(("", "-"))
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))).lstrip("0") or "0"
    zeros = "0" * rng.choice((0, 0, 3, 15, 16, 320))
    fraction = ("." + zeros + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
                if rng.random() < 0.6 else "")
    exponent = (f"{rng.choice('eE')}{rng.choice(('', '+', '-'))}{'0' * rng.randint(0, 2)}{rng.randint(0, 330)}"
                if rng.random() < 0.4 else "")
    return sign + digits + fraction + exponent


def same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or (left == right and math.copysign(1, left) ==
                                                            math.copysign(1, right))
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


def test_random_numbers_read_as_the_bounding_decoder_reads_them() -> None:
    rng = random.Random(22)
    for _ in range(3000):
        text = "[" + ", ".join(number_text(rng) for _ in range(rng.randint(1, 4))) + "]"
        assert same(loads_bounded(text), bounding(text)), text


def test_the_bounds_hold_on_either_path() -> None:
    assert loads_bounded('{"step": 12, "loss": 2.5e0, "id": "run-1234567890123456"}') == {
        "step": 12, "loss": 2.5, "id": "run-1234567890123456"}
    assert loads_bounded("[1e31, 5e-324, 9007199254740993, NaN]")[:3] == [math.inf, 0.0, 9007199254740992.0]
    assert loads_bounded("1" + "0" * 5000) == math.inf  # past Python's 4300-digit refusal
    assert loads_bounded("0." + "0" * 330 + "5") == 0.0  # subnormal, written without an exponent
    assert loads_bounded("[1e-0000400, 2E+00031, 0.9101188856062772e-05]") == [0.0, math.inf, 9.101188856062772e-06]


def test_numbers_read_bounded_wherever_they_stand_in_an_object() -> None:
    """The plain path is chosen from the text's shape, so numbers are tried after every separator JSON allows
    (colon, comma, bracket, whitespace of each kind), beside strings of digits, points, signs and non-ASCII text."""
    rng = random.Random(23)
    separators = (":", ": ", ":\n\t", ":\r\n ")
    for _ in range(3000):
        members = []
        for index in range(rng.randint(1, 4)):
            name = rng.choice(("loss", "e", "E-1", "中文", "x.5", "-0", "+9"))
            value = (number_text(rng) if rng.random() < 0.8
                     else "[" + ",\n".join(number_text(rng) for _ in range(rng.randint(1, 3))) + "]")
            members.append(f'"{name}{index}"{rng.choice(separators)}{value}')
        text = "{" + rng.choice((",", ", ", ",\n", ",\t")).join(members) + "}"
        assert same(list(loads_bounded(text).values()), list(bounding(text).values())), text
