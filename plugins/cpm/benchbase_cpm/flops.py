"""Training FLOPs of CPM, for MFU and for comparing throughput across model sizes.

Model FLOPs, not hardware FLOPs: what the maths of one forward and backward pass needs, independent of activation
checkpointing (whose recomputation is extra work the hardware does, not work the model needs). Formula from
Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM"
(arXiv:2104.04473): per token, 72·L·h² for the dense layers (24·L·h² forward, twice that backward), 12·L·s·h for
the attention scores and their weighted sum, and 6·h·V for the output layer (logits against the tied embeddings).
The paper's own count, 96·L·h² + 16·L·s·h + 6·h·V, adds a second forward pass over the layers for activation
recomputation; leaving that out gives the model FLOPs above.
"""

from __future__ import annotations


def training_flops_per_token(n_layer: int, n_embd: int, vocab_size: int, seq_length: int) -> float:
    """Forward + backward FLOPs per token: 72·L·h² + 12·L·s·h + 6·h·V."""
    return float(72 * n_layer * n_embd**2 + 12 * n_layer * seq_length * n_embd + 6 * n_embd * vocab_size)


def training_flops_per_sample(n_layer: int, n_embd: int, vocab_size: int, seq_length: int) -> float:
    """Forward + backward FLOPs of one sample of ``seq_length`` tokens (411 GFLOP for medium at 200 tokens)."""
    return training_flops_per_token(n_layer, n_embd, vocab_size, seq_length) * seq_length
