"""``env.json``'s ``provenance``: the libraries the ranks communicated and computed with, the revision of every
piece of benchbase that ran, and the scheduler's job, so a result can be traced to exactly what produced it
(docs/records.md, "env.json"). Written with the record, when the supervisor has torch imported anyway."""

from __future__ import annotations

import os
from typing import Any

from benchbase.contract import Vendor
from benchbase.hardware.code_revisions import code_revisions
from benchbase.hardware.libraries import describe_libraries, torch_libraries
from benchbase.launch.job_identity import job_identity
from benchbase.registry import checked


def provenance_record(vendor: Vendor) -> dict[str, Any]:
    """The ``provenance`` block for a run on ``vendor`` (its own account of its libraries, if it gives one, bounded
    and checked like its other answers)."""
    vendor_says = checked.call(vendor, "libraries()", checked.FACTS, vendor.libraries)
    return {
        **describe_libraries(vendor.distributed_backend, torch_libraries(), vendor_says),
        "code": code_revisions(),
        "job": job_identity(os.environ),
    }
