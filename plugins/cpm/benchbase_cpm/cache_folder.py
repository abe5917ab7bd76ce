"""Publishing a cache folder that was built aside, so a reader sees either nothing or the whole folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchbase.records import atomic_write

FACTS_FILE = "facts.json"


def publish_folder(building: Path, target: Path, facts: dict[str, Any]) -> None:
    """Write ``facts.json`` last into ``building``, then rename it to ``target``.

    Two processes preparing the same inputs at once both build; the second rename fails because the first one's
    folder is in place, which is success for both (the facts file proves the folder is complete).
    """
    atomic_write(building / FACTS_FILE, lambda handle: handle.write(json.dumps(facts, indent=1).encode()))
    try:
        os.replace(building, target)
    except OSError:
        if not (target / FACTS_FILE).is_file():
            raise
