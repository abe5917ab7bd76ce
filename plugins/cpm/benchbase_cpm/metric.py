"""The CPM case's metric, Embedding Average, and token accuracy, as sums a caller can accumulate and all-reduce.

Embedding Average (Liu et al. 2016, "How NOT To Evaluate Your Dialogue System", section 3.2; the reference
benchmark's ``average_corpus_level``), teacher forced: for each sample, X is the sum of the embeddings of the
model's argmax predictions and Y the sum of the embeddings of the labels, both over the loss mask, with the model's
own current word embeddings; the score is cos(X, Y). Scores are averaged over samples, then over ranks.

Both functions return sums, not means, so batches of different fill and ranks of different size combine exactly:
``mean = all_reduce(sum) / all_reduce(count)``. Everything runs on the logits' device; nothing syncs to the host.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: A sum-of-embeddings vector shorter than this counts as zero. The reference's ``_EPSILON`` (1e-11), kept so
#: the two implementations agree on the edge cases; in practice only exact zeros fall below it (a sample with
#: nothing under its loss mask, or tokens whose embedding rows are zero), since a real embedding row has a norm
#: near 0.02 * sqrt(hidden) and fp32 represents norms far below 1e-11.
ZERO_NORM = 1e-11


@torch.no_grad()
def embedding_average_sums(
    logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor, embedding: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of per-sample scores as fp32, number of samples counted as int64) for one batch.

    ``logits`` is (batch, seq, vocab), ``labels`` and ``loss_mask`` are (batch, seq), ``embedding`` is
    (vocab, hidden). A sample whose Y is zero (nothing to compare against) is not counted; a sample whose X is
    zero while Y is not scores 0 and is counted, as in the reference.

    The masked sums are one ``embedding_bag`` call over predictions and labels stacked: it reads each embedding
    row in place and accumulates per sample, so the (batch, seq, hidden) gathers of the textbook form are never
    materialised. Measured on 2 CPU cores (batch 16, seq 200, vocab 30000, hidden 1024): 0.8 ms, against 15 ms
    for two gathers and 33 ms for a (batch, vocab) count matrix times the embeddings; CUDA has a fused kernel too.
    Computed in fp32 with autocast off, so the score does not depend on the precision policy under test.
    """
    predictions = logits.argmax(dim=-1)
    weights = (loss_mask != 0).to(torch.float32)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        sums = F.embedding_bag(
            torch.cat([predictions, labels]),
            embedding.detach().to(torch.float32),
            mode="sum",
            per_sample_weights=torch.cat([weights, weights]),
        )
    x, y = sums.chunk(2)
    x_norm = torch.linalg.vector_norm(x, dim=1)
    y_norm = torch.linalg.vector_norm(y, dim=1)
    counted = y_norm >= ZERO_NORM
    cosine = (x * y).sum(dim=1) / (x_norm * y_norm).clamp_min(torch.finfo(torch.float32).tiny)
    scores = torch.where(counted & (x_norm >= ZERO_NORM), cosine, torch.zeros_like(cosine))
    return scores.sum(), counted.sum()


@torch.no_grad()
def token_accuracy_sums(
    logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(argmax predictions equal to the label, tokens under the loss mask), both int64, for one batch.

    Recorded beside the Embedding Average because that metric can rise without learning (DESIGN 8b); token
    accuracy cannot.
    """
    counted = loss_mask != 0
    correct = (logits.argmax(dim=-1) == labels) & counted
    return correct.sum(), counted.sum()
