"""One thread policy for every rank of every launch, decided by the core from the rank's CPU binding.

Before it, a 1x1 run used torch's default pool (every CPU) while torchrun gave each rank ``OMP_NUM_THREADS=1``, so a
1x2 run could look eighteen times faster than 1x1 on a loaded host for a reason that was not the hardware. Now a rank
runs as many intra-op threads as CPUs it is bound to; an unbound rank gets the CPUs this process may use divided by
the ranks on its node (at least one), so the ranks of one node never ask for more threads than there are CPUs.

The same number reaches the libraries that size their own pools from the environment (OpenMP, MKL) through
:data:`THREAD_ENV`, set by the launch plan for the 1x1 worker and for torchrun alike (torchrun keeps a value it is
given instead of its default of one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

#: The variables that size OpenMP's and MKL's pools when those libraries load, before any rank can call them.
THREAD_ENV: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: How the policy is stated in ``env.json`` and ``--dry-run``.
POLICY = "threads per rank = CPUs in the rank's binding; unbound: usable CPUs // ranks on the node (at least 1)"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or ``taskset`` may narrow)."""
    return len(os.sched_getaffinity(0))


def rank_threads(bound_cpus: Sequence[int] | None, local_ranks: int, usable: int | None = None) -> int:
    """The intra-op threads of one rank: its binding's CPUs, else an equal share of the usable CPUs."""
    if bound_cpus:
        return len(bound_cpus)
    available = usable_cpus() if usable is None else usable
    return max(1, available // max(1, local_ranks))


def thread_environment(per_rank: Sequence[int]) -> dict[str, str]:
    """:data:`THREAD_ENV` for the processes of one launch. torchrun gives its ranks one environment, so ranks whose
    bindings differ in size share the smallest count there; each rank then sizes torch's own pool to its exact count
    (:func:`rank_threads`), which is what the record states per rank."""
    count = str(min(per_rank)) if per_rank else "1"
    return {name: count for name in THREAD_ENV}
