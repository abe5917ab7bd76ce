"""Reading CPM checkpoints: single files, model-parallel shards, and the reference's 2.6B-to-medium truncation.

Checkpoints come from the internet, so they are read by :func:`benchbase.record.safe_load.load_torch_file`: tensors, plain
containers and plain numeric numpy arrays (the RNG states DeepSpeed saves next to the weights) only; a file that needs
any other pickled object is refused, never executed, with a command that re-saves just its weights. Every failure a
user can cause (wrong path, truncated download, wrong model size) is a one-line
:class:`~benchbase.errors.BenchbaseError` that names the file and what to do.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from benchbase.errors import BenchbaseError
from benchbase.kit import Fixes, load_torch_file
from benchbase_cpm.model import CPMConfig, CPMModel

#: Keys under which DeepSpeed (``module``) and plain training scripts (``model``) nest the weights.
NESTING_KEYS = ("module", "model")

#: Shard files of a Megatron/DeepSpeed model-parallel checkpoint, one per tensor-parallel rank.
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2,})_model_states\.pt$")

#: Megatron writes the newest iteration's folder name here, next to the iteration folders.
LATEST_ITERATION_FILE = "latest_checkpointed_iteration.txt"

StateDict = dict[str, torch.Tensor]


def load_checkpoint_file(path: str | Path) -> StateDict:
    """The weights in one ``torch.save`` file: a flat state dict, or one nested under ``module`` or ``model``.

    A DeepSpeed-style file keeps its RNG states next to the weights (``np_rng_state`` is a numpy array), so plain
    numeric numpy arrays are let through (see :func:`benchbase.record.safe_load.load_torch_file`) and dropped here.
    """
    path = Path(path)
    return _weights_of(_read(path, _resave_file_hint(path)), path)


def _read(path: Path, refused_fix: str) -> object:
    return load_torch_file(path, allow_numpy=True, fixes=Fixes(refused=refused_fix))


#: Python that keeps the tensors of a trusted torch file's weights: the expression's ``c`` is what torch.load gave.
_TENSORS_OF = '{k: v for k, v in c.get("module", c.get("model", c)).items() if isinstance(v, torch.Tensor)}'


def _resave_file_hint(path: Path) -> str:
    """The command that re-saves just the tensors of a trusted starting checkpoint, and the setting that uses them."""
    target = path.with_name(f"{path.name.removesuffix('.pt')}.weights.pt")
    code = (
        f"import torch; c = torch.load({_py_str(path)}, weights_only=False); "
        f"torch.save({_TENSORS_OF}, {_py_str(target)})"
    )
    return (
        f"if you trust the file, re-save just its weights: python -c {shlex.quote(code)} "
        f"and pass --set init_checkpoint={shlex.quote(str(target))}"
    )


def _resave_shards_hint(directory: Path) -> str:
    """The command that re-saves just the tensors of every trusted shard of ``directory`` into a sibling folder,
    under the same file names, and the option that then reads that folder."""
    target = directory.with_name(f"{directory.name}_weights")
    shards = f'sorted(pathlib.Path({_py_str(directory)}).glob("mp_rank_*_model_states.pt"))'
    code = (
        f"import pathlib, torch; out = pathlib.Path({_py_str(target)}); out.mkdir(exist_ok=True); "
        f"[torch.save({_TENSORS_OF}, out / p.name) for p in {shards} for c in [torch.load(p, weights_only=False)]]"
    )
    return (
        f"if you trust the shards, re-save just their weights: python -c {shlex.quote(code)} "
        f"and pass --from-large {shlex.quote(str(target))}"
    )


def _py_str(path: Path) -> str:
    """``path`` as a Python string literal in double quotes, so the code fits in shell single quotes."""
    return json.dumps(str(path), ensure_ascii=False)


def _weights_of(loaded: object, path: Path) -> StateDict:
    if _is_state_dict(loaded):
        return dict(loaded)  # type: ignore[arg-type]
    if isinstance(loaded, Mapping):
        for key in NESTING_KEYS:
            if _is_state_dict(loaded.get(key)):
                return dict(loaded[key])
        keys = ", ".join(repr(k) for k in list(loaded)[:5]) or "none"
        raise BenchbaseError(
            f"checkpoint {path} has an unknown layout (top-level keys: {keys})",
            "save a flat state dict of tensors, or one nested under 'module' or 'model'",
        )
    raise BenchbaseError(
        f"checkpoint {path} holds a {type(loaded).__name__}, not a state dict",
        "save model.state_dict() (a dict of tensor names to tensors)",
    )


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def import_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``state_dict`` into ``model``, strictly: every tensor present, none extra, every shape equal.

    A partial load would benchmark a model that is not CPM, so the first mismatch stops the run, named with how
    many more there are; the fix says what model the checkpoint looks like when that can be read off its shapes.
    """
    check_fits(model.state_dict(), state_dict, source)
    with torch.no_grad():
        model.load_state_dict(state_dict, strict=True)


def check_file_fits(path: Path, config: CPMConfig) -> None:
    """Open the checkpoint at ``path`` and check it fits a model of ``config``, building nothing but shapes.

    Called before any rank starts, so a bad starting checkpoint is refused like any other bad input (one line, exit
    2, no run record) instead of ending a run as failed. The model is made on the meta device: its parameter names
    and shapes, no memory. The file is read once more by the rank that loads it.
    """
    with torch.device("meta"):
        expected = CPMModel(config).state_dict()
    check_fits(expected, load_checkpoint_file(path), str(path))


def check_fits(expected: Mapping[str, torch.Tensor], state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse ``state_dict`` unless it has exactly the names and shapes of ``expected`` (see :func:`import_into`)."""
    problems = [f"missing {name}" for name in expected if name not in state_dict]
    problems += [f"unexpected {name}" for name in state_dict if name not in expected]
    problems += [
        f"{name} has shape {tuple(tensor.shape)}, the model needs {tuple(expected[name].shape)}"
        for name, tensor in state_dict.items()
        if name in expected and tensor.shape != expected[name].shape
    ]
    if problems:
        more = f" (and {len(problems) - 1} more mismatches)" if len(problems) > 1 else ""
        raise BenchbaseError(
            f"checkpoint {source} does not fit the model: {problems[0]}{more}",
            f"{_looks_like(state_dict)}choose the model size the checkpoint was trained with, "
            "or a CPM checkpoint of the configured size",
        )


def _looks_like(state_dict: Mapping[str, torch.Tensor]) -> str:
    embeddings = state_dict.get("word_embeddings.weight")
    layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"transformer\.layers\.(\d+)\.", k))}
    if embeddings is None or embeddings.dim() != 2 or not layers:
        return ""
    vocab, hidden = embeddings.shape
    return f"it looks like {max(layers) + 1} layers, hidden {hidden}, vocabulary {vocab}; "


# -- model parallelism -------------------------------------------------------------------------------------------
# Megatron splits a layer's matrices across tensor-parallel ranks (Shoeybi et al. 2019, section 3): column-parallel
# layers (the QKV projection, dense_h_to_4h, and the vocabulary-parallel word embeddings) split their output rows,
# row-parallel layers (attention.dense, dense_4h_to_h) split their input columns and keep a replicated bias.
# Each rank computes Q, K and V for its own heads, so its QKV rows are [q|k|v] of those heads only.

_ROW_SPLIT = re.compile(r"^(word_embeddings\.weight|transformer\.layers\.\d+\.mlp\.dense_h_to_4h\.(weight|bias))$")
_COLUMN_SPLIT = re.compile(r"^transformer\.layers\.\d+\.(attention\.dense|mlp\.dense_4h_to_h)\.weight$")
_QKV_SPLIT = re.compile(r"^transformer\.layers\.\d+\.attention\.query_key_value\.(weight|bias)$")


def merge_model_parallel(shards: list[Mapping[str, torch.Tensor]]) -> StateDict:
    """One state dict from the shards of tensor-parallel ranks 0..n-1, in rank order.

    Row- and column-split tensors are concatenated; QKV is interleaved per third, so the merged rows are
    ``[A_q, B_q, ..., A_k, B_k, ..., A_v, B_v, ...]``; replicated tensors (LayerNorms, position embeddings,
    row-parallel biases) are taken from the first shard.
    """
    if not shards:
        raise BenchbaseError("no model-parallel shards to merge", "pass the state dicts of every mp_rank file")
    first = shards[0]
    for rank, shard in enumerate(shards[1:], start=1):
        if set(shard) != set(first):
            odd = sorted(set(shard) ^ set(first))[0]
            raise BenchbaseError(
                f"model-parallel shard {rank} and shard 0 hold different tensors (e.g. {odd})",
                "merge shards of one checkpoint only",
            )
        for name, tensor in shard.items():
            if tensor.shape != first[name].shape:
                raise BenchbaseError(
                    f"model-parallel shard {rank} has {name} of shape {tuple(tensor.shape)}, "
                    f"shard 0 has {tuple(first[name].shape)}",
                    "merge shards of one checkpoint only",
                )
    merged: StateDict = {}
    for name, tensor in first.items():
        parts = [shard[name] for shard in shards]
        if _ROW_SPLIT.match(name):
            merged[name] = torch.cat(parts, dim=0)
        elif _COLUMN_SPLIT.match(name):
            merged[name] = torch.cat(parts, dim=1)
        elif _QKV_SPLIT.match(name):
            thirds = [part.chunk(3, dim=0) for part in parts]
            merged[name] = torch.cat([third[i] for i in range(3) for third in thirds], dim=0)
        else:
            merged[name] = tensor
    return merged


def split_model_parallel(state_dict: Mapping[str, torch.Tensor], n: int) -> list[StateDict]:
    """The shards ``n`` tensor-parallel ranks would hold; the exact inverse of :func:`merge_model_parallel`."""
    shards: list[StateDict] = [{} for _ in range(n)]
    for name, tensor in state_dict.items():
        if _ROW_SPLIT.match(name):
            parts = _even_chunks(tensor, n, 0, name)
        elif _COLUMN_SPLIT.match(name):
            parts = _even_chunks(tensor, n, 1, name)
        elif _QKV_SPLIT.match(name):
            per_third = [_even_chunks(third, n, 0, name) for third in tensor.chunk(3, dim=0)]
            parts = [torch.cat([per_third[i][rank] for i in range(3)], dim=0) for rank in range(n)]
        else:
            parts = [tensor.clone() for _ in range(n)]
        for shard, part in zip(shards, parts):
            shard[name] = part
    return shards


def _even_chunks(tensor: torch.Tensor, n: int, dim: int, name: str) -> list[torch.Tensor]:
    if tensor.shape[dim] % n:
        raise BenchbaseError(
            f"{name} has {tensor.shape[dim]} entries on dim {dim}, which {n} model-parallel ranks cannot split evenly",
            "choose a model-parallel size that divides it",
        )
    return [part.clone() for part in tensor.chunk(n, dim=dim)]


def load_model_parallel_dir(directory: str | Path) -> StateDict:
    """Read ``mp_rank_00_model_states.pt``, ``mp_rank_01...`` from a folder, in rank order, and merge them.

    A Megatron checkpoint root (a folder holding ``latest_checkpointed_iteration.txt`` and one folder per
    iteration, as CPM-Generate's release is laid out) is followed to the iteration it names.
    """
    shards = shard_files(directory)
    fix = _resave_shards_hint(shards[0].parent)
    return merge_model_parallel([_weights_of(_read(shard, fix), shard) for shard in shards])


def shard_files(directory: str | Path) -> list[Path]:
    """The shard files of a model-parallel checkpoint folder in rank order, every rank present, none read yet.

    Checked before any rank starts (the large preset's starting point), so a missing shard is one line then rather
    than a failed run after the model is built.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise BenchbaseError(f"checkpoint folder {directory} does not exist", "give the folder of mp_rank_XX files")
    ranks = {int(m.group(1)): p for p in directory.iterdir() if (m := SHARD_PATTERN.match(p.name))}
    latest = directory / LATEST_ITERATION_FILE
    if not ranks and latest.is_file():
        return shard_files(directory / latest.read_text(encoding="utf-8").strip())
    if not ranks:
        raise BenchbaseError(
            f"no mp_rank_XX_model_states.pt files in {directory}", "give the folder that holds the shard files"
        )
    gap = next((rank for rank in range(len(ranks)) if rank not in ranks), None)
    if gap is not None:
        raise BenchbaseError(
            f"model-parallel shard mp_rank_{gap:02d}_model_states.pt is missing from {directory} "
            f"(found ranks {sorted(ranks)})",
            "copy every shard of the checkpoint into the folder",
        )
    return [ranks[rank] for rank in range(len(ranks))]


# -- the reference's medium starting point ---------------------------------------------------------------------


def truncate_large_to_medium(
    state_dict: Mapping[str, torch.Tensor], *, n_layer: int = 24, n_embd: int = 1024, n_head: int = 16
) -> StateDict:
    """The reference benchmark's medium starting point, cut out of the 2.6B model.

    Keeps layers ``0..n_layer-1`` and the leading block of every tensor: the first ``n_embd`` hidden dims, the first
    ``3 * n_embd`` QKV rows and the first ``4 * n_embd`` MLP rows/columns; vocabulary and positions stay whole.
    This reproduces the reference as it is, oddity included: the large model's QKV rows are [Q|K|V] of 2560 rows
    each, so the first 3072 rows are Q (all of it, 2560 rows) and the first 512 rows of K, and no V. Split into
    thirds by the medium model, its Q and K start from rows trained as Q, and its V from the rest of Q and the
    start of K. The reference's convergence numbers were measured from this starting point.
    ``n_head`` only completes the target config; shapes do not depend on it.
    """
    embeddings = state_dict.get("word_embeddings.weight")
    positions = state_dict.get("position_embeddings.weight")
    if embeddings is None or positions is None:
        raise BenchbaseError(
            "checkpoint to truncate has no word or position embeddings", "give the state dict of a CPM model"
        )
    layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"transformer\.layers\.(\d+)\.", k))}
    if len(layers) < n_layer or embeddings.shape[1] < n_embd:
        raise BenchbaseError(
            f"checkpoint of {len(layers)} layers and hidden {embeddings.shape[1]} is too small "
            f"to truncate to {n_layer} layers and hidden {n_embd}",
            "truncate the large (2.6B) CPM checkpoint",
        )
    target = CPMConfig(
        vocab_size=embeddings.shape[0],
        n_positions=positions.shape[0],
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        dropout=0.0,
    )
    with torch.device("meta"):
        shapes = {name: tensor.shape for name, tensor in CPMModel(target).state_dict().items()}
    missing = sorted(set(shapes) - set(state_dict))
    if missing:
        raise BenchbaseError(
            f"checkpoint to truncate lacks {missing[0]} (and {len(missing) - 1} more)",
            "give the state dict of a CPM model",
        )
    return {name: state_dict[name][tuple(slice(0, d) for d in shape)].clone() for name, shape in shapes.items()}
