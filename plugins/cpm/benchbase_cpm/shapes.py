"""CPM's shapes as plain data: the named sizes and the config one model is built from.

Kept apart from :mod:`benchbase_cpm.model` so what only describes a model (the case's ``model_size`` choices, the
FLOP count, a checkpoint's expected shape) is known without importing torch: the case registers for every command,
``benchbase list`` included, and torch's import costs seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchbase.errors import BenchbaseError

#: Model sizes by name. ``tiny`` exists for the CPU demo; the others are CPM's published shapes
#: (small 109M, medium 334M, large 2.6B parameters) from the CPM paper (Zhang et al. 2020, Table 1).
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_embd": 128, "n_head": 4},
    "small": {"n_layer": 12, "n_embd": 768, "n_head": 12},
    "medium": {"n_layer": 24, "n_embd": 1024, "n_head": 16},
    "large": {"n_layer": 32, "n_embd": 2560, "n_head": 32},
}


@dataclass(frozen=True, kw_only=True)
class CPMConfig:
    """Shape and regularisation of one CPM model.

    Frozen so a built model's config cannot drift from its weights; keyword-only so four integers of a size can
    never be passed in the wrong order.
    """

    vocab_size: int = 30000
    n_positions: int = 1024
    n_layer: int
    n_embd: int
    n_head: int
    dropout: float
    layernorm_eps: float = 1e-5
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions"):
            if getattr(self, name) < 1:
                raise BenchbaseError(f"model {name} is {getattr(self, name)}", f"set {name} to a positive integer")
        if self.n_embd % self.n_head:
            raise BenchbaseError(
                f"hidden size {self.n_embd} is not divisible by {self.n_head} attention heads",
                "choose a head count that divides the hidden size",
            )
        if not 0.0 <= self.dropout < 1.0:
            raise BenchbaseError(f"dropout {self.dropout} is outside [0, 1)", "set dropout to a value in [0, 1)")


def config_for(
    size: str, *, vocab_size: int = 30000, dropout: float, activation_checkpointing: bool = False
) -> CPMConfig:
    """The config of a named size; the vocabulary is an argument because the demo trains on a smaller one."""
    if size not in SIZES:
        raise BenchbaseError(f"unknown model size {size!r}", f"use one of: {', '.join(SIZES)}")
    return CPMConfig(
        **SIZES[size], vocab_size=vocab_size, dropout=dropout, activation_checkpointing=activation_checkpointing
    )
