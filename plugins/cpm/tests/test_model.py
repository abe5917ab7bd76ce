"""The CPM model: exact checkpoint names and sizes, GPT-2 arithmetic, checkpointing, and the FLOPs formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchbase.errors import BenchbaseError
from benchbase_cpm.flops import training_flops_per_sample, training_flops_per_token
from benchbase_cpm.model import CPMModel, parameter_count
from benchbase_cpm.shapes import SIZES, CPMConfig, config_for


def small_config(**overrides: object) -> CPMConfig:
    values = {"vocab_size": 97, "n_positions": 64, "n_layer": 3, "n_embd": 48, "n_head": 4, "dropout": 0.0}
    values.update(overrides)
    return CPMConfig(**values)  # type: ignore[arg-type]


def built(config: CPMConfig, seed: int = 0) -> CPMModel:
    torch.manual_seed(seed)
    return CPMModel(config)


def test_medium_and_large_have_the_published_parameter_counts_without_allocating_them() -> None:
    with torch.device("meta"):
        medium = CPMModel(config_for("medium", dropout=0.5))
        large = CPMModel(config_for("large", dropout=0.5))
    assert next(large.parameters()).is_meta
    assert parameter_count(medium) == 334_080_000
    assert parameter_count(large) == 2_597_073_920


def test_parameter_names_are_exactly_those_of_the_cpm_checkpoints() -> None:
    model = built(small_config(n_layer=2))
    expected = {"word_embeddings.weight", "position_embeddings.weight"}
    for i in range(2):
        for part in ("input_layernorm", "post_attention_layernorm", "attention.query_key_value", "attention.dense",
                     "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"):
            expected |= {f"transformer.layers.{i}.{part}.weight", f"transformer.layers.{i}.{part}.bias"}
    expected |= {"transformer.final_layernorm.weight", "transformer.final_layernorm.bias"}
    assert set(model.state_dict()) == expected


def test_sizes_have_the_published_shapes_and_tiny_is_small_enough_for_a_laptop() -> None:
    assert SIZES["small"] == {"n_layer": 12, "n_embd": 768, "n_head": 12}
    assert SIZES["medium"] == {"n_layer": 24, "n_embd": 1024, "n_head": 16}
    assert SIZES["large"] == {"n_layer": 32, "n_embd": 2560, "n_head": 32}
    tiny = config_for("tiny", vocab_size=4000, dropout=0.1, activation_checkpointing=True)
    assert (tiny.n_layer, tiny.n_embd, tiny.n_head, tiny.vocab_size) == (2, 128, 4, 4000)
    assert tiny.activation_checkpointing and tiny.n_positions == 1024 and tiny.layernorm_eps == 1e-5


def test_an_unknown_size_is_an_error_that_lists_the_sizes() -> None:
    with pytest.raises(BenchbaseError, match="unknown model size 'huge'.*tiny, small, medium, large"):
        config_for("huge", dropout=0.1)


def test_a_head_count_that_does_not_divide_the_hidden_size_is_an_error() -> None:
    with pytest.raises(BenchbaseError, match="not divisible by 5 attention heads"):
        small_config(n_head=5)


def test_logits_cover_the_whole_vocabulary_for_every_position() -> None:
    model = built(small_config())
    logits = model(torch.randint(0, 97, (2, 10)))
    assert logits.shape == (2, 10, 97)


def test_a_sequence_longer_than_the_position_table_is_an_error() -> None:
    model = built(small_config(n_positions=8))
    with pytest.raises(BenchbaseError, match="9 tokens exceeds the model's 8 positions"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_changing_a_later_token_does_not_change_earlier_logits() -> None:
    model = built(small_config()).eval()
    tokens = torch.randint(0, 97, (1, 12))
    changed = tokens.clone()
    changed[0, 7] = (tokens[0, 7] + 1) % 97
    before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_output_layer_is_the_word_embedding_matrix() -> None:
    model = built(small_config()).eval()
    captured: list[torch.Tensor] = []
    model.transformer.final_layernorm.register_forward_hook(lambda m, i, out: captured.append(out))
    logits = model(torch.randint(0, 97, (2, 6)))
    torch.testing.assert_close(logits, captured[0] @ model.word_embeddings.weight.T)
    # V·h + P·h + L·(12h² + 13h) + 2h: no separate output matrix and no output bias.
    assert parameter_count(model) == 97 * 48 + 64 * 48 + 3 * (12 * 48 * 48 + 13 * 48) + 2 * 48


def test_attention_splits_the_fused_projection_into_q_k_v_thirds_with_causal_softmax() -> None:
    """A plain, loop-free GPT-2 attention written out here must match the module."""
    config = small_config()
    attention = built(config).transformer.layers[0].attention.eval()
    x = torch.randn(2, 9, 48)
    q, k, v = (F.linear(x, w, b) for w, b in zip(attention.query_key_value.weight.chunk(3),
                                                   attention.query_key_value.bias.chunk(3)))
    heads = lambda t: t.view(2, 9, 4, 12).transpose(1, 2)  # noqa: E731
    scores = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(12)
    scores = scores.masked_fill(torch.ones(9, 9, dtype=torch.bool).triu(1), float("-inf"))
    mixed = (scores.softmax(-1) @ heads(v)).transpose(1, 2).reshape(2, 9, 48)
    torch.testing.assert_close(attention(x), attention.dense(mixed))


def test_dropout_is_active_in_training_only() -> None:
    model = built(small_config(dropout=0.3))
    tokens = torch.randint(0, 97, (2, 8))
    model.train()
    assert not torch.equal(model(tokens), model(tokens))
    model.eval()
    assert torch.equal(model(tokens), model(tokens))


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_activation_checkpointing_gives_the_same_gradients_as_storing_activations(dropout: float) -> None:
    """With dropout, the recomputation must replay the same masks (non-reentrant checkpoint restores the RNG)."""
    plain = built(small_config(dropout=dropout), seed=1).train()
    recomputed = built(small_config(dropout=dropout, activation_checkpointing=True), seed=1).train()
    tokens = torch.randint(0, 97, (2, 16))
    for model in (plain, recomputed):
        torch.manual_seed(7)
        F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten()).backward()
    for (name, p), q in zip(plain.named_parameters(), recomputed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-6, msg=name)


def test_initialisation_follows_gpt2_with_scaled_residual_projections() -> None:
    model = built(CPMConfig(vocab_size=1000, n_positions=64, n_layer=8, n_embd=256, n_head=4, dropout=0.0))
    layer = model.transformer.layers[3]
    assert model.word_embeddings.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert layer.attention.query_key_value.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert layer.mlp.dense_4h_to_h.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.02)
    assert layer.attention.dense.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)
    assert torch.count_nonzero(layer.mlp.dense_h_to_4h.bias) == 0
    assert torch.equal(layer.input_layernorm.weight, torch.ones(256))
    assert torch.count_nonzero(model.transformer.final_layernorm.bias) == 0


def test_training_flops_of_medium_at_200_tokens_are_411_gflop() -> None:
    medium = SIZES["medium"]
    per_sample = training_flops_per_sample(medium["n_layer"], medium["n_embd"], 30000, 200)
    assert round(per_sample / 1e9, 2) == 411.05
    assert per_sample == 200 * training_flops_per_token(24, 1024, 30000, 200)


def test_flops_formula_counts_dense_attention_and_output_terms() -> None:
    assert training_flops_per_token(1, 1, 1, 1) == 72 + 12 + 6
    assert training_flops_per_token(2, 10, 0, 0) == 72 * 2 * 100
    assert training_flops_per_token(0, 10, 7, 5) == 6 * 10 * 7
    assert training_flops_per_token(3, 10, 0, 5) - training_flops_per_token(3, 10, 0, 0) == 12 * 3 * 5 * 10
