"""Make CPM data ready before any rank starts: text files, tokenizer, token windows, all cached.

Everything derived lands under ``<cache_dir>/cpm/``, never in the user's data directory (it may be read-only, and a
cache is ours to delete). Each step's output is named by a fingerprint of its inputs and appears atomically, so a
second call finds every piece and does no work, and an interrupted call redoes only what is missing. A piece found
is checked against the sizes and digests recorded when it was built (:mod:`benchbase_cpm.cache_folder`); a damaged
one is rebuilt, with one line saying so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.errors import BenchbaseError
from benchbase_cpm.demo_corpus import DemoParams, build_demo_corpus
from benchbase_cpm.cache_folder import open_folder, publish_folder
from benchbase_cpm.stc import (
    REFERENCE_MD5,
    STC_FILE,
    TRAIN_FRACTION,
    file_digest,
    write_split_files,
)
from benchbase_cpm.tokenizer import VOCAB_FILE, CPMTokenizer
from benchbase_cpm.windows import WINDOW_TOKENS, TokenizerPool, build_windows, default_workers

if TYPE_CHECKING:
    from benchbase.contract import ProgressFn

SPLIT_FILES = ("train.txt", "valid.txt")


@dataclass(frozen=True)
class PreparedData:
    """Where a run reads its data, and the facts for the record."""

    train_windows: Path
    valid_windows: Path
    tokenizer_model: Path
    vocab_size: int
    pad_id: int
    eod_id: int
    facts: dict[str, Any]


def prepare_official(
    data_dir: Path,
    tokenizer_dir: Path,
    cache_dir: Path,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    window: int = WINDOW_TOKENS,
) -> PreparedData:
    """The official data: ``STC.json`` (or the reference's ``train.txt`` + ``valid.txt``) and CPM's tokenizer.

    From ``STC.json`` the reference's files are rebuilt in the cache and their MD5 compared with the published sums;
    ready-made text files are used in place and checked the same way. ``window`` is ``seq_length + 1``.
    """
    started = time.perf_counter()
    data_dir, root = Path(data_dir), Path(cache_dir) / "cpm"
    if not data_dir.is_dir():
        raise BenchbaseError(
            f"data directory {data_dir} does not exist",
            f"download {STC_FILE} (see the CPM case README) into a folder and pass it with --data-dir",
        )
    tokenizer = CPMTokenizer.from_dir(tokenizer_dir)
    stc_json = data_dir / STC_FILE
    if stc_json.is_file():
        text_dir, text_facts, text_hit = _split_texts(stc_json, root, TRAIN_FRACTION, REFERENCE_MD5, progress)
        source = STC_FILE
    elif all((data_dir / name).is_file() for name in SPLIT_FILES):
        text_dir, text_facts, text_hit = data_dir, _checked_text_files(data_dir), True
        source = " + ".join(SPLIT_FILES)
    else:
        raise BenchbaseError(
            f"{data_dir} holds neither {STC_FILE} nor both {' and '.join(SPLIT_FILES)}",
            f"put {STC_FILE} (see the CPM case README) in that folder",
        )
    prepared = _with_windows(text_dir, text_facts, text_hit, tokenizer, root, window, workers, progress)
    prepared.facts.update(
        preset="official",
        source=source,
        data_dir=str(data_dir),
        tokenizer_vocab_json=(Path(tokenizer_dir) / VOCAB_FILE).is_file(),
        prepare_s=round(time.perf_counter() - started, 3),
    )
    return prepared


def prepare_demo(
    cache_dir: Path,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    window: int = WINDOW_TOKENS,
    **demo_params: int,
) -> PreparedData:
    """The demo data: a generated corpus and its own tokenizer (see :mod:`benchbase_cpm.demo_corpus`), then the
    official pipeline. All generated pairs are used for training: the reference keeps 10% only to cut STC's 4.4M
    pairs to a benchmark's size, and the demo corpus is generated at the size it needs."""
    started = time.perf_counter()
    known = {field.name for field in fields(DemoParams)}
    unknown = sorted(set(demo_params) - known)
    if unknown:
        raise BenchbaseError(
            f"unknown demo corpus parameter(s) {', '.join(unknown)}", f"use only {', '.join(sorted(known))}"
        )
    root = Path(cache_dir) / "cpm"
    corpus = build_demo_corpus(root, DemoParams(**demo_params), progress)
    tokenizer = CPMTokenizer.from_dir(corpus.tokenizer_dir)
    text_dir, text_facts, text_hit = _split_texts(corpus.stc_json, root, 1.0, None, progress)
    hit = text_hit and corpus.cache_hit
    prepared = _with_windows(text_dir, text_facts, hit, tokenizer, root, window, workers, progress)
    prepared.facts.update(
        preset="demo", source=STC_FILE, demo=corpus.facts, prepare_s=round(time.perf_counter() - started, 3)
    )
    return prepared


def _split_texts(
    stc_json: Path,
    root: Path,
    train_fraction: float,
    reference_md5: dict[str, str] | None,
    progress: ProgressFn | None,
) -> tuple[Path, dict[str, Any], bool]:
    """``train.txt``/``valid.txt`` of ``stc_json`` in ``root/stc/text-<hash>/``, built unless already there."""
    source_sha256 = file_digest(stc_json, "sha256")
    text_dir = root / "stc" / f"text-{source_sha256[:16]}-{train_fraction:g}"
    cached = open_folder(text_dir, {name: dict for name in SPLIT_FILES})
    if cached is not None:
        return text_dir, cached, True
    building = text_dir.with_name(f".{text_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(building, ignore_errors=True)
    try:
        facts = write_split_files(
            stc_json, building, train_fraction=train_fraction, reference_md5=reference_md5, progress=progress
        )
        for name in SPLIT_FILES:
            facts[name]["path"] = str(text_dir / name)
        facts["source_sha256"] = source_sha256
        publish_folder(building, text_dir, facts)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return text_dir, facts, False


def _checked_text_files(data_dir: Path) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in SPLIT_FILES:
        md5 = file_digest(data_dir / name)
        with open(data_dir / name, "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        facts[name] = {
            "path": str(data_dir / name),
            "lines": lines,
            "md5": md5,
            "reference_md5": REFERENCE_MD5[name],
            "matches_reference": md5 == REFERENCE_MD5[name],
        }
    return facts


def _with_windows(
    text_dir: Path,
    text_facts: dict[str, Any],
    text_hit: bool,
    tokenizer: CPMTokenizer,
    root: Path,
    window: int,
    workers: int | None,
    progress: ProgressFn | None,
) -> PreparedData:
    model = tokenizer.model_file
    workers = workers or default_workers()
    # One pool for both files: its workers start (on first use only) once, not once per file.
    with TokenizerPool(model, window, workers) if workers > 1 else contextlib.nullcontext() as pool:
        built = {
            split: build_windows(
                text_dir / f"{split}.txt", model, root / "windows", window=window, workers=workers,
                progress=progress, pool=pool,
            )
            for split in ("train", "valid")
        }
    facts: dict[str, Any] = {
        "cache": "hit" if text_hit and all(item.cache_hit for item in built.values()) else "miss",
        "tokenizer": {
            "model": str(model),
            "sha256": tokenizer.model_sha256,
            "vocab_size": tokenizer.vocab_size,
            "pad_id": tokenizer.pad_id,
            "eod_id": tokenizer.eod_id,
        },
        "text": {key: value for key, value in text_facts.items() if key not in SPLIT_FILES},
    }
    for split, item in built.items():
        text = text_facts[f"{split}.txt"]
        facts[split] = {
            **text,
            "windows_file": str(item.path),
            "windows": item.windows,
            "tokens": item.facts["tokens"],
            "window_tokens": item.facts["window_tokens"],
        }
    return PreparedData(
        train_windows=built["train"].path,
        valid_windows=built["valid"].path,
        tokenizer_model=model,
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        eod_id=tokenizer.eod_id,
        facts=facts,
    )
