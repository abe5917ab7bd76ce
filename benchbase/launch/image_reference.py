"""A container image reference (``registry[:port]/path/name[:tag][@algorithm:digest]``), checked before it is written
into a job: a typo found by the cluster's image pull minutes after submission costs a queue wait, and a reference
holding spaces or quotes would change the file it is written into.

The grammar is the one container runtimes and registries share (the distribution project's reference grammar):
lowercase path components joined by ``.``, ``_``, ``__`` or dashes, an optional domain with a port, a tag of at most
128 word characters, dots and dashes, and a digest of at least 32 hexadecimal digits; at most 255 characters of name.
"""

from __future__ import annotations

import re

from benchbase.errors import BenchbaseError
from benchbase.foreign import visible

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?", re.ASCII)
_MAX_NAME = 255


def check_image(reference: str) -> str:
    """``reference`` itself when it is an image reference; otherwise one line saying what one looks like."""
    match = _REFERENCE.fullmatch(reference)
    if match is None or len(match.group("name")) > _MAX_NAME:
        raise BenchbaseError(
            f"--container-image '{visible(reference)}' is not a container image reference",
            "give [registry[:port]/]name[:tag][@sha256:digest] with a lowercase name, e.g. "
            "registry.example.com/team/benchbase:1.0",
        )
    return reference
