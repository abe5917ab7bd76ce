"""CPM's memory footprint from its shapes: the parameter count and what one sample's forward keeps for its backward.

Arithmetic only, no torch, so ``--dry-run`` shows the estimate without building a 2.6B model. The core turns it into
bytes per device (docs/memory.md). The activation count follows Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models" (arXiv:2205.05198), section 4.1, counted in elements for the tensors
this model's layers save (docs/memory.md, "CPM's footprint", has the derivation and the measured check):

* per layer and token, 17 hidden-sized elements: the two LayerNorms' inputs and outputs (4), Q, K and V (3, one
  fused tensor), the attention's output and its re-laid-out copy that the projection reads (2), the MLP's input
  to its 4h projection is the second LayerNorm's output (counted), its GeLU's input and output (4 + 4); the
  attention matrix is not kept: torch's fused attention kernels (flash, memory-efficient; Dao et al. 2022) save only
  a log-sum-exp per head and token. Dropout adds a one-byte mask per element it drops (two hidden-sized ones).
* under activation checkpointing, a layer keeps only its input, and the backward recomputes one layer at a time.
* the output layer: the logits (element size), their fp32 copy for the loss where they are 16-bit, the log-softmax
  the cross entropy keeps (fp32), and in the backward the fp32 gradient of the log-softmax and the logits' gradient.
"""

from __future__ import annotations

from benchbase.contract import MemoryFootprint
from benchbase_cpm.shapes import CPMConfig

#: Hidden-sized elements one transformer layer keeps per token for its backward (module docstring).
LAYER_ELEMENTS_PER_HIDDEN = 17
#: One-byte dropout masks per token and hidden element in a layer (after the attention projection and the MLP).
LAYER_DROPOUT_MASKS = 2
_FP32 = 4


def parameter_count(shape: CPMConfig) -> int:
    """Distinct parameters: embeddings (word and position), per layer 12h² + 13h (QKV, projection, the 4h MLP with
    biases, two LayerNorms), and the final LayerNorm; the output layer is tied to the word embeddings.
    Large: 2,597,073,920 (plugins/cpm/docs/reference.md, "Model")."""
    h = shape.n_embd
    return shape.vocab_size * h + shape.n_positions * h + shape.n_layer * (12 * h * h + 13 * h) + 2 * h


def layer_parameter_count(shape: CPMConfig) -> int:
    """Parameters of one transformer layer, the block FSDP gathers whole."""
    return 12 * shape.n_embd**2 + 13 * shape.n_embd


def activation_bytes_per_sample(shape: CPMConfig, seq_length: int, element_bytes: int) -> float:
    """Bytes one sample of ``seq_length`` tokens keeps for the backward at its peak (module docstring)."""
    h, s, e = shape.n_embd, seq_length, element_bytes
    masks = LAYER_DROPOUT_MASKS if shape.dropout > 0 else 0
    full_layer = s * h * (LAYER_ELEMENTS_PER_HIDDEN * e + masks)
    if shape.activation_checkpointing:
        layers = shape.n_layer * s * h * e + full_layer
    else:
        layers = shape.n_layer * full_layer
    logits = s * shape.vocab_size
    fp32_copy = logits * _FP32 if e != _FP32 else 0
    output = logits * e + fp32_copy + logits * _FP32 + logits * _FP32 + logits * e
    # The final LayerNorm's input and output, which the output layer reads.
    final = 2 * s * h * e
    return float(layers + output + final)


def eval_activation_bytes_per_sample(shape: CPMConfig, seq_length: int, element_bytes: int) -> float:
    """Bytes one sample's evaluation forward holds at its largest, under ``no_grad``: one layer's tensors while it
    computes (the 17 hidden-sized elements of the module docstring, freed once the layer returns), then the output
    layer's logits, their fp32 copy where they are 16-bit and the fp32 log-softmax of the loss, beside the final
    LayerNorm's input and output."""
    h, s, e = shape.n_embd, seq_length, element_bytes
    layer = s * h * LAYER_ELEMENTS_PER_HIDDEN * e
    logits = s * shape.vocab_size
    output = logits * e + (logits * _FP32 if e != _FP32 else 0) + logits * _FP32 + 2 * s * h * e
    return float(max(layer, output))


def footprint(shape: CPMConfig, seq_length: int, element_bytes: int) -> MemoryFootprint:
    """What the core's estimate needs of a CPM model of ``shape`` trained on ``seq_length``-token samples.

    FSDP gathers each layer whole, one at a time (the largest block), and what stays outside the layers (the
    embeddings, tied to the output layer, and the final LayerNorm) as the root unit, which stays gathered from its
    forward to the end of the backward (for large they are 78.7M and 79.4M parameters).
    """
    total = parameter_count(shape)
    layer = layer_parameter_count(shape)
    return MemoryFootprint(
        parameters=total,
        activation_bytes_per_sample=activation_bytes_per_sample(shape, seq_length, element_bytes),
        largest_block_parameters=layer,
        root_parameters=total - shape.n_layer * layer,
        eval_activation_bytes_per_sample=eval_activation_bytes_per_sample(shape, seq_length, element_bytes),
    )
