"""Whether a checkpoint fits the model it is about to be loaded into, checked by the supervisor before a resume
launches anything.

A ``state.pt`` of the wrong shapes (another config, another case, a file copied between runs) would otherwise be
found only by the ranks, after the record was reopened: the resumed run would end ``failed`` when nothing about its
training failed, and its honest ``interrupted`` would be lost. So the case's model is built on the ``meta`` device
(no memory, no data: only names and shapes) and compared with the saved model state, and the saved optimizer state
with the optimizer that model gets; a mismatch is one line naming the first difference, and nothing is touched.
A sharded (``parallelism: fsdp``) checkpoint is vetted the same way, from the whole shapes its metadata records
(read by :mod:`benchbase.train.shard_files`, which refuses a folder that is not benchbase's own).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from benchbase.contract import Case, Vendor
from benchbase.errors import BenchbaseError
from benchbase.train.checkpoint import OPTIMIZER_GROUPS, shards_folder_name

#: Differences a refusal names before it only counts the rest.
_SHOWN = 3
#: How a sharded checkpoint names the model's tensors and the optimizer's per-parameter state.
_MODEL_PREFIX, _OPTIMIZER_PREFIX = "model.", "optimizer.state."


def vet_checkpoint(
    path: Path,
    workload: Any,
    case: Case,
    vendor: Vendor,
    config: Mapping[str, Any],
    prepared: Mapping[str, Any],
) -> None:
    """Raise :class:`BenchbaseError` when ``workload`` (the ``workload`` part of checkpoint ``path``) does not fit
    ``case``'s model and optimizer for ``config`` and this node's ``prepared`` facts."""
    fix = "resume only a run's own checkpoint, written by this case and config; otherwise start the run again"
    if not isinstance(workload, Mapping):
        raise BenchbaseError(f"checkpoint {path} holds no model state", fix)
    saved_model, saved_optimizer = _saved_state(path, workload, fix)
    if not isinstance(saved_model, Mapping):
        raise BenchbaseError(f"checkpoint {path} holds no model state", fix)
    built = _meta_model(case, vendor, config, prepared)
    if built is None:
        return  # the model cannot be built off its device: the ranks' own load still checks it
    model, optimizer = built
    problems = _model_problems(saved_model, model.state_dict())
    if not problems:
        problems = _optimizer_problems(saved_optimizer, optimizer)
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise BenchbaseError(
            f"checkpoint {path} does not fit the model of case {case.name}: {'; '.join(problems[:_SHOWN])}{more}",
            fix,
        )


def _saved_state(path: Path, workload: Mapping[str, Any], fix: str) -> tuple[Any, Any]:
    """The saved model state and optimizer state: from ``state.pt`` itself, or for a sharded checkpoint, meta
    tensors of the whole shapes its shard folder's metadata records, with the parameter groups ``state.pt`` holds."""
    groups = workload.get(OPTIMIZER_GROUPS)
    if groups is None:
        return workload.get("model"), workload.get("optimizer")
    step = workload.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        raise BenchbaseError(f"checkpoint {path} holds no step", fix)
    from benchbase.train.shard_files import global_shapes, read_metadata  # DCP's import: sharded checkpoints only

    model: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, torch.Tensor]] = {}
    for name, shape in global_shapes(read_metadata(path.parent / shards_folder_name(step))).items():
        tensor = torch.empty(shape, device="meta")
        if name.startswith(_MODEL_PREFIX):
            model[name.removeprefix(_MODEL_PREFIX)] = tensor
        elif name.startswith(_OPTIMIZER_PREFIX):
            parameter, _, key = name.removeprefix(_OPTIMIZER_PREFIX).rpartition(".")
            state.setdefault(parameter, {})[key] = tensor
    return model, {"param_groups": groups, "state": state}


def _meta_model(
    case: Case, vendor: Vendor, config: Mapping[str, Any], prepared: Mapping[str, Any]
) -> tuple[torch.nn.Module, torch.optim.Optimizer] | None:
    """The case's model (with the vendor's swaps) and its optimizer on the meta device, or ``None`` where the plugin's
    code cannot build them there."""
    try:
        with torch.device("meta"):
            model = vendor.apply_swaps(case.model.build(config, prepared), lambda *_a, **_k: None)
            optimizer = case.recipe.optimizer(case.model.parameter_groups(model, config), config)
    except Exception:  # noqa: BLE001 - a plugin that needs real memory to build is vetted by the ranks instead
        return None
    return model, optimizer


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _model_problems(saved: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    missing = [name for name in expected if name not in saved]
    unexpected = [str(name) for name in saved if name not in expected]
    problems = [f"{name} is missing" for name in missing] + [f"{name} is not in the model" for name in unexpected]
    for name, tensor in expected.items():
        if name in saved and _shape(saved[name]) != tuple(tensor.shape):
            problems.append(f"{name} has shape {_shape(saved[name])}, the model {tuple(tensor.shape)}")
    return problems


def _optimizer_problems(saved: Any, optimizer: torch.optim.Optimizer) -> list[str]:
    """The saved optimizer state against the one this model's optimizer has: as many parameter groups, as many
    parameters in each, and per-parameter state (Adam's moments, say) of each parameter's shape."""
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list):
        return ["the optimizer state holds no parameter groups"]
    groups = saved["param_groups"]
    expected = optimizer.param_groups
    if len(groups) != len(expected):
        return [f"the optimizer state has {len(groups)} parameter groups, the model's optimizer {len(expected)}"]
    problems = []
    shapes: dict[Any, tuple[int, ...]] = {}
    for number, (group, own) in enumerate(zip(groups, expected)):
        indices = group.get("params") if isinstance(group, Mapping) else None
        if not isinstance(indices, list) or len(indices) != len(own["params"]):
            count = len(indices) if isinstance(indices, list) else 0
            problems.append(f"optimizer group {number} has {count} parameters, the model's {len(own['params'])}")
            continue
        shapes.update({index: tuple(param.shape) for index, param in zip(indices, own["params"])})
    state = saved.get("state")
    for index, values in (state.items() if isinstance(state, Mapping) else ()):
        for key, value in (values.items() if isinstance(values, Mapping) else ()):
            shape = _shape(value)
            if shape and index in shapes and shape != shapes[index]:
                problems.append(f"optimizer state {key} of parameter {index} has shape {shape}, not {shapes[index]}")
    return problems
