"""From NVML's long product names to the short model names tuned config files and peak tables are keyed by."""

from __future__ import annotations

import re

_SHORT_MODEL = re.compile(r"^[A-Z]{1,2}\d{2,4}[A-Z]?$")
#: Models whose boards differ in peaks by form factor. NVML names the PCIe and NVL cards with a separate token
#: (``NVIDIA H100 PCIe``, ``NVIDIA H100 NVL``, ``NVIDIA H200 NVL``); the SXM boards carry none
#: (``NVIDIA H100 80GB HBM3``, ``NVIDIA H200``), so they keep the bare model name their tuned files use.
_FORM_FACTOR_MODELS = frozenset({"H100", "H200"})
_FORM_FACTORS = {"PCIE": "PCIe", "NVL": "NVL"}


def short_model(long_name: str) -> str:
    """``NVIDIA A100-SXM4-40GB`` -> ``A100``, ``NVIDIA H100 80GB HBM3`` -> ``H100``, ``NVIDIA H100 PCIe`` ->
    ``H100-PCIe``, ``NVIDIA H200 NVL`` -> ``H200-NVL``, ``NVIDIA GH200 480GB`` -> ``GH200``.

    Names are matched by whole tokens, never by substring: the first token shaped like a datacenter model (letters
    then digits: A100, H200, GH200, V100, L40S) is the model, so the Grace Hopper superchip is ``GH200`` on purpose and
    never an ``H200``. H100 and H200 get their form factor appended when a later token names it, because the PCIe and
    NVL cards run fewer SMs or lower clocks than the SXM boards (other peaks, other tuned files). A name without a
    model token (consumer boards) becomes the whole name with separators as dashes, so it still names a file.
    """
    tokens = re.split(r"[\s\-_/]+", long_name.strip())
    for position, token in enumerate(tokens):
        if not _SHORT_MODEL.match(token):
            continue
        if token in _FORM_FACTOR_MODELS:
            form = next((_FORM_FACTORS[t.upper()] for t in tokens[position + 1 :] if t.upper() in _FORM_FACTORS), None)
            if form is not None:
                return f"{token}-{form}"
        return token
    stripped = re.sub(r"^(NVIDIA|Tesla)\s+", "", long_name.strip())
    return re.sub(r"[^A-Za-z0-9]+", "-", stripped).strip("-") or "unknown"
