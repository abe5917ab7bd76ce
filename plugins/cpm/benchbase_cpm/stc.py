"""STC (Weibo short-text conversation) as the CPM reference used it: ``STC.json`` in, ``train.txt``/``valid.txt`` out.

The reference preprocessing (DeepSparkHub ``cpm/pytorch/base/data_preprocessing/preprocess_stc_finetune.py``, the
source of the published train/valid MD5 sums) shuffles the train pairs with Python's ``random`` seeded 1234, keeps the
first ``int(0.1 * n)`` and writes one line per pair. Reproducing it byte for byte lets a run prove, by MD5, that it
trained on the reference subset.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from benchbase.errors import BenchbaseError
from benchbase.record.atomic import atomic_write

if TYPE_CHECKING:
    from benchbase.contract import ProgressFn

Pair = list[str]

STC_FILE = "STC.json"
#: MD5 of the reference's files (FlagPerf ``cpm/pytorch/dataloaders/dataloader.py``, ``check_md5_data_file``).
REFERENCE_MD5 = {"train.txt": "65bdbb2b3a8d3b61dbe63ea1a67eec62", "valid.txt": "b7d8356e0d921b512f9b6860138f2174"}
TRAIN_FRACTION = 0.1
SHUFFLE_SEED = 1234
_PROGRESS_EVERY = 50_000


#: Weibo posts are capped at 140 characters (2,000 for long posts); a text far beyond that is a damaged file, and
#: tokenizing it would silently turn one "pair" into thousands of windows.
MAX_TEXT_CHARS = 10_000


def load_stc(path: Path) -> tuple[list[Pair], list[Pair]]:
    """The train and valid pairs of an ``STC.json``, after checking its shape.

    The whole file is parsed at once, as the reference does: the shuffle needs every train pair anyway.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise BenchbaseError(f"{path} does not exist", "download STC.json (see the CPM case README)") from None
    except UnicodeDecodeError as exc:
        raise BenchbaseError(
            f"{path} is not UTF-8 text (bad byte at offset {exc.start})", "use the original STC.json, saved as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchbaseError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            "use the original STC.json; the download may be truncated",
        ) from None
    del text
    if not isinstance(data, dict):
        raise BenchbaseError(
            f"{path} holds a JSON {type(data).__name__}, not an object",
            'STC.json must be {"train": [[post, response], ...], "valid": [...]}',
        )
    return _checked_split(path, data, "train"), _checked_split(path, data, "valid")


def _checked_split(path: Path, data: Mapping[str, Any], split: str) -> list[Pair]:
    shape = 'STC.json must be {"train": [[post, response], ...], "valid": [...]}'
    if split not in data:
        raise BenchbaseError(f'{path} has no "{split}" key', shape)
    pairs = data[split]
    if not isinstance(pairs, list):
        raise BenchbaseError(f"{path}: {split} is a JSON {type(pairs).__name__}, not a list", shape)
    if not pairs:
        raise BenchbaseError(f"{path}: {split} is empty", "use the complete STC.json")
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], str)):
            raise BenchbaseError(
                f"{path}: {split}[{index}] is not a [post, response] pair of two strings (got {_preview(pair)})",
                f"fix or remove that entry; {shape}",
            )
        longest = max(len(pair[0]), len(pair[1]))
        if longest > MAX_TEXT_CHARS:
            raise BenchbaseError(
                f"{path}: {split}[{index}] has a text of {longest} characters (an STC post or response is at most a "
                f"few hundred; the limit is {MAX_TEXT_CHARS})",
                "fix or remove that entry; the file may be damaged",
            )
    return pairs


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _without_whitespace(text: str) -> str:
    # The reference writes "".join(text.strip().split()): every kind of whitespace goes, not only spaces, so a
    # stray newline or tab in a pair cannot split or alter a line.
    return "".join(text.split())


def stc_line(post: str, response: str) -> str:
    """One training line of a pair, in the reference's prompt format, newline included."""
    return "对话上文:" + _without_whitespace(post) + " 回复:" + _without_whitespace(response) + "\n"


def reference_train_subset(train: list[Pair], fraction: float = TRAIN_FRACTION) -> list[Pair]:
    """The reference's train subset: ``random.seed(1234); random.shuffle(train)``, then the first
    ``int(fraction * n)``.

    A private ``random.Random(1234)`` draws the same sequence as seeding the module-level generator (the shuffle
    only depends on the list's length), without disturbing anyone else's random state.
    """
    shuffled = list(train)
    random.Random(SHUFFLE_SEED).shuffle(shuffled)
    return shuffled[: int(fraction * len(shuffled))]


def write_split_files(
    stc_json: Path,
    out_dir: Path,
    *,
    train_fraction: float = TRAIN_FRACTION,
    reference_md5: Mapping[str, str] | None = REFERENCE_MD5,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write ``train.txt`` and ``valid.txt`` of ``stc_json`` into ``out_dir``; return what was written.

    Each file is streamed line by line into a temporary file, hashed as it is written, then renamed into place, so
    an interrupted run never leaves a half file under the final name. With ``reference_md5`` each file's facts say
    whether it is byte-identical to the reference's.
    """
    out_dir = Path(out_dir)
    if progress:
        progress(f"read {Path(stc_json).name}", 0, None)
    train, valid = load_stc(Path(stc_json))
    facts: dict[str, Any] = {
        "source": str(stc_json),
        "train_pairs": len(train),
        "valid_pairs": len(valid),
        "train_fraction": train_fraction,
        "shuffle_seed": SHUFFLE_SEED,
    }
    subset = reference_train_subset(train, train_fraction)
    if not subset:
        raise BenchbaseError(
            f"{stc_json} has {len(train)} train pairs, and the reference trains on the first {train_fraction:.0%} of "
            "them after its shuffle: none",
            "use the complete STC.json (the reference's has about 4.4 million train pairs)",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train.txt", subset), ("valid.txt", valid)):
        facts[name] = _write_lines(out_dir / name, pairs, progress)
        if reference_md5 is not None:
            facts[name]["reference_md5"] = reference_md5[name]
            facts[name]["matches_reference"] = facts[name]["md5"] == reference_md5[name]
    return facts


def _write_lines(path: Path, pairs: list[Pair], progress: ProgressFn | None) -> dict[str, Any]:
    digest = hashlib.md5()
    stage = f"write {path.name}"

    def write(handle: BinaryIO) -> None:
        for index, (post, response) in enumerate(pairs, start=1):
            data = stc_line(post, response).encode("utf-8")
            digest.update(data)
            handle.write(data)
            if progress and index % _PROGRESS_EVERY == 0:
                progress(stage, index, len(pairs))

    atomic_write(path, write)
    if progress:
        progress(stage, len(pairs), len(pairs))
    return {"path": str(path), "lines": len(pairs), "md5": digest.hexdigest()}


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file read in blocks (MD5 because the reference's check is MD5; sha256 for cache keys)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
