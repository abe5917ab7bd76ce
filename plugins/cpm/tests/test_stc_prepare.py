"""STC.json -> reference text files -> token windows, and the cached official preparation built on them."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.errors import BenchbaseError
from benchbase.train.batch_order import TrainOrder
from benchbase_cpm.samples import to_batch
from benchbase_cpm.prepare import prepare_official
from benchbase_cpm.stc import load_stc, reference_train_subset, stc_line, write_split_files
from benchbase_cpm.tokenizer import MODEL_FILE, CPMTokenizer
from benchbase_cpm.windows import (
    STOP_SIGNALS,
    WINDOW_TOKENS,
    TokenizerPool,
    build_windows,
    load_windows,
    pack_windows,
    stop_signals_held,
)

SHARED_CPM = Path(__file__).resolve().parents[3] / ".." / "shared" / "cpm"
needs_real_vocab = pytest.mark.skipif(
    not (SHARED_CPM / MODEL_FILE).is_file(), reason=f"real CPM tokenizer not found at {SHARED_CPM}"
)

WORDS = "今天 天气 真 不错 我们 一起 去 公园 散步 吧 晚上 吃 火锅 好 啊 电影 太 好看 了 周末 有 空 吗".split()


def small_stc(train: int = 150, valid: int = 12, seed: int = 7) -> dict[str, list[list[str]]]:
    """Pairs in STC's real shape: whitespace-segmented Chinese words. The last valid response is long enough to
    need two windows."""
    rng = random.Random(seed)

    def text() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))

    pairs = {"train": [[text(), text()] for _ in range(train)], "valid": [[text(), text()] for _ in range(valid)]}
    pairs["valid"][-1][1] = " ".join(["天气 真 不错 ，"] * 80)
    return pairs


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def stc_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_json(data / "STC.json", small_stc())
    return data


# -- STC.json ------------------------------------------------------------------------------------------------------


def test_a_line_joins_post_and_response_without_spaces_in_the_reference_prompt() -> None:
    assert stc_line("今天 天气 不错", "是 啊 ， 出去 玩") == "对话上文:今天天气不错 回复:是啊，出去玩\n"


def test_a_line_drops_every_kind_of_whitespace_so_a_pair_is_always_one_line() -> None:
    assert stc_line(" 今天\t天气\n不错\u3000", "好") == "对话上文:今天天气不错 回复:好\n"


def test_load_stc_returns_both_splits(tmp_path: Path) -> None:
    train, valid = load_stc(write_json(tmp_path / "STC.json", small_stc(train=20, valid=3)))
    assert len(train) == 20 and len(valid) == 3
    assert all(isinstance(post, str) and isinstance(response, str) for post, response in train + valid)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"train": [["a", "b"]], "valid": [', "is not valid JSON"),
        ('{"train": [["好", "b"]], "valid": [["a", "b"]]}'.encode("gbk"), "is not UTF-8 text"),
        (b'[["a", "b"]]', "holds a JSON list, not an object"),
        (b'{"train": [["a", "b"]]}', 'has no "valid" key'),
        (b'{"train": {"a": "b"}, "valid": [["a", "b"]]}', "train is a JSON dict, not a list"),
        (b'{"train": [], "valid": [["a", "b"]]}', "train is empty"),
        (b'{"train": [["a", "b"]], "valid": [["a", "b"], ["a", 3]]}', r"valid\[1\] is not a \[post, response\] pair"),
    ],
)
def test_a_malformed_stc_json_names_the_first_bad_place(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "STC.json"
    path.write_bytes(content)
    with pytest.raises(BenchbaseError, match=message):
        load_stc(path)


def test_a_bad_pair_deep_in_train_is_named_by_its_index(tmp_path: Path) -> None:
    data = small_stc(train=20)
    data["train"][12] = ["only the post"]
    with pytest.raises(BenchbaseError, match=r"train\[12\]"):
        load_stc(write_json(tmp_path / "STC.json", data))


def test_the_train_subset_is_the_references_seeded_shuffle_then_first_tenth() -> None:
    train = [[f"post {i}", f"response {i}"] for i in range(1234)]
    saved = random.getstate()
    try:
        expected = list(train)
        random.seed(1234)  # the reference, literally: module-level seed, then shuffle
        random.shuffle(expected)
        expected = expected[: int(0.1 * len(expected))]
    finally:
        random.setstate(saved)
    assert reference_train_subset(train) == expected
    assert len(expected) == 123


def test_split_files_hold_the_subset_and_the_whole_valid_split_with_their_md5(tmp_path: Path) -> None:
    data = small_stc()
    facts = write_split_files(write_json(tmp_path / "STC.json", data), tmp_path / "out")
    train_lines = (tmp_path / "out" / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    valid_lines = (tmp_path / "out" / "valid.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    assert train_lines == [stc_line(*pair) for pair in reference_train_subset(data["train"])]
    assert len(train_lines) == 15 == facts["train.txt"]["lines"]
    assert valid_lines == [stc_line(*pair) for pair in data["valid"]]
    assert facts["train.txt"]["md5"] == hashlib.md5((tmp_path / "out" / "train.txt").read_bytes()).hexdigest()
    assert facts["train.txt"]["matches_reference"] is False
    assert facts["valid.txt"]["reference_md5"] == "b7d8356e0d921b512f9b6860138f2174"
    assert sorted(os.listdir(tmp_path / "out")) == ["train.txt", "valid.txt"]


# -- windows -------------------------------------------------------------------------------------------------------


def test_each_document_starts_a_window_and_its_last_window_is_right_padded() -> None:
    documents = [[11, 12, 13], list(range(100, 109)), [21, 22, 23, 24]]
    windows = pack_windows(documents, 4, pad_id=5, dtype=np.dtype(np.uint16))
    assert windows.tolist() == [
        [11, 12, 13, 5],
        [100, 101, 102, 103],
        [104, 105, 106, 107],
        [108, 5, 5, 5],
        [21, 22, 23, 24],
    ]


def test_a_document_of_exactly_k_windows_gives_k_windows_and_no_empty_one() -> None:
    windows = pack_windows([list(range(10, 18))], 4, pad_id=5, dtype=np.dtype(np.uint16))
    assert windows.tolist() == [[10, 11, 12, 13], [14, 15, 16, 17]]


@needs_real_vocab
def test_windows_hold_each_lines_ids_then_eod_then_padding(tmp_path: Path) -> None:
    tokenizer = CPMTokenizer(SHARED_CPM / MODEL_FILE)
    lines = ["对话上文:今天天气不错 回复:是啊\n", "对话上文:你好 回复:" + "天气真不错，" * 60 + "\n"]
    (tmp_path / "valid.txt").write_text("".join(lines), encoding="utf-8")
    built = build_windows(tmp_path / "valid.txt", SHARED_CPM / MODEL_FILE, tmp_path / "cache", workers=1)
    windows = built.load()
    first = tokenizer.encode(lines[0]) + [7]
    long = tokenizer.encode(lines[1]) + [7]
    assert len(long) > WINDOW_TOKENS
    assert windows.dtype == np.uint16 and windows.shape == (1 + -(-len(long) // WINDOW_TOKENS), WINDOW_TOKENS)
    assert windows[0, : len(first)].tolist() == first and set(windows[0, len(first) :].tolist()) == {5}
    assert windows[1:].ravel()[: len(long)].tolist() == long
    assert tokenizer.decode(windows[0, : len(first) - 1]) == lines[0]
    assert built.facts["lines"] == 2 and built.facts["windows"] == len(windows)


@needs_real_vocab
def test_parallel_tokenizing_gives_the_serial_array_in_order(tmp_path: Path) -> None:
    lines = [stc_line(*pair) for pair in small_stc(train=80)["train"]]
    (tmp_path / "train.txt").write_text("".join(lines), encoding="utf-8")
    model = SHARED_CPM / MODEL_FILE
    serial = build_windows(tmp_path / "train.txt", model, tmp_path / "serial", workers=1)
    stages: list[tuple[str, int, int | None]] = []
    parallel = build_windows(
        tmp_path / "train.txt",
        model,
        tmp_path / "parallel",
        workers=2,
        chunk_lines=7,
        progress=lambda *event: stages.append(event),
    )
    assert parallel.facts["workers"] == 2
    assert np.array_equal(serial.load(), parallel.load())
    assert stages[0] == ("tokenize train.txt", 0, 80) and stages[-1] == ("tokenize train.txt", 80, 80)
    assert [done for _, done, _ in stages] == sorted(done for _, done, _ in stages)


@needs_real_vocab
def test_one_pool_serves_several_files_and_refuses_another_tokenizer_or_window(tmp_path: Path) -> None:
    model = SHARED_CPM / MODEL_FILE
    files = []
    for name, count in (("train.txt", 30), ("valid.txt", 9)):
        lines = [stc_line(*pair) for pair in small_stc(train=count)["train"]]
        (tmp_path / name).write_text("".join(lines), encoding="utf-8")
        files.append(tmp_path / name)
    with TokenizerPool(model, WINDOW_TOKENS, 2) as pool:
        pooled = [build_windows(f, model, tmp_path / "pooled", chunk_lines=4, pool=pool) for f in files]
        with pytest.raises(ValueError, match="201-token windows"):
            build_windows(files[0], model, tmp_path / "other", window=101, pool=pool)
    for built, lines_file in zip(pooled, files):
        serial = build_windows(lines_file, model, tmp_path / "serial", workers=1)
        assert built.facts["workers"] == 2 and serial.facts["workers"] == 1
        assert np.array_equal(built.load(), serial.load())


@needs_real_vocab
def test_windows_are_cached_under_a_fingerprint_of_text_tokenizer_and_window(tmp_path: Path) -> None:
    model = SHARED_CPM / MODEL_FILE
    lines_file = tmp_path / "train.txt"
    lines_file.write_text("对话上文:你好 回复:你好\n", encoding="utf-8")
    first = build_windows(lines_file, model, tmp_path / "cache", workers=1)
    mtime = first.path.stat().st_mtime_ns
    again = build_windows(lines_file, model, tmp_path / "cache", workers=1)
    assert (again.cache_hit, again.path, again.path.stat().st_mtime_ns) == (True, first.path, mtime)
    shorter = build_windows(lines_file, model, tmp_path / "cache", window=101, workers=1)
    lines_file.write_text("对话上文:再见 回复:再见\n", encoding="utf-8")
    edited = build_windows(lines_file, model, tmp_path / "cache", workers=1)
    assert not shorter.cache_hit and not edited.cache_hit
    assert len({first.path, shorter.path, edited.path}) == 3
    assert not [name for name in os.listdir(tmp_path / "cache") if name.endswith(".tmp")]


# -- prepare_official ----------------------------------------------------------------------------------------------


@needs_real_vocab
def test_prepare_from_stc_json_builds_reference_lines_and_model_ready_windows(stc_dir: Path, tmp_path: Path) -> None:
    data = json.loads((stc_dir / "STC.json").read_text(encoding="utf-8"))
    prepared = prepare_official(stc_dir, SHARED_CPM, tmp_path / "cache", workers=1)
    facts = prepared.facts
    assert (facts["cache"], facts["source"], facts["preset"]) == ("miss", "STC.json", "official")
    assert facts["train"]["lines"] == 15 and facts["valid"]["lines"] == 12
    assert facts["train"]["matches_reference"] is False and "md5" in facts["valid"]
    assert (prepared.vocab_size, prepared.pad_id, prepared.eod_id) == (30000, 5, 7)

    train_txt = Path(facts["train"]["path"])
    assert train_txt.is_relative_to(tmp_path / "cache")
    expected_lines = [stc_line(*pair) for pair in reference_train_subset(data["train"])]
    assert train_txt.read_text(encoding="utf-8").splitlines(keepends=True) == expected_lines

    train = load_windows(prepared.train_windows)
    valid = load_windows(prepared.valid_windows)
    tokenizer = CPMTokenizer(prepared.tokenizer_model)
    long_line = tokenizer.encode(stc_line(*data["valid"][-1])) + [prepared.eod_id]
    assert train.shape == (15, WINDOW_TOKENS)
    assert valid.shape == (11 + -(-len(long_line) // WINDOW_TOKENS), WINDOW_TOKENS) and len(valid) > 12
    assert isinstance(train, np.memmap)
    for row, line in zip(train, expected_lines):
        ids = tokenizer.encode(line) + [prepared.eod_id]
        assert row[: len(ids)].tolist() == ids and not np.any(row[len(ids) :] != prepared.pad_id)

    rows = {tuple(row.tolist()) for row in np.asarray(train)}
    (indices,) = TrainOrder(len(train), global_batch=5, micro_batch=5, rank=0, world_size=1, seed=1).rank_indices(0)
    step = to_batch(train[indices], pad_id=5)
    assert step["input_ids"].shape == step["labels"].shape == (5, 200)
    for inputs, labels in zip(step["input_ids"].tolist(), step["labels"].tolist()):
        assert tuple(inputs + labels[-1:]) in rows
        assert labels[:-1] == inputs[1:]
    assert torch.equal(step["loss_mask"], step["labels"] != 5)


@needs_real_vocab
def test_second_prepare_is_a_cache_hit_that_rewrites_nothing(stc_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = prepare_official(stc_dir, SHARED_CPM, cache, workers=1)
    before = {path: path.stat().st_mtime_ns for path in cache.rglob("*") if path.is_file()}
    events: list[tuple[str, int, int | None]] = []
    second = prepare_official(stc_dir, SHARED_CPM, cache, progress=lambda *event: events.append(event), workers=1)
    after = {path: path.stat().st_mtime_ns for path in cache.rglob("*") if path.is_file()}
    assert second.facts["cache"] == "hit" and events == []
    assert before == after
    assert (second.train_windows, second.valid_windows) == (first.train_windows, first.valid_windows)
    assert second.facts["train"]["md5"] == first.facts["train"]["md5"]


@needs_real_vocab
def test_prepare_uses_ready_text_files_in_place_and_checks_their_md5(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("对话上文:你好 回复:你好\n" * 3, encoding="utf-8")
    (data / "valid.txt").write_text("对话上文:再见 回复:再见\n" * 2, encoding="utf-8")
    prepared = prepare_official(data, SHARED_CPM, tmp_path / "cache", workers=1)
    assert prepared.facts["source"] == "train.txt + valid.txt"
    assert prepared.facts["train"]["lines"] == 3 and prepared.facts["train"]["matches_reference"] is False
    assert load_windows(prepared.valid_windows).shape == (2, WINDOW_TOKENS)
    assert sorted(os.listdir(data)) == ["train.txt", "valid.txt"]


@needs_real_vocab
def test_the_window_is_seq_length_plus_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("对话上文:你好 回复:" + "天气真不错，" * 20 + "\n", encoding="utf-8")
    (data / "valid.txt").write_text("对话上文:再见 回复:再见\n", encoding="utf-8")
    prepared = prepare_official(data, SHARED_CPM, tmp_path / "cache", workers=1, window=51)
    train = load_windows(prepared.train_windows)
    assert train.shape[1] == 51 and len(train) > 1
    assert prepared.facts["train"]["window_tokens"] == 51


@needs_real_vocab
def test_prepare_never_writes_into_the_data_directory(stc_dir: Path, tmp_path: Path) -> None:
    prepare_official(stc_dir, SHARED_CPM, tmp_path / "cache", workers=1)
    assert os.listdir(stc_dir) == ["STC.json"]


def test_a_missing_data_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="data directory .* does not exist"):
        prepare_official(tmp_path / "nowhere", SHARED_CPM, tmp_path / "cache")


@needs_real_vocab
def test_a_data_directory_without_stc_json_or_text_files_names_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("对话上文:你好 回复:你好\n", encoding="utf-8")
    with pytest.raises(BenchbaseError, match="holds neither STC.json nor both train.txt and valid.txt"):
        prepare_official(tmp_path, SHARED_CPM, tmp_path / "cache")


def test_a_missing_tokenizer_directory_is_a_user_error(stc_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="tokenizer directory .* does not exist"):
        prepare_official(stc_dir, tmp_path / "no-tokenizer", tmp_path / "cache")


def _blocked_signals(pid: int) -> set[int]:
    """The signals ``pid`` holds blocked, from the ``SigBlk`` bit mask Linux shows in /proc/PID/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {number for number in range(1, 65) if mask >> (number - 1) & 1}


def test_a_stop_signal_that_arrives_while_the_workers_are_spawned_is_handled_once_they_are() -> None:
    handled: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: handled.append(signum))
    try:
        with stop_signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # a point where Python runs the handlers of signals already received
            assert handled == []
        assert handled == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_stop_signal_taken_by_another_thread_is_still_held_until_the_block_ends() -> None:
    """torch's and the executor's threads do not block the stop signals, so the kernel may hand one to them."""
    handled: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: handled.append(signum))
    other_thread_done = threading.Event()
    other = threading.Thread(target=other_thread_done.wait, daemon=True)
    other.start()
    try:
        with stop_signals_held():
            os.kill(os.getpid(), signal.SIGTERM)  # this thread blocks it, so the other one receives it
            time.sleep(0.05)
            assert handled == []
        assert handled == [signal.SIGTERM]
    finally:
        other_thread_done.set()
        other.join()
        signal.signal(signal.SIGTERM, previous)


@needs_real_vocab
def test_the_pool_leaves_the_stop_signals_unblocked_in_its_workers_and_in_the_caller(tmp_path: Path) -> None:
    model = SHARED_CPM / MODEL_FILE
    lines = tmp_path / "train.txt"
    lines.write_text("".join(stc_line(*pair) for pair in small_stc(train=40)["train"]), encoding="utf-8")
    before = _blocked_signals(os.getpid())
    with TokenizerPool(model, WINDOW_TOKENS, 2) as pool:
        build_windows(lines, model, tmp_path / "pooled", chunk_lines=4, pool=pool)
        workers = list(pool._executor._processes)  # the executor's own table of its worker pids
        assert workers and all(not _blocked_signals(pid) & STOP_SIGNALS for pid in workers)
    assert _blocked_signals(os.getpid()) == before
