"""The CPM case's metric for the core trainer: Embedding Average with token accuracy beside it.

The arithmetic (Liu et al. 2016's Embedding Average and token accuracy, as sums a caller can all-reduce) is
:mod:`benchbase_cpm.metric_sums`, imported when an evaluation scores its first batch: the metric is registered with
the case for every command, and importing torch there would cost every command seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchbase.contract import Batch, Metric

if TYPE_CHECKING:
    import torch


class EmbeddingAverage(Metric):
    """The case's metric for the core trainer: each batch's mean Embedding Average over its counted samples, with
    token accuracy beside it, both from one argmax. A batch that counts no sample is NaN, so the core leaves it out
    of the mean over batches (the reference's ``np.mean`` over an empty batch would be NaN and poison the result)."""

    name = "embedding_average"

    def score(self, outputs: torch.Tensor, batch: Batch, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        from benchbase_cpm.metric_sums import embedding_average_sums, mean_or_nan, token_accuracy_sums

        predictions = outputs.argmax(dim=-1)
        labels, mask = batch["labels"], batch["loss_mask"]
        score, counted = embedding_average_sums(predictions, labels, mask, model.word_embeddings.weight)
        correct, tokens = token_accuracy_sums(predictions, labels, mask)
        return {
            self.name: mean_or_nan(score, counted),
            "token_accuracy": mean_or_nan(correct, tokens),
        }
