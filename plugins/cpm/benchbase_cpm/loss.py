"""CPM's training loss: the reference's masked token-mean cross entropy (plugins/cpm/docs/reference.md, "Recipe")."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Token-mean cross entropy over the loss mask, in fp32 (the reference's ``sum(losses * mask) / mask.sum()``)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none")
    mask = loss_mask.flatten().float()
    return (losses * mask).sum() / mask.sum().clamp_min(1.0)
