"""What only CPM knows about a training step: its model, its starting weights, its loss and its FLOPs.

Everything else a step needs (the vendor's swaps, DDP, autocast and loss scaling, accumulation, the optimizer and
schedule stepping, the batch order) is the core trainer's, :mod:`benchbase.train.engine`; the loss is the reference's
masked token-mean cross entropy (:mod:`benchbase_cpm.loss`).

The spec is registered with the case for every command, so this module imports no torch: the model, the checkpoint
reader and the loss are imported by the methods a rank calls, and the FLOP count is arithmetic on the shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.contract import Batch, EmitFn, MemoryFootprint, ModelSpec
from benchbase_cpm.flops import training_flops_per_sample
from benchbase_cpm.memory import footprint
from benchbase_cpm.shapes import CPMConfig, config_for

if TYPE_CHECKING:
    import torch
    from torch import nn


#: Pieces of the CPM tokenizer (plugins/cpm/docs/reference.md, "Tokenizer").
STC_VOCABULARY = 30000


def model_config(config: Mapping[str, Any], prepared: Mapping[str, Any]) -> CPMConfig:
    """The model size of the resolved config, with the prepared tokenizer's vocabulary."""
    return config_for(
        str(config["model_size"]),
        vocab_size=int(prepared["vocab_size"]),
        dropout=float(config["dropout"]),
        activation_checkpointing=bool(config["activation_checkpointing"]),
    )


class CPMModelSpec(ModelSpec):
    """CPM for the core trainer: GPT-2 on windows of ``input_ids``/``position_ids``, scored on ``labels`` under
    ``loss_mask``."""

    def build(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> nn.Module:
        from benchbase_cpm.model import CPMModel

        return CPMModel(model_config(config, prepared))

    def load_initial(
        self, model: nn.Module, config: Mapping[str, Any], prepared: Mapping[str, Any], emit: EmitFn
    ) -> None:
        path = str(config.get("init_checkpoint") or prepared.get("init_checkpoint") or "")
        if not path:
            emit("provenance", "initial weights: random (no init_checkpoint)")
            return
        from benchbase_cpm.checkpoint import import_into, load_checkpoint_file, load_model_parallel_dir

        # A folder is the released model's model-parallel shards (the large preset), merged as they are read.
        state = load_model_parallel_dir(path) if Path(path).is_dir() else load_checkpoint_file(Path(path))
        import_into(model, state, path)
        emit("provenance", f"initial weights: {path}", tensors=len(state))

    def flops_per_sample(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> float:
        shape = model_config(config, prepared)
        return training_flops_per_sample(shape.n_layer, shape.n_embd, shape.vocab_size, int(config["seq_length"]))

    def memory_footprint(
        self, config: Mapping[str, Any], prepared: Mapping[str, Any] | None, element_bytes: int
    ) -> MemoryFootprint | None:
        """From the shapes; without prepared facts (a dry run planning elsewhere) the STC data's vocabulary is the
        CPM tokenizer's 30,000 pieces, and the demo's, trained on its corpus, is unknown until it is prepared."""
        if prepared is None:
            if config["dataset"] != "stc":
                return None
            prepared = {"vocab_size": STC_VOCABULARY}
        return footprint(model_config(config, prepared), int(config["seq_length"]), element_bytes)

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(batch["input_ids"], batch["position_ids"])

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        from benchbase_cpm.loss import masked_lm_loss

        return masked_lm_loss(outputs, batch["labels"], batch["loss_mask"])

    def blocks(self, model: nn.Module) -> list[nn.Module]:
        """The transformer layers, sharded one by one under FSDP; the embeddings (tied to the output layer) and the
        final LayerNorm stay with the root."""
        return list(model.transformer.layers)

    def parameter_groups(self, model: nn.Module, config: Mapping[str, Any]) -> list[dict[str, Any]]:
        from benchbase_cpm.optimizer import parameter_groups

        return parameter_groups(model, float(config["weight_decay"]))
