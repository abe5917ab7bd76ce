"""The CPM tokenizer: jieba word segmentation in front of a SentencePiece model.

CPM was trained on text cut by jieba, with spaces and newlines made visible as U+2582 / U+2583 so SentencePiece keeps
them, then the words joined by plain spaces that SentencePiece treats as word boundaries. Reproducing exactly that
scheme (CPM-1-Finetune ``data_utils/tokenization_gpt2.py``) is what makes our token ids equal to the ones the
reference fine-tuned on; any deviation silently changes the workload.

jieba is pinned to 0.42.1 in ``plugins/cpm/pyproject.toml`` because its dictionary and HMM decide the segmentation:
another jieba version cuts some lines differently, which changes the token ids the reference trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import sentencepiece as spm

from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    import jieba

#: File names in a CPM tokenizer directory, as released with CPM.
MODEL_FILE = "chinese_vocab.model"
VOCAB_FILE = "vocab.json"

#: Visible stand-ins for the characters SentencePiece would otherwise swallow as whitespace.
SPACE_MARK = "\u2582"
NEWLINE_MARK = "\u2583"
_TO_MARKS = str.maketrans({" ": SPACE_MARK, "\n": NEWLINE_MARK})

_segmenter_lock = threading.Lock()
_segmenter: jieba.Tokenizer | None = None


def _jieba_segmenter() -> jieba.Tokenizer:
    """One private jieba instance per process, built on first use.

    A private instance (same default dictionary as ``jieba.cut``) keeps words another library adds to jieba's global
    tokenizer from changing our segmentation. jieba announces its dictionary loading on stderr, which would litter
    every rank's log, so its logger is quieted first. jieba itself is imported here, on first use: checking a
    cached preparation loads the SentencePiece model but segments nothing.
    """
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            segmenter = jieba.Tokenizer()
            segmenter.initialize()
            _segmenter = segmenter
        return _segmenter


def pretokenize(text: str) -> str:
    """What SentencePiece sees of ``text``: jieba words with spaces/newlines made visible, joined by spaces.

    Also the form a SentencePiece model for this scheme must be trained on (the demo tokenizer is).
    """
    words = _jieba_segmenter().cut(text, cut_all=False)
    return " ".join(word.translate(_TO_MARKS) for word in words)


class CPMTokenizer:
    """Encode text to CPM token ids and back, exactly as the reference fine-tuning did."""

    def __init__(self, model_file: Path | str, vocab_file: Path | str | None = None) -> None:
        self.model_file = Path(model_file)
        model_bytes = _read_model_bytes(self.model_file)
        self.model_sha256 = hashlib.sha256(model_bytes).hexdigest()
        self._sp = _load_sentencepiece(self.model_file, model_bytes)
        self.vocab_size: int = self._sp.get_piece_size()
        self.eod_id: int = self._special_id("<eod>")
        self.pad_id: int = self._special_id("<pad>")
        if vocab_file is not None:
            check_vocab_json(Path(vocab_file), self)

    @classmethod
    def from_dir(cls, directory: Path | str) -> CPMTokenizer:
        """Build from a tokenizer directory: ``chinese_vocab.model`` required, ``vocab.json`` checked if present.

        The reference reads ids from ``vocab.json``; we encode with the model, so a ``vocab.json`` that disagrees
        with it would mean the two files come from different releases: refuse rather than train on shifted ids.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise BenchbaseError(
                f"tokenizer directory {directory} does not exist",
                f"point it at the folder holding {MODEL_FILE} (and {VOCAB_FILE}) from the CPM release",
            )
        model = directory / MODEL_FILE
        if not model.is_file():
            raise BenchbaseError(
                f"no {MODEL_FILE} in tokenizer directory {directory}",
                f"copy {MODEL_FILE} (and {VOCAB_FILE}) from the CPM release into it",
            )
        vocab = directory / VOCAB_FILE
        return cls(model, vocab if vocab.is_file() else None)

    def piece(self, token_id: int) -> str:
        """The SentencePiece string of one id (for messages and checks)."""
        return self._sp.id_to_piece(int(token_id))

    def piece_id(self, piece: str) -> int:
        """The id of a piece; the unknown id when the model lacks it."""
        return self._sp.piece_to_id(piece)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; no bos/eos and no ``<eod>`` (the caller appends it where a document ends)."""
        return self._sp.encode(pretokenize(text))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: SentencePiece's word-boundary spaces dropped, the visible marks turned back into
        spaces and newlines."""
        text = self._sp.decode([int(i) for i in ids])
        return text.replace(" ", "").replace(SPACE_MARK, " ").replace(NEWLINE_MARK, "\n")

    def _special_id(self, piece: str) -> int:
        token_id = self._sp.piece_to_id(piece)
        if self._sp.id_to_piece(token_id) != piece:
            raise BenchbaseError(
                f"SentencePiece model {self.model_file} has no {piece} piece, so it is not a CPM tokenizer",
                f"use {MODEL_FILE} from the CPM release",
            )
        return token_id


def _read_model_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BenchbaseError(
            f"tokenizer model {path} does not exist", f"pass the path of {MODEL_FILE} from the CPM release"
        ) from None
    except OSError as exc:
        raise BenchbaseError(
            f"cannot read tokenizer model {path} ({exc.strerror})", "check the path and its permissions"
        ) from None


def _load_sentencepiece(path: Path, model_bytes: bytes) -> spm.SentencePieceProcessor:
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model_bytes)
    except RuntimeError:
        raise BenchbaseError(
            f"{path} is not a SentencePiece model", f"use {MODEL_FILE} from the CPM release (a binary .model file)"
        ) from None
    return processor


def check_vocab_json(path: Path, tokenizer: CPMTokenizer) -> None:
    """Raise unless ``vocab.json`` maps every piece of the model to the model's own id.

    Checking all ids is cheap (one dict lookup each) and catches a vocab.json from another release, which checking
    only the specials would not.
    """
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchbaseError(
            f"cannot read {path} as JSON ({exc})", f"use the {VOCAB_FILE} shipped with {MODEL_FILE}, or remove it"
        ) from None
    if not isinstance(vocab, dict):
        raise BenchbaseError(
            f"{path} is not a JSON object of piece -> id", f"use the {VOCAB_FILE} shipped with {MODEL_FILE}"
        )
    if len(vocab) != tokenizer.vocab_size:
        raise BenchbaseError(
            f"{path} has {len(vocab)} entries but {tokenizer.model_file} has {tokenizer.vocab_size} pieces",
            f"use the {VOCAB_FILE} shipped with that {MODEL_FILE}",
        )
    for token_id in range(tokenizer.vocab_size):
        piece = tokenizer.piece(token_id)
        if vocab.get(piece) != token_id:
            raise BenchbaseError(
                f"{path} maps {piece!r} to {vocab.get(piece)!r} but {tokenizer.model_file} gives it id {token_id}",
                f"use the {VOCAB_FILE} shipped with that {MODEL_FILE}",
            )
