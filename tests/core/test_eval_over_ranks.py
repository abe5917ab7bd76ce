"""An evaluation is the same at every world size: real ranks (one process each, gloo) score every sample of the
validation split, in the batches one rank would use, and their sums and counts give one rank's metric and extras.

The validation split of 23 samples in eval batches of 5 divides neither by the batch nor by batch x ranks; the batch
that starts at sample 10 has nothing to score (NaN), so leaving it out is checked across ranks too. Each rank writes
what it scored and what it got to a file of its own, which the test compares with one rank's. Each split is scored
twice, by a source addressed by index (``Samples.eval_batch``) and by one read front to back
(``Samples.eval_batches``, a stream): both get the same batches.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Batch, Metric
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase_cpu.vendor import CPUVendor
from line_case import FP32, Line, LineCase, Points, config, points


class IndexedPoints(Points):
    """The line's points with each eval batch's sample indices in it, and a list of every index scored."""

    def __init__(self, count: int) -> None:
        base = points(count)
        super().__init__(base.x, base.y)
        self.scored: list[int] = []

    def eval_batch(self, indices: np.ndarray) -> Batch:
        self.scored += indices.tolist()
        return {**self.train_batch(indices), "i": torch.as_tensor(indices)}


class StreamedPoints(IndexedPoints):
    """The same points read front to back (``eval_batches``): only the ranges handed over are read."""

    def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
        for span in spans:
            indices = np.arange(span.start, span.stop)
            self.scored += indices.tolist()
            yield {**self.train_batch(indices), "i": torch.as_tensor(indices)}


#: How a case's Samples hands over its eval batches: addressed by index, or streamed.
SOURCES = {"indexed": IndexedPoints, "streamed": StreamedPoints}


class RecordingLine(Line):
    """The line model, noting the type of the module each forward runs on."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        if not model.training:
            self.forwarded.append(type(model).__name__)
        return super().forward(model, batch)


class Closeness(Metric):
    """Minus the mean absolute error, with an extra; the batch that starts at sample 10 has nothing to score."""

    name = "closeness"

    def score(self, outputs: torch.Tensor, batch: Batch, model: nn.Module) -> dict[str, torch.Tensor]:
        error = (outputs - batch["y"]).abs().mean()
        undefined = batch["i"][0] == 10
        return {self.name: torch.where(undefined, torch.tensor(float("nan")), -error), "max_error": error.max()}


#: (validation samples, eval batch): 23 in batches of 5 divides by neither; 7 in batches of 4 leaves a third rank
#: without a batch.
SPLITS = ((23, 5), (7, 4))


def evaluate_as_rank(out: str, rendezvous: str, rank: int, world_size: int) -> None:
    """One rank of a real process group: for each split, build the engine (the data-parallel wrapper included) and
    evaluate once."""
    if world_size > 1:
        dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    try:
        for (size, eval_batch), source in itertools.product(SPLITS, SOURCES):
            samples, spec = SOURCES[source](size), RecordingLine()
            case = LineCase(samples, Closeness())
            case.model = spec
            torch.manual_seed(0)
            settled = config(batch_size=1, eval_batch_size=eval_batch)
            trainer = Engine(case, CPUVendor(), torch.device("cpu"), FP32, settled, CoreConfig.from_values(settled),
                             {}, RankPlace(rank, world_size), lambda *args, **kwargs: None)
            result = trainer.evaluate()
            Path(out, f"{size}-{source}-rank{rank}.json").write_text(json.dumps({
                "scored": samples.scored, "forwarded": spec.forwarded, "trained_on": type(trainer.net).__name__,
                "metric": result.metric, "extras": dict(result.extras), "samples": result.samples,
                "batches": result.batches,
            }))
    finally:
        if world_size > 1:
            dist.destroy_process_group()


def evaluate_on(world_size: int, folder: Path) -> dict[int | tuple[int, str], list[dict]]:
    """Every rank's result for each split from ``world_size`` processes (one rank runs in this one): by its size
    for the indexed source, by (size, source) for either."""
    folder.mkdir()
    if world_size == 1:
        evaluate_as_rank(str(folder), "", 0, 1)
    else:
        run_ranks(world_size, folder)
    results: dict[int | tuple[int, str], list[dict]] = {
        (size, source): [json.loads((folder / f"{size}-{source}-rank{rank}.json").read_text())
                         for rank in range(world_size)]
        for (size, _), source in itertools.product(SPLITS, SOURCES)
    }
    results.update({size: results[size, "indexed"] for size, _ in SPLITS})
    return results


def run_ranks(world_size: int, folder: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ranks = [context.Process(target=evaluate_as_rank, args=(str(folder), str(folder / "rendezvous"), rank, world_size))
             for rank in range(world_size)]
    for process in ranks:
        process.start()
    try:
        for process in ranks:
            process.join(timeout=120)
            assert process.exitcode == 0, f"a rank ended with {process.exitcode} (None: it hung in a collective)"
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
                process.join()


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[int, list[dict]]]:
    """World size -> split size -> each rank's result."""
    folder = tmp_path_factory.mktemp("eval-over-ranks")
    return {world_size: evaluate_on(world_size, folder / f"1x{world_size}") for world_size in (1, 2, 3)}


def same_numbers(left: dict, right: dict) -> bool:
    return left.keys() == right.keys() and all(
        math.isclose(left[name], right[name], rel_tol=1e-9, abs_tol=1e-12) for name in left)


def test_one_two_and_three_ranks_score_the_same_samples_to_the_same_metric(evaluations: dict) -> None:
    (single,) = evaluations[1][23]
    assert single["scored"] == list(range(23)) and single["samples"] == 23 and single["batches"] == 5
    assert list(single["extras"]) == ["max_error", "loss"]
    for world_size in (2, 3):
        ranks = evaluations[world_size][23]
        scored = [index for rank in ranks for index in rank["scored"]]
        assert sorted(scored) == list(range(23)), "every sample once, none dropped"
        assert [rank["scored"][:1] for rank in ranks] == [[batch * 5] for batch in range(world_size)]
        for rank in ranks:
            assert rank["samples"] == 23 and rank["batches"] == 5
            assert rank["metric"] == pytest.approx(single["metric"], rel=1e-9)
            assert same_numbers(rank["extras"], single["extras"])


def test_a_rank_with_no_eval_batch_meets_the_others_only_in_the_final_reduction(evaluations: dict) -> None:
    """7 samples in batches of 4 over 3 ranks: rank 2 scores nothing, and the others run on the unwrapped model."""
    (single,) = evaluations[1][7]
    ranks = evaluations[3][7]
    assert [rank["scored"] for rank in ranks] == [[0, 1, 2, 3], [4, 5, 6], []]
    assert {rank["trained_on"] for rank in ranks} == {"DistributedDataParallel"}
    assert [rank["forwarded"] for rank in ranks] == [["Linear"], ["Linear"], []]
    for rank in ranks:
        assert (rank["samples"], rank["batches"]) == (7, 2)
        assert rank["metric"] == pytest.approx(single["metric"], rel=1e-9)
        assert same_numbers(rank["extras"], single["extras"])


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_a_streamed_source_gets_the_same_batches_and_metric_as_one_addressed_by_index(
    evaluations: dict, world_size: int
) -> None:
    for size, _ in SPLITS:
        streamed, indexed = evaluations[world_size][size, "streamed"], evaluations[world_size][size, "indexed"]
        assert [rank["scored"] for rank in streamed] == [rank["scored"] for rank in indexed]
        for got, expected in zip(streamed, indexed):
            assert (got["samples"], got["batches"]) == (expected["samples"], expected["batches"])
            assert got["metric"] == pytest.approx(expected["metric"], rel=1e-12)
            assert same_numbers(got["extras"], expected["extras"])
