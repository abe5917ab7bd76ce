"""One thread policy for every launch (benchbase.launch.threads): a rank runs as many threads as CPUs in its binding,
an unbound rank an equal share of the usable CPUs, and the launch environment tells OpenMP and MKL the same."""

from __future__ import annotations

import torch

from benchbase.contract import Binding
from benchbase.launch.plan import plan_launch
from benchbase.launch.threads import rank_threads, thread_environment, usable_cpus
from benchbase.train.worker import size_threads


def _binding(rank: int, cpus: tuple[int, ...]) -> Binding:
    return Binding(rank, 0, cpus, 0, "test")


def test_a_bound_rank_runs_one_thread_per_cpu_of_its_binding():
    assert rank_threads([4, 5, 6], local_ranks=2, usable=64) == 3


def test_an_unbound_rank_gets_an_equal_share_of_the_usable_cpus_and_at_least_one():
    assert rank_threads(None, local_ranks=4, usable=10) == 2
    assert rank_threads(None, local_ranks=8, usable=2) == 1


def test_1x1_and_torchrun_launches_set_the_same_thread_environment_from_their_bindings():
    single = plan_launch(1, 1, [], bindings=[_binding(0, (0, 1))])
    pair = plan_launch(1, 2, [], bindings=[_binding(0, (0,)), _binding(1, (1,))])
    assert single.threads == [2] and pair.threads == [1, 1]
    assert single.environment()["OMP_NUM_THREADS"] == single.environment()["MKL_NUM_THREADS"] == "2"
    assert pair.environment()["OMP_NUM_THREADS"] == "1"  # what torchrun would also choose, now by our policy
    assert pair.describe()["threads"] == [1, 1] and "binding" in pair.describe()["thread_policy"]


def test_unbound_ranks_of_a_launch_share_the_cpus_this_process_may_use():
    plan = plan_launch(1, 2, [])
    assert plan.threads == [max(1, usable_cpus() // 2)] * 2


def test_ranks_of_unequal_bindings_share_the_smallest_count_in_their_one_environment():
    assert thread_environment([3, 2]) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


class _FewHostThreads:
    """Stands in for a GPU vendor (no GPU here) whose ranks want one host thread."""

    def setup_device(self, local_rank: int) -> torch.device:
        torch.set_num_threads(1)
        return torch.device("cpu")


def test_a_vendor_may_lower_the_count_and_the_rank_records_what_it_ran(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    before = torch.get_num_threads()
    try:
        device, (policy, used) = size_threads([0, 1], _FewHostThreads(), 0)  # type: ignore[arg-type]
    finally:
        torch.set_num_threads(before)
    assert device == torch.device("cpu") and (policy, used) == (2, 1)
