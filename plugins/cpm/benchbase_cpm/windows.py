"""Tokenize a lines file into fixed-length training windows, cached as one ``.npy`` array.

A line's ids plus ``<eod>`` are cut into windows of ``seq_length + 1`` tokens, the last one right-padded with
``<pad>``; every line starts a new window. This is the reference's ``GenDataset.process`` (FlagPerf
``cpm/pytorch/dataloaders/dataloader.py``), which loops ``while start + W < len(ids)`` and then pads the remainder, so
a line of exactly ``k * W`` ids gives ``k`` full windows and no empty one.

Tokenizing 440k lines takes tens of seconds, so it runs once per node across all cores and is cached under a name
that fingerprints everything the ids depend on; a run reads the result through ``np.load(mmap_mode="r")``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.errors import BenchbaseError
from benchbase.kit import atomic_write, die_with_parent
from benchbase_cpm.cache_folder import damage, file_record, note_rebuild, read_facts
from benchbase_cpm.npy_header import read_npy_header
from benchbase_cpm.stc import file_digest
from benchbase_cpm.tokenizer import CPMTokenizer

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from benchbase.contract import ProgressFn

# NumPy and the process pool are imported where arrays are built or loaded, and the fingerprint reads jieba's and
# SentencePiece's versions from their installed metadata: a cached preparation (every run, every dry run) only
# checks the cached files, and importing NumPy and jieba for that was most of a dry run's start-up.

#: Tokens per window: 200 inputs plus the one label past the last input (plugins/cpm/docs/reference.md, "Data").
WINDOW_TOKENS = 201
#: Bump when the window layout or file format changes, so old caches are not reused.
FORMAT_VERSION = 1
#: Lines per unit of parallel work: ~0.25 s of tokenizing, small enough for smooth progress and balanced workers.
DEFAULT_CHUNK_LINES = 4096


@dataclass(frozen=True)
class WindowsFile:
    """A cached window array and the facts about how it was made."""

    path: Path
    cache_hit: bool
    facts: dict[str, Any]

    @property
    def windows(self) -> int:
        return int(self.facts["windows"])

    def load(self) -> np.ndarray:
        """The ``(windows, window_tokens)`` array, memory-mapped read-only."""
        return load_windows(self.path)


def load_windows(path: Path) -> np.ndarray:
    """A window array memory-mapped read-only, so every rank on a node shares one copy in the page cache."""
    import numpy as np

    return np.load(path, mmap_mode="r")


def window_dtype(vocab_size: int) -> np.dtype:
    """uint16 halves the file and the page cache when every id fits (CPM's 30000 does)."""
    import numpy as np

    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def windows_of_lines(lines: Sequence[str], tokenizer: CPMTokenizer, window: int = WINDOW_TOKENS) -> np.ndarray:
    """The windows of ``lines`` in order (see :func:`pack_windows`)."""
    encoded = []
    for line in lines:
        ids = tokenizer.encode(line)
        ids.append(tokenizer.eod_id)
        encoded.append(ids)
    return pack_windows(encoded, window, tokenizer.pad_id, window_dtype(tokenizer.vocab_size))


def pack_windows(documents: Sequence[Sequence[int]], window: int, pad_id: int, dtype: np.dtype) -> np.ndarray:
    """Cut each document (a line's ids, ``<eod>`` included) into ``window``-token rows, the last row of each
    document right-padded with ``pad_id``; documents never share a row."""
    import numpy as np

    rows = sum(-(-len(ids) // window) for ids in documents)
    out = np.full((rows, window), pad_id, dtype=dtype)
    flat = out.reshape(-1)
    row = 0
    for ids in documents:
        flat[row * window : row * window + len(ids)] = ids
        row += -(-len(ids) // window)
    return out


def window_fields(rows: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """A batch of model inputs from window rows ``(b, W)``: next-token labels, a loss mask that skips padding, and
    positions ``0..W-2`` (every window starts a line, so positions restart at 0)."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    labels = rows[:, 1:]
    return {
        "input_ids": np.ascontiguousarray(rows[:, :-1]),
        "labels": np.ascontiguousarray(labels),
        "loss_mask": labels != pad_id,
        "position_ids": np.tile(np.arange(rows.shape[1] - 1, dtype=np.int64), (rows.shape[0], 1)),
    }


def windows_fingerprint(source_sha256: str, tokenizer_sha256: str, window: int) -> str:
    """What the ids depend on: the text, the tokenizer model, the window, the segmenter and our code.

    The source is identified by its content hash, not its size and mtime: a copied or re-downloaded file keeps its
    cache, and an edited one never reuses a stale one. Hashing runs at >1 GB/s, so it costs well under a second.
    """
    parts = [
        f"format={FORMAT_VERSION}",
        f"source={source_sha256}",
        f"tokenizer={tokenizer_sha256}",
        f"window={window}",
        f"jieba={importlib.metadata.version('jieba')}",
        f"sentencepiece={importlib.metadata.version('sentencepiece')}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def build_windows(
    lines_file: Path,
    tokenizer_model: Path,
    out_dir: Path,
    *,
    window: int = WINDOW_TOKENS,
    workers: int | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    progress: ProgressFn | None = None,
    pool: TokenizerPool | None = None,
) -> WindowsFile:
    """Tokenize ``lines_file`` into ``out_dir/<stem>-<fingerprint>.npy`` unless that file already exists.

    ``workers`` processes (default: every core this process may run on) each build their own tokenizer once and
    encode chunks of ``chunk_lines`` lines; results are reassembled in input order, so the array equals the serial
    one. A caller that tokenizes several files passes one ``pool`` for all of them (then ``workers`` is the pool's).
    The array and its facts (``.json`` beside it, written last, with the array file's size and digest) appear
    atomically; a cached pair is checked against them (and the array's header against the facts) before it is used.
    """
    lines_file, out_dir = Path(lines_file), Path(out_dir)
    if not lines_file.is_file():
        raise BenchbaseError(f"{lines_file} does not exist", "prepare the data again (benchbase prepare cpm)")
    tokenizer = CPMTokenizer(tokenizer_model)
    fingerprint = windows_fingerprint(file_digest(lines_file, "sha256"), tokenizer.model_sha256, window)
    path = out_dir / f"{lines_file.stem}-{fingerprint[:16]}.npy"
    facts_path = path.with_suffix(".json")
    cached = _cached_facts(path, facts_path, fingerprint, window)
    if cached is not None:
        return WindowsFile(path, True, cached)

    import numpy as np

    started = time.perf_counter()
    lines = _read_lines(lines_file)
    chunks = [lines[i : i + chunk_lines] for i in range(0, len(lines), chunk_lines)]
    stage = f"tokenize {lines_file.name}"
    if progress:
        progress(stage, 0, len(lines))
    with _pool_for(pool, tokenizer.model_file, window, workers, len(chunks)) as active:
        encoded = _encode_serially(chunks, tokenizer, window) if active is None else active.map(chunks)
        array = np.concatenate(list(_reporting(encoded, chunks, stage, len(lines), progress)))
    facts = {
        "format_version": FORMAT_VERSION,
        "source": str(lines_file),
        "fingerprint": fingerprint,
        "tokenizer_model": str(tokenizer.model_file),
        "tokenizer_sha256": tokenizer.model_sha256,
        "window_tokens": window,
        "lines": len(lines),
        "windows": int(array.shape[0]),
        "tokens": int(np.count_nonzero(array != tokenizer.pad_id)),
        "pad_id": tokenizer.pad_id,
        "eod_id": tokenizer.eod_id,
        "vocab_size": tokenizer.vocab_size,
        "dtype": str(array.dtype),
        "workers": active.workers if active else 1,
        "tokenize_s": round(time.perf_counter() - started, 3),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
    facts[_FILE_KEY] = file_record(path)
    atomic_write(facts_path, lambda handle: handle.write(json.dumps(facts, indent=1).encode()))
    return WindowsFile(path, False, facts)


#: The key of a windows file's facts holding the array file's :func:`~benchbase_cpm.cache_folder.file_record`.
_FILE_KEY = "file"
_REQUIRED_FACTS = {
    "fingerprint": str, "window_tokens": int, "windows": int, "tokens": int, "dtype": str, _FILE_KEY: dict,
}


def _cached_facts(path: Path, facts_path: Path, fingerprint: str, window: int) -> dict[str, Any] | None:
    """The facts of the cached windows ``path`` if they are the array built for ``fingerprint``; ``None`` when there
    is no entry (or half of one, from a build interrupted between its two files) or it is damaged (then the rebuild
    is announced)."""
    if not facts_path.is_file():
        return None
    facts = read_facts(facts_path, _REQUIRED_FACTS)
    problem = facts if isinstance(facts, str) else _windows_damage(path, facts, fingerprint, window)
    if problem is None:
        return facts  # type: ignore[return-value]
    note_rebuild(path, problem)
    return None


def _windows_damage(path: Path, facts: dict[str, Any], fingerprint: str, window: int) -> str | None:
    """Why the array at ``path`` is not the one ``facts`` describe; the header read only once size and digest hold."""
    if facts["fingerprint"] != fingerprint or facts["window_tokens"] != window:
        return f"{path.with_suffix('.json').name} describes other windows"
    found = damage(path, facts[_FILE_KEY])
    if found is not None:
        return found
    try:
        with open(path, "rb") as handle:
            header = read_npy_header(handle)
    except (OSError, ValueError) as exc:
        return f"{path.name} is not a NumPy array file ({exc})"
    if header.version not in ((1, 0), (2, 0)):
        return f"{path.name} is a NumPy file of format {header.version}, not what was built"
    shape, dtype = header.shape, header.dtype_name
    if shape != (facts["windows"], window) or str(dtype) != facts["dtype"]:
        return f"{path.name} holds {dtype} {shape}, its facts say {facts['dtype']} ({facts['windows']}, {window})"
    return None


def _read_lines(path: Path) -> list[str]:
    # Text mode with universal newlines and readlines(), as the reference reads train.txt: the "\n" stays on each
    # line and is encoded (as U+2583), a final line without one is kept as it is.
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except UnicodeDecodeError as exc:
        raise BenchbaseError(
            f"{path} is not UTF-8 text (bad byte at offset {exc.start})", "regenerate it from STC.json"
        ) from None
    if not lines:
        raise BenchbaseError(f"{path} is empty", "regenerate it from STC.json")
    return lines


def default_workers() -> int:
    """Every core this process may run on."""
    return len(os.sched_getaffinity(0))


def _pool_for(
    pool: TokenizerPool | None, model_file: Path, window: int, workers: int | None, chunks: int
) -> AbstractContextManager[TokenizerPool | None]:
    """The caller's pool (left open for its next file), a pool of our own (closed after), or ``None`` when one
    process is asked for or there is only one chunk (encoded in this process)."""
    if pool is not None:
        pool.check_serves(model_file, window)
        return contextlib.nullcontext(pool)
    workers = min(workers or default_workers(), chunks)
    return TokenizerPool(model_file, window, workers) if workers > 1 else contextlib.nullcontext()


def _encode_serially(chunks: list[list[str]], tokenizer: CPMTokenizer, window: int) -> Iterator[np.ndarray]:
    return (windows_of_lines(chunk, tokenizer, window) for chunk in chunks)


class TokenizerPool:
    """Worker processes that encode chunks of lines into windows, started on first use.

    Each worker pays a fixed start-up (a fresh interpreter, the imports, jieba's dictionary: about 0.7 s on a quiet
    core), so preparation shares one pool between its train and valid files. Started with ``spawn``, not fork:
    the caller may already hold torch/OpenMP threads, which a forked child can deadlock on. A spawned worker
    re-imports the parent's main module, which is why the ``benchbase`` console script points at the import-free
    :mod:`benchbase.entry`.
    """

    def __init__(self, model_file: Path | str, window: int, workers: int) -> None:
        self.model_file = Path(model_file)
        self.window = window
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def check_serves(self, model_file: Path, window: int) -> None:
        if Path(model_file) != self.model_file or window != self.window:
            raise ValueError(f"this pool encodes with {self.model_file} into {self.window}-token windows")

    def map(self, chunks: list[list[str]]) -> Iterator[np.ndarray]:
        """Windows of each chunk, in order.

        The executor spawns its workers inside ``map`` (each submit may start one). A stop signal handled while a
        worker is half spawned would leave that fresh interpreter reading its start-up data from a pipe its
        parent abandoned, and printing an ``EOFError`` traceback on the run's stderr after the run's one-line
        error; so the stop signals wait until every chunk is submitted, then are handled as usual.
        """
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(str(self.model_file), self.window, os.getpid()),
            )
        with stop_signals_held():
            return self._executor.map(_encode_in_worker, chunks)

    def close(self, at_once: bool = False) -> None:
        """Stop the workers once their current chunk is done, or ``at_once`` (preparation was abandoned: a signal,
        a time limit, an error), so that none is left tokenizing for a run that will not happen."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        if at_once:
            # The executor's own table of its workers (Python 3.14 adds ProcessPoolExecutor.kill_workers for this).
            workers = getattr(executor, "_processes", None) or {}
            for process in list(workers.values()):
                process.kill()
        executor.shutdown(cancel_futures=True)

    def __enter__(self) -> TokenizerPool:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.close(at_once=exc_type is not None)


def _reporting(
    results: Iterable[np.ndarray], chunks: list[list[str]], stage: str, total: int, progress: ProgressFn | None
) -> Iterator[np.ndarray]:
    done = 0
    for chunk, result in zip(chunks, results):
        done += len(chunk)
        if progress:
            progress(stage, done, total)
        yield result


_worker_state: dict[str, Any] = {}

#: The signals that stop the preparing process (a terminal's Ctrl-C, a scheduler's SIGTERM, a closed terminal, the
#: run's deadline).
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM})


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold :data:`STOP_SIGNALS` for the block: one that arrives meanwhile is handled when the block ends.

    A signal mask is per thread: it holds the signals in this thread and in every child started meanwhile (which
    inherits it), but where other threads exist (torch's, an executor's) the kernel hands a process-wide signal to
    one of those, and its C handler still schedules the Python handler in the main thread in the middle of the block.
    So in the main thread the handlers are also swapped for a recorder for the block, and what it recorded is raised
    again once the mask and the handlers are back. A handler installed outside Python cannot be put back, so such a
    signal is only masked."""
    deferred: list[int] = []
    swapped: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not None:
                swapped[signum] = signal.signal(signum, lambda received, _frame: deferred.append(received))
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        # Unmasking runs the handlers of what is pending in this thread: the recorder, which defers it too.
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum, handler in swapped.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(deferred):
            signal.raise_signal(signum)


def _init_worker(model_file: str, window: int, parent: int) -> None:
    # The pool belongs to the process that prepares: if it is killed, the workers go with it (they would otherwise
    # tokenize on, orphaned); Ctrl-C is that process's to act on, which shuts the pool down.
    die_with_parent(signal.SIGKILL, parent=parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A spawned child inherits the signal mask of the moment it was started: the stops its parent held meanwhile.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _worker_state["tokenizer"] = CPMTokenizer(model_file)
    _worker_state["window"] = window


def _encode_in_worker(lines: list[str]) -> np.ndarray:
    return windows_of_lines(lines, _worker_state["tokenizer"], _worker_state["window"])
