"""Every value has a range, checked before anything exists.

A value that would fail only later (numpy refusing a seed in a rank, a rendezvous refusing a port, an index too large
for C) used to make a failed record (exit 4). Each entry here is refused at once: exit 2, one ``error:`` line naming
the value, its flag and its range, no new record, the earlier record and the cache byte for byte unchanged. The
ends of each range are accepted (docs/reliability.md, "Validation before anything exists").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from refusal_support import Untouched, assert_refused, run_in_process

DEMO = ["run", "cpm", "--vendor", "cpu", "--preset", "demo"]
THIRTY_DIGITS = "9" * 30


def entry(name: str, extra: list[str], *fragments: str) -> object:
    return pytest.param(extra, fragments, id=name)


RANGES = [
    entry("seed -1", ["--set", "seed=-1"], "bad value -1 for 'seed' in --set", "expected a number >= 0"),
    entry("seed of 30 digits", ["--set", f"seed={THIRTY_DIGITS}"], "'seed'", "expected a number <= 2147483647"),
    entry("seed 2**31", ["--set", "seed=2147483648"], "'seed'", "expected a number <= 2147483647"),
    entry("batch size of 30 digits", ["--set", f"batch_size={THIRTY_DIGITS}"], "'batch_size'",
          "expected a number <= 1048576"),
    entry("eval batch size 1e30", ["--set", "eval_batch_size=1e30"], "'eval_batch_size'",
          "expected a number <= 1048576"),
    entry("accumulation 2**20 + 1", ["--set", "grad_accum=1048577"], "'grad_accum'", "expected a number <= 1048576"),
    entry("step budget of 30 digits", ["--set", f"max_steps={THIRTY_DIGITS}"], "'max_steps'",
          "expected a number <= 9007199254740992"),
    entry("telemetry interval of a day", ["--set", "telemetry_interval_s=86400"], "'telemetry_interval_s'",
          "expected a number <= 3600"),
    entry("seed -1 in a --set-file", ["--set-file", "{tmp}/seed.yaml"], "'seed' in --set-file {tmp}/seed.yaml",
          "expected a number >= 0"),
    entry("--master-port 99999", ["--master-port", "99999"], "'--master-port'",
          "99999 is not in the range 1<=x<=65535"),
    entry("--master-port 0", ["--master-port", "0"], "'--master-port'", "not in the range 1<=x<=65535"),
    entry("--config 1x99999999999999999999", ["--config", "1x99999999999999999999"],
          "bad --config '1x99999999999999999999'", "N and M from 1 to 4096"),
    entry("--config 5000x1", ["--config", "5000x1"], "bad --config '5000x1'", "N and M from 1 to 4096"),
    entry("--node-rank of 20 digits", ["--node-rank", "9" * 20], "'--node-rank'", "0<=x<=4095"),
    entry("--timeout 1e308", ["--timeout", "1e308"], "'timeout_s' in --timeout", "expected a number <= 31536000"),
    entry("--timeout inf", ["--timeout", "inf"], "bad value inf for 'timeout_s' in --timeout", "expected a number"),
    entry("--master-addr with a space", ["--master-addr", "node 0"], "'--master-addr'", "host name or an IP address"),
]


@pytest.mark.parametrize(("extra", "fragments"), RANGES)
def test_a_value_outside_its_range_is_refused_before_anything_exists(
    tmp_path: Path, finished_run: Path, demo_cache: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, extra: list[str], fragments: tuple[str, ...],
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(finished_run, runs / finished_run.name)
    (tmp_path / "seed.yaml").write_text("seed: -1\n")
    untouched = Untouched(runs, demo_cache)
    monkeypatch.chdir(tmp_path)
    args = [*DEMO, *(arg.replace("{tmp}", str(tmp_path)) for arg in extra), "--out", str(runs)]
    outcome = run_in_process(capsys, monkeypatch, *args)
    assert_refused(outcome, *(fragment.replace("{tmp}", str(tmp_path)) for fragment in fragments))
    untouched.check()


def test_the_ends_of_the_ranges_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(
        capsys, monkeypatch, *DEMO, "--dry-run", "--set", "seed=2147483647", "--master-port", "65535",
        "--out", str(tmp_path / "runs"),
    )
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "2147483647" in outcome.stdout and not (tmp_path / "runs").exists()
    # the largest batch is a valid value; the dry run then refuses it as the run would, for the demo's data
    outcome = run_in_process(capsys, monkeypatch, *DEMO, "--dry-run", "--set", "batch_size=1048576",
                             "--out", str(tmp_path / "runs"))
    assert outcome.code == 2 and "bad value" not in outcome.stderr, outcome.stderr
    assert "fewer than one global batch (1048576 x 1 accumulation x 1 ranks = 1048576)" in outcome.stderr
    assert not (tmp_path / "runs").exists()
