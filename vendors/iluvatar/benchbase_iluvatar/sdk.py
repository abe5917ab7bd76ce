"""Which CoreX SDK is installed, for the ``SDK V...`` entry of the standard table.

Tried in order, first answer wins:
1. ``<corex>/include/corex_version`` - a version file some SDK releases ship;
2. the versioned install directory ``/usr/local/corex`` points to (``/usr/local/corex-3.2.1``);
3. the ``+corex...`` suffix CoreX builds of PyTorch carry in ``torch.__version__`` (``1.10.2+corex.3.2.1``).
"""

from __future__ import annotations

import re
from pathlib import Path

COREX_ROOT = Path("/usr/local/corex")
_VERSION = re.compile(r"\d+(?:\.\d+)+")


def corex_version(corex_root: Path, torch_version: str) -> tuple[str | None, str]:
    """The SDK version and where it was read; ``(None, reason)`` when no source answers."""
    try:
        found = _VERSION.search((corex_root / "include" / "corex_version").read_text())
    except OSError:
        found = None
    if found:
        return found.group(0), f"{corex_root}/include/corex_version"
    resolved = corex_root.resolve()
    found = re.fullmatch(r"corex-(\d+(?:\.\d+)+)", resolved.name) if resolved.is_dir() else None
    if found:
        return found.group(1), f"install directory {resolved}"
    found = re.search(r"corex[.\-_]?(\d+(?:\.\d+)+)", torch_version, flags=re.IGNORECASE)
    if found:
        return found.group(1), f"torch {torch_version}"
    return None, f"no {corex_root}/include/corex_version, no versioned {corex_root}, no +corex torch build"


def sdk_label(version: str | None) -> str:
    return f"SDK V{version}" if version else "CoreX (version unknown)"
