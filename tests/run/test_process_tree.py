"""The sampler's readers share one listing of the run's processes, re-walked every PROCESS_REFRESH_S, and a new
reader still sees a process started since the last walk."""

from __future__ import annotations

import os
import subprocess
import sys

from benchbase.run.process_tree import process_tree


def test_readers_of_one_root_share_its_listing_and_a_new_reader_sees_a_new_child() -> None:
    tree = process_tree(os.getpid())
    assert process_tree(os.getpid()) is tree
    tree.processes()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in {process.pid for process in tree.processes(fresh=True)}
        assert tree.processes()[0].pid == os.getpid()
    finally:
        child.kill()
        child.wait()
