"""Benchmark 3: tokenizing STC-format text into training windows, lines per second.

Candidate: :func:`benchbase_cpm.windows.build_windows` as ``benchbase prepare`` calls it, on every core, from the
text file to the cached ``.npy`` (hashing, reading, tokenizing in worker processes, writing the file atomically), on
a cold cache each pair. Baseline: the naive loop, one line at a time in one process with the same tokenizer, to the
same array in memory (it writes nothing), one quarter of the text a pair, the quarters in turn (:data:`PARTS`). The
arrays must be identical, id for id.

The text is generated with the demo corpus's STC-like pair generator and written in the reference's line format;
the tokenizer is the real CPM ``chinese_vocab.model``. The baseline runs in this process, where jieba's dictionary
is loaded once and then stays loaded, while the candidate's workers are fresh processes that load it every pair:
that start-up cost is part of what the parallel path must win back.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchbase_cpm.demo_corpus import generate_pair
from benchbase_cpm.stc import stc_line
from benchbase_cpm.tokenizer import CPMTokenizer, MODEL_FILE
from benchbase_cpm.windows import WINDOW_TOKENS, build_windows
from benchmarks.result import Result
from benchmarks.stats import MIN_PAIRS
from benchmarks.timing import Comparison, compare

GOAL = 1.8
#: Lines of the real train subset: the first 10% of STC's shuffled train split (plugins/cpm/docs/reference.md, "Data").
REAL_TRAIN_LINES = 439_126
#: Seconds the naive loop would take for the whole text the candidate prepares each pair. The candidate's workers
#: spend about 0.9 s starting (spawning, importing, jieba loading its dictionary) on a quiet 2-core host, so the text
#: must be long for that to be a small share, as it is for the real 439k lines (about 35 s of naive tokenizing). 16 s
#: rather than the earlier 20 keeps ``make bench`` under ten minutes (benchmarks/README.md).
BASELINE_S = 16.0
#: The naive loop tokenizes one of this many parts of that text a pair, the parts in turn: it has no fixed cost
#: (jieba's dictionary stays loaded in this process), so its lines per second over a quarter of the lines are its
#: rate over all of them, at a quarter of the time; across five pairs every part is checked against the candidate's
#: windows, id for id.
PARTS = 4
CALIBRATION_LINES = 4000
#: Pairs: the five a 90% interval needs (about 25 s each on a quiet 2-core host).
PAIRS = MIN_PAIRS
SEED = 2024


def real_tokenizer() -> Path | None:
    """``chinese_vocab.model`` in the ``shared/cpm`` folder beside the repository, if it is there."""
    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "cpm" / MODEL_FILE
    return path if path.is_file() else None


def stc_lines(count: int, seed: int = SEED) -> list[str]:
    """``count`` lines in the reference's prompt format, from the demo corpus's pair generator."""
    rng = random.Random(seed)
    return [stc_line(*generate_pair(rng)) for _ in range(count)]


def naive_windows(lines_file: Path, tokenizer_model: Path, window: int = WINDOW_TOKENS) -> np.ndarray:
    """The straightforward way: read the lines, encode one at a time, cut each line's ids plus ``<eod>`` into
    right-padded windows."""
    tokenizer = CPMTokenizer(tokenizer_model)
    rows: list[list[int]] = []
    with open(lines_file, encoding="utf-8") as handle:
        for line in handle.readlines():
            ids = tokenizer.encode(line) + [tokenizer.eod_id]
            for start in range(0, len(ids), window):
                piece = ids[start:start + window]
                rows.append(piece + [tokenizer.pad_id] * (window - len(piece)))
    return np.array(rows, dtype=np.int64)


def run(pairs: int = PAIRS, baseline_s: float = BASELINE_S) -> Result:
    """Size the text so the baseline takes about ``baseline_s``, then time both paths side by side."""
    title = "Data preparation: STC text to windows, parallel vs naive loop"
    model = real_tokenizer()
    if model is None:
        return Result(3, title, GOAL, skipped="the real CPM tokenizer (../shared/cpm/chinese_vocab.model beside "
                                              "the repository) is absent")
    with tempfile.TemporaryDirectory(prefix="benchbase-bench-") as scratch:
        folder = Path(scratch)
        sample = folder / "sample.txt"
        sample.write_text("".join(stc_lines(CALIBRATION_LINES)), encoding="utf-8")
        CPMTokenizer(model).encode("预热")  # jieba loads its dictionary into this process once, here
        start = time.perf_counter()
        naive_windows(sample, model)
        rate = CALIBRATION_LINES / (time.perf_counter() - start)
        count = max(CALIBRATION_LINES, round(rate * baseline_s))
        text = stc_lines(count)
        lines_file = folder / "train.txt"
        lines_file.write_text("".join(text), encoding="utf-8")
        comparison, identical = measure_pairs(lines_file, model, count, folder, pairs)
        startup_s = pool_startup_s(folder, model)
    if not identical:
        raise AssertionError("build_windows and the naive loop produced different windows")
    per_line = sum(map(len, text)) / count
    notes = (
        f"{count:,} generated lines ({per_line:.0f} characters each on average), real CPM tokenizer; the naive loop "
        f"takes one of {PARTS} parts of them a pair, in turn; windows identical id for id",
        f"fixed cost of the parallel path (build_windows on two 10-line chunks): {startup_s:.2f} s",
        f"projected for the real 10% train subset ({REAL_TRAIN_LINES:,} lines of this length): "
        f"{REAL_TRAIN_LINES / comparison.candidate.median:.0f} s parallel, "
        f"{REAL_TRAIN_LINES / comparison.baseline.median:.0f} s naive",
    )
    return Result(3, title, GOAL, comparison, notes)


def pool_startup_s(folder: Path, model: Path) -> float:
    """Seconds build_windows takes for almost nothing: two chunks of ten lines, so both workers start (spawn,
    imports, jieba's dictionary) and the file is hashed and written. The parallel path pays this on every call."""
    tiny = folder / "tiny.txt"
    tiny.write_text("".join(stc_lines(20)), encoding="utf-8")
    start = time.perf_counter()
    build_windows(tiny, model, Path(tempfile.mkdtemp(prefix="windows-", dir=folder)), chunk_lines=10)
    return time.perf_counter() - start


def measure_pairs(lines_file: Path, model: Path, count: int, folder: Path, pairs: int) -> tuple[Comparison, bool]:
    """Both paths in ``pairs`` pairs over the ``count`` lines of ``lines_file`` (the naive loop over one part a pair),
    and whether the naive parts' windows, one after the other, are the parallel build's, id for id."""
    parts = split_lines(lines_file, PARTS)
    naive_arrays: dict[int, np.ndarray] = {}
    parallel_arrays: list[np.ndarray] = []
    calls = itertools.count()

    def naive() -> float:
        index = next(calls) % PARTS
        path, lines = parts[index]
        start = time.perf_counter()
        naive_arrays[index] = naive_windows(path, model)
        return lines / (time.perf_counter() - start)

    def parallel() -> float:
        out = Path(tempfile.mkdtemp(prefix="windows-", dir=folder))
        start = time.perf_counter()
        built = build_windows(lines_file, model, out)
        elapsed = time.perf_counter() - start
        parallel_arrays[:] = [built.load()]
        return count / elapsed

    comparison = compare(("naive loop, 1 process", naive), ("build_windows, all cores", parallel),
                         unit="lines/s", repeats=pairs)
    if len(naive_arrays) < PARTS:
        raise AssertionError(f"{len(naive_arrays)} of the {PARTS} parts went through the naive loop: run at least "
                             f"{PARTS} pairs")
    naive_whole = np.concatenate([naive_arrays[index] for index in range(PARTS)])
    return comparison, np.array_equal(naive_whole, parallel_arrays[0])


def split_lines(lines_file: Path, parts: int) -> list[tuple[Path, int]]:
    """``lines_file`` cut into ``parts`` consecutive files of (nearly) equal line counts, beside it: ``(path,
    lines)`` of each, in order, so their windows one after the other are the whole file's."""
    lines = lines_file.read_text(encoding="utf-8").splitlines(keepends=True)
    size = -(-len(lines) // parts)
    pieces = []
    for index in range(parts):
        piece = lines[index * size:(index + 1) * size]
        path = lines_file.with_name(f"{lines_file.stem}.part{index}{lines_file.suffix}")
        path.write_text("".join(piece), encoding="utf-8")
        pieces.append((path, len(piece)))
    return pieces
