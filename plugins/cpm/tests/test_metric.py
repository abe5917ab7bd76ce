"""Embedding Average and token accuracy, checked against the definition written out as a plain loop."""

from __future__ import annotations

import torch

from benchbase_cpm.metric_sums import ZERO_NORM, embedding_average_sums, token_accuracy_sums

BATCH, SEQ, VOCAB, HIDDEN = 8, 24, 50, 16


def definition(
    logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor, embedding: torch.Tensor
) -> tuple[float, int]:
    """The reference metric (plugins/cpm/docs/reference.md, "Metric"), one sample at a time in float64: X and Y are
    sums of embedding rows over the mask."""
    total, counted = 0.0, 0
    table = embedding.double()
    for sample in range(logits.shape[0]):
        x = torch.zeros(table.shape[1], dtype=torch.float64)
        y = torch.zeros(table.shape[1], dtype=torch.float64)
        for t in range(logits.shape[1]):
            if loss_mask[sample, t] != 0:
                x += table[int(logits[sample, t].argmax())]
                y += table[int(labels[sample, t])]
        if y.norm() < ZERO_NORM:
            continue
        counted += 1
        if x.norm() >= ZERO_NORM:
            total += float(x @ y / (x.norm() * y.norm()))
    return total, counted


def random_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(BATCH, SEQ, VOCAB, generator=generator)
    labels = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
    loss_mask = (torch.rand(BATCH, SEQ, generator=generator) < 0.7).float()
    embedding = torch.randn(VOCAB, HIDDEN, generator=generator)
    return logits, labels, loss_mask, embedding


def test_embedding_average_matches_the_per_sample_definition() -> None:
    logits, labels, loss_mask, embedding = random_batch()
    score_sum, count = embedding_average_sums(logits.argmax(-1), labels, loss_mask, embedding)
    expected_sum, expected_count = definition(logits, labels, loss_mask, embedding)
    assert score_sum.dtype == torch.float32 and count.dtype == torch.int64
    assert int(count) == expected_count == BATCH
    assert abs(float(score_sum) - expected_sum) < 1e-5


def test_a_sample_with_nothing_under_its_mask_is_skipped_and_a_zero_prediction_sum_scores_zero() -> None:
    logits, labels, loss_mask, embedding = random_batch(seed=1)
    loss_mask[2] = 0
    embedding[7] = 0
    logits[5, :, 7] = 100.0  # sample 5 predicts token 7 everywhere, whose embedding row is zero
    labels[5] = torch.where(labels[5] == 7, 8, labels[5])
    score_sum, count = embedding_average_sums(logits.argmax(-1), labels, loss_mask, embedding)
    expected_sum, expected_count = definition(logits, labels, loss_mask, embedding)
    assert int(count) == expected_count == BATCH - 1
    assert abs(float(score_sum) - expected_sum) < 1e-5
    without_five = loss_mask.clone()
    without_five[5] = 0
    without_five_sum, _ = embedding_average_sums(logits.argmax(-1), labels, without_five, embedding)
    assert abs(float(without_five_sum) - float(score_sum)) < 1e-5


def test_perfect_predictions_score_one_per_sample() -> None:
    _, labels, loss_mask, embedding = random_batch(seed=2)
    logits = torch.nn.functional.one_hot(labels, VOCAB).float()
    score_sum, count = embedding_average_sums(logits.argmax(-1), labels, loss_mask, embedding)
    assert abs(float(score_sum) / int(count) - 1.0) < 1e-6


def test_sums_of_two_half_batches_equal_the_sums_of_the_whole_batch() -> None:
    logits, labels, loss_mask, embedding = random_batch(seed=3)
    whole = embedding_average_sums(logits.argmax(-1), labels, loss_mask, embedding)
    halves = [
        embedding_average_sums(logits[part].argmax(-1), labels[part], loss_mask[part], embedding)
        for part in (slice(0, 3), slice(3, None))
    ]
    assert abs(float(halves[0][0] + halves[1][0]) - float(whole[0])) < 1e-5
    assert int(halves[0][1] + halves[1][1]) == int(whole[1])


def test_the_score_is_computed_in_fp32_under_low_precision_autocast() -> None:
    logits, labels, loss_mask, embedding = random_batch(seed=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        predictions = logits.bfloat16().argmax(-1)
        score_sum, count = embedding_average_sums(predictions, labels, loss_mask.bool(), embedding.bfloat16())
    assert score_sum.dtype == torch.float32
    expected = definition(logits.bfloat16(), labels, loss_mask, embedding.bfloat16().float())
    assert abs(float(score_sum) - expected[0]) < 1e-5
    assert int(count) == BATCH


def test_the_embeddings_gradient_is_not_touched() -> None:
    logits, labels, loss_mask, embedding = random_batch(seed=5)
    embedding.requires_grad_(True)
    score_sum, _ = embedding_average_sums(logits.argmax(-1), labels, loss_mask, embedding)
    assert not score_sum.requires_grad and embedding.grad is None


def test_token_accuracy_counts_correct_argmax_predictions_under_the_mask() -> None:
    logits, labels, loss_mask, _ = random_batch(seed=6)
    labels[0, :5] = logits[0, :5].argmax(-1)
    correct, count = token_accuracy_sums(logits.argmax(-1), labels, loss_mask)
    expected_correct = sum(
        int(logits[b, t].argmax() == labels[b, t]) for b in range(BATCH) for t in range(SEQ) if loss_mask[b, t]
    )
    assert int(correct) == expected_correct and int(correct) >= int(loss_mask[0, :5].sum())
    assert int(count) == int(loss_mask.sum())
    assert correct.dtype == count.dtype == torch.int64
