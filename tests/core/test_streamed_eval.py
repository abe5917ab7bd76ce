"""Evaluation data is streamed: the core takes the case's eval batches one at a time, so the validation split
never has to fit in memory, and a source read front to back (``Samples.eval_batches``) gets the same partition
into batches at every world size as one addressed by index.

The streamed source here makes each batch when asked (as a reader of a file larger than memory would) and counts
the batches alive at once through their tensors' finalizers; it fails the moment more than two exist (the one
being scored and the next being made). Real torch, the two-weight line model of ``line_case``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from benchbase.contract import Batch, Metric, Samples
from benchbase.errors import BenchbaseError
from benchbase.train.evaluation import Evaluation
from line_case import LineCase, Points, PointsData, engine, points

#: The batches a streamed evaluation may hold at once: the one being scored and the one being made.
MOST_ALIVE = 2


class GeneratedEvalSplit(Samples):
    """Training samples in memory; ``count`` eval samples generated lazily from their index, never stored."""

    def __init__(self, train: Points, count: int) -> None:
        self.train, self.count = train, count
        self.alive = 0
        self.most_alive = 0
        self.spans: list[range] = []

    def train_size(self) -> int:
        return self.train.train_size()

    def train_batch(self, indices: np.ndarray) -> Batch:
        return self.train.train_batch(indices)

    def eval_size(self) -> int:
        return self.count

    def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
        for span in spans:
            self.spans.append(span)
            yield self._make(span)

    def sample(self, span: range) -> dict[str, torch.Tensor]:
        """The samples of ``span``, a function of their indices alone."""
        index = torch.arange(span.start, span.stop, dtype=torch.float64)
        x = torch.stack([torch.sin(index), torch.cos(index)], dim=1).float()
        return {"x": x, "y": x @ torch.tensor([2.0, -1.0]) + 0.5}

    def _make(self, span: range) -> Batch:
        batch = self.sample(span)
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        if self.alive > MOST_ALIVE:
            raise AssertionError(f"{self.alive} eval batches alive at once")
        weakref.finalize(batch["x"], self._released)
        return batch

    def _released(self) -> None:
        self.alive -= 1


class IndexedEvalSplit(GeneratedEvalSplit):
    """The same split addressed by index (``eval_batch``), the default way."""

    def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
        return Samples.eval_batches(self, spans)

    def eval_batch(self, indices: np.ndarray) -> Batch:
        return self.sample(range(int(indices[0]), int(indices[-1]) + 1))


class SquaredError(Metric):
    name = "squared_error"
    higher_is_better = False

    def score(self, outputs: torch.Tensor, batch: Batch, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {self.name: ((outputs - batch["y"]) ** 2).mean()}


def evaluate(samples: Samples) -> Evaluation:
    """One rank's evaluation of ``samples`` through the core trainer, in eval batches of 8."""
    case = LineCase(points(), SquaredError())
    case.dataset = PointsData(samples)
    return engine(case, eval_batch_size=8).evaluate()


def test_a_streamed_split_is_scored_one_batch_at_a_time_whatever_its_size() -> None:
    streamed = GeneratedEvalSplit(points(), count=4001)  # 501 batches, the last one short
    result = evaluate(streamed)
    assert (result.samples, result.batches) == (4001, 501)
    assert streamed.most_alive <= MOST_ALIVE
    assert streamed.spans[:2] == [range(0, 8), range(8, 16)] and streamed.spans[-1] == range(4000, 4001)


def test_a_streamed_split_scores_what_the_same_split_addressed_by_index_scores() -> None:
    streamed, indexed = evaluate(GeneratedEvalSplit(points(), 100)), evaluate(IndexedEvalSplit(points(), 100))
    assert streamed == indexed


def test_the_memory_check_catches_a_source_that_reads_ahead() -> None:
    """The bound is real: a source that makes every batch before yielding any trips it."""

    class ReadsAhead(GeneratedEvalSplit):
        def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
            return iter([self._make(span) for span in spans])

    with pytest.raises(AssertionError, match="3 eval batches alive at once"):
        evaluate(ReadsAhead(points(), 100))


@pytest.mark.parametrize(("drift", "words"), [(-1, "ran out after 12 batch(es)"),
                                              (+1, "gave more than the 13 batch(es) asked for")])
def test_a_source_that_gives_more_or_fewer_batches_than_ranges_is_refused_in_one_line(drift: int, words: str) -> None:
    class Miscounts(GeneratedEvalSplit):
        def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
            given = list(spans)
            given = given[:drift] if drift < 0 else given + given[-1:]
            return (self.sample(span) for span in given)

    with pytest.raises(BenchbaseError, match=re.escape(words)):
        evaluate(Miscounts(points(), 100))


def test_a_source_with_neither_eval_batch_nor_eval_batches_is_refused_in_one_line() -> None:
    class Neither(GeneratedEvalSplit):
        eval_batches = Samples.eval_batches

    with pytest.raises(BenchbaseError, match="Neither implements neither eval_batch nor eval_batches"):
        evaluate(Neither(points(), 100))
