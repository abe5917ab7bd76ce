"""What the supervisor reads from the processes it watches."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from benchbase.run.watch import rendezvous_seen_by


def test_the_rendezvous_is_read_from_a_local_rank_0s_environment() -> None:
    env = {**os.environ, "LOCAL_RANK": "0", "RANK": "4", "MASTER_ADDR": "node0", "MASTER_PORT": "41234"}
    rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env={**env, "LOCAL_RANK": "1"})
    try:
        assert rendezvous_seen_by(psutil.Process(rank.pid)) == {
            "master_addr": "node0",
            "master_port": 41234,
            "seen_in": f"environment of rank 4 (local rank 0, pid {rank.pid})",
        }
        assert rendezvous_seen_by(psutil.Process(other.pid)) is None
    finally:
        for process in (rank, other):
            process.kill()
            process.wait()
