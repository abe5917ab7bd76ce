"""Hostile configuration input: what a config may expand to is bounded, every message is short, and an error names
the flag the value came from.

Each entry is a ``benchbase run`` (the demo preset on the CPU vendor) next to a runs folder holding a real earlier
record and the shared prepared-data cache: it must exit 2 with one ``error:`` line (at most three lines in all, no
traceback), create no record, and leave the earlier record and the cache byte for byte as they were. Inputs that
exhausted memory or never returned before their bound existed run in a subprocess under a 3 GiB address-space limit
(docs/reliability.md, "Hostile configuration input").
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from refusal_support import Outcome, Untouched, assert_refused, run_bounded, run_in_process
from reliability_support import Bench

DEMO = ["run", "cpm", "--vendor", "cpu", "--preset", "demo"]


def billion_laughs(levels: int = 9) -> list[str]:
    """Nine anchors of nine aliases each, under one key at the end: 9**9 strings once expanded, from 600 bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return [*lines, f"lr: *a{levels}"]


@pytest.fixture
def scene(tmp_path: Path, finished_run: Path, demo_cache: Path) -> Callable[[], Untouched]:
    """A runs folder holding a copy of a real record; returns the snapshot of it and the cache to check after."""
    runs = tmp_path / "runs"
    shutil.copytree(finished_run, runs / finished_run.name)
    return lambda: Untouched(runs, demo_cache)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


BOUNDED = [
    pytest.param(lambda tmp: ["--set-file", write(tmp, "bomb.yaml", "\n".join(billion_laughs()) + "\n")],
                 ("bomb.yaml at line", "expands to more than 1000 values"), id="alias bomb in --set-file"),
    pytest.param(lambda tmp: ["--set", "lr={" + ", ".join(billion_laughs()) + "}"],
                 ("bad --set lr=...", "expands to more than 1000 values", "give a single value"),
                 id="alias bomb in --set"),
    pytest.param(lambda tmp: ["--set-file", "/dev/zero"], ("/dev/zero is a device, not a regular file",),
                 id="--set-file /dev/zero"),
    pytest.param(lambda tmp: ["--set-file", write(tmp, "deep.yaml", "lr: " + "[" * 5000 + "]" * 5000 + "\n")],
                 ("deep.yaml at line 1", "nested more than 32 levels deep"), id="5000 nested brackets in --set-file"),
]


@pytest.mark.parametrize(("extra", "fragments"), BOUNDED)
def test_a_config_that_would_expand_without_bound_is_refused_in_one_line(
    bench: Bench, tmp_path: Path, scene: Callable[[], Untouched],
    extra: Callable[[Path], list[str]], fragments: tuple[str, ...],
) -> None:
    runs = tmp_path / "runs"
    args = [*DEMO, *extra(tmp_path), "--out", str(runs)]
    untouched = scene()
    outcome = run_bounded(bench, *args)
    assert_refused(outcome, *fragments)
    untouched.check()


IN_PROCESS = [
    pytest.param(lambda tmp: ["--set", "lr=" + "[" * 5000 + "]" * 5000],
                 ("bad --set lr=...", "nested more than 32 levels deep"), id="5000 nested brackets in --set"),
    pytest.param(lambda tmp: ["--set-file", write(tmp, "big.yaml", "# padding line\n" * 80_000)],
                 ("big.yaml is larger than 1 MiB",), id="--set-file of 1.2 MB"),
    pytest.param(lambda tmp: ["--set-file", write(tmp, "keys.yaml", "".join(f"k{i}: {i}\n" for i in range(50_000)))],
                 ("keys.yaml at line 500, column 7", "holds more than 1000 values"), id="--set-file of 50 000 keys"),
    pytest.param(lambda tmp: ["--set-file", str(tmp)], ("cannot read config file", "Is a directory"),
                 id="--set-file naming a folder"),
    pytest.param(lambda tmp: ["--set", "seed=" + "1" * 5000],
                 ("bad --set seed=...", "cannot be read", "4300 digits"), id="--set integer of 5000 digits"),
    pytest.param(lambda tmp: ["--set", "seed=2001-13-01"], ("bad --set seed=...", "month must be in 1..12"),
                 id="--set value YAML reads as an impossible date"),
    pytest.param(lambda tmp: ["--set", "tokenizer_dir=" + "x" * 100_000],
                 ("bad value 'xxx", "...", "'tokenizer_dir' in --set", "at most 4096 characters"),
                 id="--set value of 100 000 characters"),
    pytest.param(lambda tmp: ["--set", "x" * 100_000], ("bad --set 'xxx", "more characters]", "key=value"),
                 id="--set item of 100 000 characters without '='"),
    pytest.param(lambda tmp: ["--set-file", write(tmp, "tuned.yaml", "lr: fast\n")],
                 ("bad value 'fast' for 'lr' in --set-file {tmp}/tuned.yaml", "expected a number"),
                 id="bad value named as from --set-file"),
    pytest.param(lambda tmp: ["--set-file", write(tmp, "typo.yaml", "batchsize: 8\n")],
                 ("unknown key 'batchsize' in --set-file {tmp}/typo.yaml", "did you mean 'batch_size'?"),
                 id="unknown key named as from --set-file"),
    pytest.param(lambda tmp: ["--timeout", "nan"], ("bad value nan for 'timeout_s' in --timeout",),
                 id="--timeout nan named as from --timeout"),
]


@pytest.mark.parametrize(("extra", "fragments"), IN_PROCESS)
def test_hostile_config_input_is_one_short_line_naming_its_source(
    tmp_path: Path, scene: Callable[[], Untouched], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, extra: Callable[[Path], list[str]], fragments: tuple[str, ...],
) -> None:
    runs = tmp_path / "runs"
    args = [*DEMO, *extra(tmp_path), "--out", str(runs)]
    untouched = scene()
    monkeypatch.chdir(tmp_path)
    outcome: Outcome = run_in_process(capsys, monkeypatch, *args)
    line = assert_refused(outcome, *(fragment.replace("{tmp}", str(tmp_path)) for fragment in fragments))
    assert len(line) <= len("error: ") + 1001, len(line)
    untouched.check()
