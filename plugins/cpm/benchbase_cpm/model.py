"""CPM: a GPT-2 whose parameter names match the released Megatron/DeepSpeed checkpoints, in one readable file.

The names are the point: a strict ``load_state_dict`` of ``cpm_model_states_medium.pt`` (or of the merged 2.6B
shards) must work without a renaming table, so the module tree mirrors CPM-Generate's ``GPT2Model``
(``word_embeddings``, ``position_embeddings``, ``transformer.layers.{i}...``, ``transformer.final_layernorm``).
The arithmetic is GPT-2's (Radford et al. 2019) as Megatron-LM implements it: pre-LayerNorm blocks, tanh-approximated
GELU, one fused QKV projection whose output is split into [Q|K|V] thirds, dropout on the embeddings, on the attention
probabilities, after the attention projection and after the MLP, and an output layer tied to the word embeddings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from benchbase.errors import BenchbaseError
from benchbase_cpm.shapes import CPMConfig

#: Standard deviation of every weight at initialisation (GPT-2 and Megatron-LM's ``init_method_std``).
INIT_STD = 0.02


class Attention(nn.Module):
    """Causal multi-head self-attention with one fused QKV projection (Megatron's ``query_key_value``)."""

    def __init__(self, config: CPMConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.query_key_value = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.dense = nn.Linear(config.n_embd, config.n_embd)
        self.output_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, hidden = x.shape
        # The checkpoints store the projection as [Q | K | V] thirds, each third ordered head by head.
        q, k, v = self.query_key_value(x).split(hidden, dim=-1)
        q, k, v = (t.view(batch, seq, self.n_head, hidden // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).reshape(batch, seq, hidden)
        return self.output_dropout(self.dense(y))


class MLP(nn.Module):
    """The position-wise feed-forward block, 4x wide, tanh-approximated GELU as in GPT-2 and Megatron's ``gelu``."""

    def __init__(self, config: CPMConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.dense_4h_to_h = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x), approximate="tanh")))


class Block(nn.Module):
    """One pre-LayerNorm transformer layer: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: CPMConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.n_embd, eps=config.layernorm_eps)
        self.attention = Attention(config)
        self.post_attention_layernorm = nn.LayerNorm(config.n_embd, eps=config.layernorm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    """The layer stack and the final LayerNorm, named ``transformer`` because the checkpoints are."""

    def __init__(self, config: CPMConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.final_layernorm = nn.LayerNorm(config.n_embd, eps=config.layernorm_eps)


class CPMModel(nn.Module):
    """GPT-2 language model with CPM's parameter names; ``forward`` returns logits over the whole vocabulary."""

    def __init__(self, config: CPMConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embeddings = nn.Embedding(config.n_positions, config.n_embd)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.transformer = Transformer(config)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2/Megatron initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms.

        The two projections that write into the residual stream (``attention.dense`` and ``mlp.dense_4h_to_h``)
        get std 0.02/sqrt(2L), so the residual's variance does not grow with depth: GPT-2 paper section 2.3 and
        Megatron-LM's ``scaled_init_method_normal`` (Shoeybi et al. 2019).
        """
        residual_std = INIT_STD / math.sqrt(2.0 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            elif isinstance(module, nn.Linear):
                writes_residual = name.endswith(("attention.dense", "mlp.dense_4h_to_h"))
                nn.init.normal_(module.weight, mean=0.0, std=residual_std if writes_residual else INIT_STD)
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of shape (batch, seq, vocab) for ``input_ids`` of shape (batch, seq)."""
        seq = input_ids.shape[1]
        if seq > self.config.n_positions:
            raise BenchbaseError(
                f"sequence of {seq} tokens exceeds the model's {self.config.n_positions} positions",
                f"use a seq_length of at most {self.config.n_positions}",
            )
        if position_ids is None:
            position_ids = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        x = self.embedding_dropout(self.word_embeddings(input_ids) + self.position_embeddings(position_ids))
        recompute = self.config.activation_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.transformer.layers:
            x = checkpoint(layer, x, use_reentrant=False) if recompute else layer(x)
        x = self.transformer.final_layernorm(x)
        return F.linear(x, self.word_embeddings.weight)


def parameter_count(model: nn.Module) -> int:
    """Distinct parameters; the tied output layer shares the word embeddings, so it adds nothing."""
    return sum(p.numel() for p in model.parameters())

