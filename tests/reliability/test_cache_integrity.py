"""Caches are verified: a cache hit checks what it built, and a damaged entry is rebuilt with one line saying so.

Each entry damages one piece of a copy of the prepared demo cache (the validation windows, their facts, the text
folder), then runs ``benchbase prepare cpm --preset demo`` on it: exit 0, exactly one line naming the entry and what
is wrong with it, no traceback, and afterwards a cache byte for byte like the undamaged one (the rebuilt pieces
included: preparation is deterministic), except the rebuilt entry's facts file, which names the paths it was built
from and its tokenizing time. A second prepare is then a clean hit (docs/reliability.md, "Caches are verified").
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from refusal_support import run_in_process
from reliability_support import tree_digest

from benchbase_cpm import cache_folder


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def valid_windows(cache: Path) -> Path:
    return only(cache / "cpm" / "windows", "valid-*.npy")


def text_folder(cache: Path) -> Path:
    return only(cache / "cpm" / "stc", "text-*")


def demo_corpus(cache: Path) -> Path:
    return only(cache / "cpm" / "demo", "corpus-*")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def overwrite_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def edit_facts(path: Path, **changes: object) -> None:
    facts = json.loads(path.read_text())
    facts.update(changes)
    path.write_text(json.dumps(facts))


Damage = Callable[[Path], Path]


def entry(name: str, damage: Damage, *fragments: str) -> object:
    return pytest.param(damage, fragments, id=name)


def windows_facts(cache: Path) -> Path:
    return valid_windows(cache).with_suffix(".json")


CATALOGUE = [
    entry("truncated window file", lambda c: (truncate(p := valid_windows(c)), p)[1],
          "bytes,", "when it was built"),
    entry("window file overwritten in the middle", lambda c: (overwrite_middle(p := valid_windows(c)), p)[1],
          "is not what was built (its digest differs)"),
    entry("window file deleted, its facts kept", lambda c: ((p := valid_windows(c)).unlink(), p)[1],
          ".npy is missing"),
    entry("window facts not JSON", lambda c: ((p := windows_facts(c)).write_bytes(b"\x00garbage{"), p)[1],
          ".json is not valid JSON"),
    entry("window facts a JSON list", lambda c: ((p := windows_facts(c)).write_text("[1, 2]"), p)[1],
          ".json holds a JSON list, not an object"),
    entry("window facts with a count of the wrong type",
          lambda c: (edit_facts(p := windows_facts(c), windows="many"), p)[1], "has no valid 'windows'"),
    entry("window facts disagreeing with the array's shape",
          lambda c: (edit_facts(p := windows_facts(c), windows=3), p)[1],
          "holds uint16 (500, 49), its facts say uint16 (3, 49)"),
    entry("text folder facts not JSON",
          lambda c: ((p := text_folder(c) / "facts.json").write_text("{'train.txt':"), p)[1],
          "facts.json is not valid JSON"),
    entry("text folder facts without a split",
          lambda c: (edit_facts(p := text_folder(c) / "facts.json", **{"train.txt": None}), p)[1],
          "facts.json has no valid 'train.txt'"),
    entry("truncated valid.txt", lambda c: (truncate(p := text_folder(c) / "valid.txt"), p)[1],
          "valid.txt has", "when it was built"),
    entry("train.txt deleted", lambda c: ((p := text_folder(c) / "train.txt").unlink(), p)[1],
          "train.txt is missing"),
    entry("demo corpus facts not JSON",
          lambda c: ((p := demo_corpus(c) / "facts.json").write_bytes(b"\x00{garbage"), p)[1],
          "facts.json is not valid JSON"),
    entry("demo corpus STC.json truncated", lambda c: (truncate(p := demo_corpus(c) / "STC.json"), p)[1],
          "STC.json has", "when it was built"),
]


@pytest.mark.parametrize(("damage", "fragments"), CATALOGUE)
def test_a_damaged_cache_entry_is_rebuilt_with_one_line_saying_so(
    demo_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    damage: Damage, fragments: tuple[str, ...],
) -> None:
    cache = Path(shutil.copytree(demo_cache, tmp_path / "cache"))
    original = tree_digest(cache)
    damaged = damage(cache)
    prepare = ("prepare", "cpm", "--preset", "demo", "--cache-dir", str(cache), "--set", "prepare_workers=1")
    outcome = run_in_process(capsys, monkeypatch, *prepare)
    text = outcome.stdout + outcome.stderr
    assert outcome.code == 0 and "Traceback" not in text, text
    (line,) = [line for line in outcome.lines if "is damaged or incomplete" in line]
    in_text = damaged.parent.name.startswith(("text-", "corpus-"))
    entry_name = damaged.parent.name if in_text else damaged.stem
    assert line.startswith("cache ") and entry_name in line and line.endswith("; rebuilding it"), line
    for fragment in fragments:
        assert fragment in line, line
    facts = str((damaged.parent / "facts.json" if in_text else windows_facts(cache)).relative_to(cache))
    after = tree_digest(cache)
    assert {name: digest for name, digest in after.items() if name != facts} == {
        name: digest for name, digest in original.items() if name != facts
    }, "the cache differs from the undamaged one"
    again = run_in_process(capsys, monkeypatch, *prepare)
    assert again.code == 0 and "is damaged or incomplete" not in again.stdout + again.stderr
    assert json.loads(again.stdout)["facts"]["cache"] == "hit"


def test_above_the_full_digest_size_a_sample_still_catches_truncation_and_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_folder, "FULL_DIGEST_BYTES", 64 << 10)
    path = tmp_path / "windows.npy"
    path.write_bytes(os.urandom(8 << 20))
    record = cache_folder.file_record(path)
    assert record["digest"].startswith("sha256-sampled-64x65536:")
    assert cache_folder.damage(path, record) is None
    data = bytearray(path.read_bytes())
    data[3 << 20 : (3 << 20) + (256 << 10)] = bytes(256 << 10)  # 1/32 of the file zeroed
    path.write_bytes(bytes(data))
    assert cache_folder.damage(path, record) == "windows.npy is not what was built (its digest differs)"
    path.write_bytes(os.urandom(4 << 20))
    assert cache_folder.damage(path, record) == f"windows.npy has {4 << 20} bytes, {8 << 20} when it was built"
