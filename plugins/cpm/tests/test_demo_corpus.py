"""The generated demo corpus: deterministic, in STC's shape, learnable by rule, broad in vocabulary."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from benchbase.errors import BenchbaseError
from benchbase_cpm.demo_corpus import CATEGORIES, DemoParams, build_demo_corpus, generate_stc
from benchbase_cpm.prepare import prepare_demo
from benchbase_cpm.stc import load_stc, stc_line
from benchbase_cpm.tokenizer import CPMTokenizer
from benchbase_cpm.windows import WINDOW_TOKENS, load_windows

SMALL = DemoParams(train_pairs=2000, valid_pairs=100)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    return build_demo_corpus(tmp_path_factory.mktemp("cache"), SMALL)


def test_the_same_parameters_give_byte_identical_files_in_another_cache(corpus, tmp_path: Path) -> None:
    again = build_demo_corpus(tmp_path, SMALL)
    assert not again.cache_hit
    assert again.stc_json.read_bytes() == corpus.stc_json.read_bytes()
    assert again.tokenizer_model.read_bytes() == corpus.tokenizer_model.read_bytes()


def test_another_seed_gives_another_corpus() -> None:
    assert generate_stc(DemoParams(train_pairs=50, valid_pairs=5, seed=1)) != generate_stc(
        DemoParams(train_pairs=50, valid_pairs=5, seed=2)
    )


def test_generation_does_not_touch_the_global_random_state() -> None:
    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate_stc(DemoParams(train_pairs=50, valid_pairs=5))
    assert random.random() == expected


def test_the_corpus_is_a_valid_stc_json_of_whitespace_segmented_pairs(corpus) -> None:
    train, valid = load_stc(corpus.stc_json)
    assert (len(train), len(valid)) == (2000, 100)
    assert all(" " in post and " " in response for post, response in train)


def test_the_response_is_a_function_of_the_post(corpus) -> None:
    """So a model can only score by learning the rules: there is nothing pair-specific to memorize."""
    train, valid = load_stc(corpus.stc_json)
    responses: dict[str, set[str]] = {}
    for post, response in train + valid:
        responses.setdefault(post, set()).add(response)
    assert all(len(answers) == 1 for answers in responses.values())


def test_every_response_restates_the_posts_topic_with_its_categorys_adjective(corpus) -> None:
    train, _ = load_stc(corpus.stc_json)
    for post, response in train[:300]:
        words = post.split()
        (category,) = [c for c in CATEGORIES if set(c.topics) & set(words)]
        (topic,) = set(category.topics) & set(words)
        assert topic in response.split()
        assert category.adjective in response.split() or category.verb in response.split()


def test_no_token_dominates_the_responses(corpus) -> None:
    """The Embedding Average is easy to satisfy on text where a few tokens dominate (plugins/cpm/docs/reference.md,
    "The demo preset")."""
    train, _ = load_stc(corpus.stc_json)
    tokenizer = CPMTokenizer(corpus.tokenizer_model)
    counts = Counter(token for _, response in train for token in tokenizer.encode("".join(response.split())))
    total = sum(counts.values())
    shares = sorted((count / total for count in counts.values()), reverse=True)
    assert shares[0] < 0.10
    assert sum(shares[:10]) < 0.5
    assert len(counts) > 300


def test_the_tokenizer_mirrors_the_cpm_special_ids(corpus) -> None:
    tokenizer = CPMTokenizer.from_dir(corpus.tokenizer_dir)
    pieces = [tokenizer.piece(i) for i in range(9)]
    assert pieces == ["<unk>", "<s>", "</s>", "\u2583", "<sep>", "<pad>", "<mask>", "<eod>", "\u2582"]
    assert (tokenizer.pad_id, tokenizer.eod_id) == (5, 7)
    assert 1000 < tokenizer.vocab_size <= SMALL.vocab_size


def test_the_tokenizer_keeps_whole_words_and_round_trips_lines(corpus) -> None:
    train, _ = load_stc(corpus.stc_json)
    tokenizer = CPMTokenizer(corpus.tokenizer_model)
    line = stc_line(*train[0])
    ids = tokenizer.encode(line)
    assert tokenizer.decode(ids) == line.replace("，", ",").replace("？", "?")  # SentencePiece's NFKC
    assert tokenizer.piece_id("\u2581" + CATEGORIES[0].topics[0]) != 0
    assert len(ids) < len(line)


def test_the_second_build_is_a_cache_hit(corpus) -> None:
    again = build_demo_corpus(corpus.tokenizer_dir.parent.parent, SMALL)
    assert again.cache_hit and again.stc_json == corpus.stc_json and again.facts == corpus.facts


def test_prepare_demo_runs_the_official_pipeline_on_the_default_corpus(tmp_path: Path) -> None:
    prepared = prepare_demo(tmp_path, workers=1)
    facts = prepared.facts
    assert (facts["preset"], facts["cache"], facts["demo"]["params"]["train_pairs"]) == ("demo", "miss", 20000)
    assert facts["train"]["lines"] == 20000 and facts["valid"]["lines"] == 500
    train = load_windows(prepared.train_windows)
    assert train.shape == (20000, WINDOW_TOKENS) and train.dtype == np.uint16
    assert np.all(train[:, 0] != prepared.pad_id)
    again = prepare_demo(tmp_path, workers=1)
    assert again.facts["cache"] == "hit" and again.train_windows == prepared.train_windows


def test_an_unknown_demo_parameter_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="unknown demo corpus parameter.*pairs_train"):
        prepare_demo(tmp_path, pairs_train=10)


def test_a_non_positive_demo_parameter_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="train_pairs must be a positive integer"):
        build_demo_corpus(tmp_path, DemoParams(train_pairs=0))
