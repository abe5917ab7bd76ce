"""From NVML's long product names to the short model names tuned config files are named after."""

from __future__ import annotations

import re

_SHORT_MODEL = re.compile(r"^[A-Z]{1,2}\d{2,4}[A-Z]?$")


def short_model(long_name: str) -> str:
    """``NVIDIA A100-SXM4-40GB`` -> ``A100``, ``NVIDIA H100 80GB HBM3`` -> ``H100``, ``NVIDIA H200`` -> ``H200``.

    The first token shaped like a datacenter model (letters then digits: A100, H200, V100, L40S) wins; a name
    without one (consumer boards) becomes the whole name with separators as dashes, so it still names a file.
    """
    for token in re.split(r"[\s\-_/]+", long_name.strip()):
        if _SHORT_MODEL.match(token):
            return token
    stripped = re.sub(r"^(NVIDIA|Tesla)\s+", "", long_name.strip())
    return re.sub(r"[^A-Za-z0-9]+", "-", stripped).strip("-") or "unknown"
