"""The CPM tokenizer reproduces the reference scheme on the real ``chinese_vocab.model``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import jieba
import pytest
import sentencepiece as spm

from benchbase.errors import BenchbaseError
from benchbase_cpm.tokenizer import MODEL_FILE, VOCAB_FILE, CPMTokenizer

SHARED_CPM = Path(__file__).resolve().parents[3] / ".." / "shared" / "cpm"
needs_real_vocab = pytest.mark.skipif(
    not (SHARED_CPM / MODEL_FILE).is_file(), reason=f"real CPM tokenizer not found at {SHARED_CPM}"
)

SENTENCES = [
    "对话上文:今天天气真好 回复:是啊,我们出去玩吧\n",
    "我爱北京天安门",
    "他说 这个 电影 太 好看了\n\n第二天又去看了一遍",
    "中文和English混排 123 还有数字",
]


@pytest.fixture(scope="module")
def tokenizer() -> CPMTokenizer:
    return CPMTokenizer.from_dir(SHARED_CPM)


@needs_real_vocab
def test_special_ids_and_size_come_from_the_real_model(tokenizer: CPMTokenizer) -> None:
    assert tokenizer.vocab_size == 30000
    assert tokenizer.pad_id == 5 and tokenizer.piece(5) == "<pad>"
    assert tokenizer.eod_id == 7 and tokenizer.piece(7) == "<eod>"
    assert tokenizer.piece_id("\u2582") == 10 and tokenizer.piece_id("\u2583") == 3


@needs_real_vocab
@pytest.mark.parametrize("text", SENTENCES)
def test_encode_equals_the_reference_pipeline_jieba_marks_join_sentencepiece(
    tokenizer: CPMTokenizer, text: str
) -> None:
    processor = spm.SentencePieceProcessor(model_file=str(SHARED_CPM / MODEL_FILE))
    marks = str.maketrans(" \n", "\u2582\u2583")
    manual = processor.encode(" ".join(piece.translate(marks) for piece in jieba.cut(text, cut_all=False)))
    assert tokenizer.encode(text) == manual


@needs_real_vocab
@pytest.mark.parametrize("text", SENTENCES)
def test_decode_restores_chinese_text_with_its_spaces_and_newlines(tokenizer: CPMTokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


@needs_real_vocab
def test_encode_adds_neither_bos_eos_nor_eod(tokenizer: CPMTokenizer) -> None:
    ids = tokenizer.encode("你好\n")
    assert {1, 2, tokenizer.eod_id}.isdisjoint(ids)
    assert ids[-1] == tokenizer.piece_id("\u2583")


@needs_real_vocab
def test_a_vocab_json_that_disagrees_with_the_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / MODEL_FILE).symlink_to((SHARED_CPM / MODEL_FILE).resolve())
    vocab = json.loads((SHARED_CPM / VOCAB_FILE).read_text(encoding="utf-8"))
    vocab["<eod>"], vocab["<mask>"] = vocab["<mask>"], vocab["<eod>"]
    (tmp_path / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BenchbaseError, match=r"maps '<mask>' to 7 .* gives it id 6"):
        CPMTokenizer.from_dir(tmp_path)


@needs_real_vocab
def test_a_vocab_json_of_another_size_is_refused(tmp_path: Path) -> None:
    vocab = json.loads((SHARED_CPM / VOCAB_FILE).read_text(encoding="utf-8"))
    del vocab["<mask>"]
    (tmp_path / VOCAB_FILE).write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(BenchbaseError, match="has 29999 entries but .* has 30000 pieces"):
        CPMTokenizer(SHARED_CPM / MODEL_FILE, tmp_path / VOCAB_FILE)


def test_a_missing_model_file_raises_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="does not exist"):
        CPMTokenizer(tmp_path / MODEL_FILE)


def test_a_tokenizer_directory_without_the_model_raises_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match=f"no {MODEL_FILE} in tokenizer directory"):
        CPMTokenizer.from_dir(tmp_path)


def test_a_file_that_is_not_sentencepiece_raises_a_user_error(tmp_path: Path) -> None:
    bogus = tmp_path / MODEL_FILE
    bogus.write_text('{"<unk>": 0}', encoding="utf-8")
    with pytest.raises(BenchbaseError, match="is not a SentencePiece model"):
        CPMTokenizer(bogus)


def test_a_sentencepiece_model_without_cpm_specials_is_refused(tmp_path: Path) -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["今天 天气 很 好", "我们 出去 玩 吧"] * 20),
        model_writer=model,
        vocab_size=30,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    (tmp_path / MODEL_FILE).write_bytes(model.getvalue())
    with pytest.raises(BenchbaseError, match="has no <eod> piece"):
        CPMTokenizer(tmp_path / MODEL_FILE)


@needs_real_vocab
def test_first_use_in_a_fresh_process_prints_nothing_to_stderr() -> None:
    """jieba announces its dictionary loading on stderr unless quieted; every rank's log would carry it."""
    code = (
        "from benchbase_cpm.tokenizer import CPMTokenizer;"
        f"print(CPMTokenizer({str(SHARED_CPM / MODEL_FILE)!r}).encode('我爱北京天安门'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == ""
    assert result.stdout.strip().startswith("[")
