"""What preparation found on this node (paths of the cached data, the tokenizer's vocabulary size, ...), handed by
the supervisor to each rank it starts.

Handed over in the ranks' environment rather than read from ``env.json``, because on ``--resume`` the record's
``prepare`` facts were written on the machine of an earlier attempt: its cache paths may not exist here, or hold
other data. The supervisor prepares the data afresh on every attempt (a cache hit costs little) and the ranks train
on what this node holds; ``env.json`` keeps describing the attempt that started the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from benchbase.errors import BenchbaseError

#: Environment variable holding this node's prepared-data facts, as JSON.
PREPARED_ENV = "BENCHBASE_PREPARED"


def handover(prepared: Mapping[str, Any]) -> dict[str, str]:
    """The environment entries that hand ``prepared`` to the ranks."""
    return {PREPARED_ENV: json.dumps(dict(prepared))}


def received() -> dict[str, Any]:
    """The facts the supervisor handed this rank; a rank started without them cannot know where its data is."""
    raw = os.environ.get(PREPARED_ENV)
    facts = json.loads(raw) if raw else None
    if not isinstance(facts, dict):
        raise BenchbaseError(
            f"this rank was started without its node's prepared-data facts (${PREPARED_ENV})",
            "start runs with `benchbase run`, which prepares the data and starts the ranks",
        )
    return facts
