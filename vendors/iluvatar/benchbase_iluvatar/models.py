"""From the product names ixml/ixsmi print to the short model names tuned config files are named after."""

from __future__ import annotations

import re

_MODEL = re.compile(r"\b([A-Z]{2}-V\d{3})\b")


def short_model(long_name: str) -> str:
    """``Iluvatar BI-V100`` -> ``BI-V100`` (also BI-V150, MR-V100); other names become a dashed file-safe form."""
    match = _MODEL.search(long_name.upper())
    if match:
        return match.group(1)
    stripped = re.sub(r"^Iluvatar\s+", "", long_name.strip(), flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9]+", "-", stripped).strip("-") or "unknown"
