"""CPM through the core trainer: its evaluation is the reference's mean of batch means, then the mean over ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.config.parameters import CoreConfig
from benchbase.config.resolve import merge_parameters
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase_cpm.case import PRESETS, CPMCase
from benchbase_cpm.metric_sums import ZERO_NORM
from benchbase_cpu.precision import cpu_precision_policy
from benchbase_cpu.vendor import CPUVendor

PAD, VOCAB, WINDOW, EVAL_BATCH = 5, 64, 17, 4


def windows(count: int, seed: int, empty: set[int] = frozenset()) -> np.ndarray:
    """Random token windows; a window in ``empty`` holds one token and padding, so nothing is under its loss mask
    and the Embedding Average skips it (its label sum is zero)."""
    rows = np.random.RandomState(seed).randint(9, VOCAB, size=(count, WINDOW)).astype(np.uint16)
    for index in empty:
        rows[index, 1:] = PAD
    return rows


def cpm_engine(tmp_path: Path, valid: np.ndarray) -> Engine:
    case = CPMCase()
    parameters = merge_parameters(case.name, case.parameters(), case.defaults())
    config = {key: param.default for key, param in parameters.items()} | dict(PRESETS["demo"].values)
    config.update(seq_length=WINDOW - 1, eval_batch_size=EVAL_BATCH, batch_size=4)
    np.save(tmp_path / "train.npy", windows(32, seed=1))
    np.save(tmp_path / "valid.npy", valid)
    prepared = {"vocab_size": VOCAB, "pad_id": PAD, "train_windows": str(tmp_path / "train.npy"),
                "valid_windows": str(tmp_path / "valid.npy")}
    torch.manual_seed(0)
    return Engine(case, CPUVendor(), torch.device("cpu"), cpu_precision_policy("fp32"), config,
                  CoreConfig.from_values(config), prepared, RankPlace(0, 1), lambda *args, **kwargs: None)


def reference_scores(engine: Engine, rows: np.ndarray) -> list[float]:
    """One batch's sample scores as the reference computes them: float64 sums of embedding rows over the mask,
    cosine per sample, a sample whose label sum is (near) zero left out."""
    inputs = torch.from_numpy(rows[:, :-1].astype(np.int64))
    labels = torch.from_numpy(rows[:, 1:].astype(np.int64))
    with torch.no_grad():
        engine.model.eval()
        predictions = engine.model(inputs, torch.arange(WINDOW - 1).expand_as(inputs)).argmax(-1)
    table = engine.model.word_embeddings.weight.detach().double()
    scores = []
    for sample in range(len(rows)):
        kept = labels[sample] != PAD
        x, y = table[predictions[sample][kept]].sum(0), table[labels[sample][kept]].sum(0)
        if float(y.norm()) < ZERO_NORM:
            continue
        scores.append(float(x @ y / (x.norm() * y.norm())) if float(x.norm()) >= ZERO_NORM else 0.0)
    return scores


def test_batches_that_skip_different_numbers_of_samples_give_the_reference_mean_of_batch_means(
    tmp_path: Path,
) -> None:
    valid = windows(12, seed=2, empty={5, 8, 9, 10})  # batches skip 0, 1 and 3 of their 4 samples
    engine = cpm_engine(tmp_path, valid)
    per_batch = [reference_scores(engine, valid[start : start + EVAL_BATCH]) for start in range(0, 12, EVAL_BATCH)]
    assert [len(scores) for scores in per_batch] == [4, 3, 1]
    mean_of_means = float(np.mean([np.mean(scores) for scores in per_batch]))
    pooled = float(np.mean(sum(per_batch, [])))
    assert abs(mean_of_means - pooled) > 1e-4  # the two rules differ on this data, so the test can tell them apart
    assert engine.evaluate().metric == pytest.approx(mean_of_means, abs=1e-6)


def test_the_eval_loss_is_the_mean_over_batches_of_each_batchs_token_mean_loss(tmp_path: Path) -> None:
    valid = windows(8, seed=3, empty={1, 2, 3})  # the first batch has far fewer tokens than the second
    engine = cpm_engine(tmp_path, valid)
    losses = []
    for start in (0, 4):
        batch = engine.samples.eval_batch(np.arange(start, start + 4))
        with torch.no_grad():
            logits = engine.model(batch["input_ids"], batch["position_ids"])
        losses.append(float(engine.case.model.loss(logits, batch)))
    assert engine.evaluate().extras["loss"] == pytest.approx(np.mean(losses), rel=1e-6)
