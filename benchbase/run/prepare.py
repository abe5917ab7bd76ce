"""Preparing a case's data outside a run (``benchbase prepare``): the same preparation a run does first, whose cache
the run then only reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbase.config.parameters import CoreConfig
from benchbase.config.resolve import Overrides, choose_preset, merge_parameters, resolve_config
from benchbase.contract import Case
from benchbase.errors import BenchbaseError


def check_data_dir(case: Case, preset_name: str | None, data_dir: Path | None) -> None:
    """A preset that trains on the user's data needs its folder, refused before anything is prepared or started."""
    preset = choose_preset(case, preset_name)
    if preset.needs_data_dir and data_dir is None:
        raise BenchbaseError(
            f"preset '{preset.name}' of case {case.name} needs --data-dir",
            "pass --data-dir DIR holding the case's data (see the case README), or use --preset demo",
        )
    if data_dir is not None and not data_dir.is_dir():
        raise BenchbaseError(f"--data-dir {data_dir} is not a directory", "pass the folder that holds the data files")


def check_data_suffices(
    case: Case, config: dict[str, Any], core: CoreConfig, prepared: dict[str, Any], world_size: int
) -> None:
    """Data too small for one global batch, or for one evaluation batch on every rank, is refused right after
    preparation, before a record exists: the ranks would otherwise start, fail, and leave a failed run behind."""
    sizes = case.dataset.sizes(config, prepared)
    if sizes is None:
        return
    train, evaluation = sizes
    global_batch = core.batch_size * core.grad_accum * world_size
    if train < global_batch:
        raise BenchbaseError(
            f"case {case.name}'s prepared training data holds {train} samples, fewer than one global batch "
            f"({core.batch_size} x {core.grad_accum} accumulation x {world_size} ranks = {global_batch})",
            "give it more data (a larger STC.json or train fraction), or lower batch_size or grad_accum",
        )
    per_round = core.eval_batch_size * world_size
    if evaluation < per_round:
        raise BenchbaseError(
            f"case {case.name}'s prepared evaluation data holds {evaluation} samples, fewer than one evaluation "
            f"batch on every rank ({core.eval_batch_size} x {world_size} ranks = {per_round})",
            "give it more evaluation data, or lower eval_batch_size",
        )


def convert_starting_checkpoint(case: Case, from_large: Path, data_dir: Path | None, cache_dir: Path) -> Path:
    """Write the case's starting checkpoint from released model-parallel shards: into ``data_dir`` when given, else
    into the cache, where the case looks for it."""
    return case.convert_checkpoint(from_large, data_dir or cache_dir / case.name / "checkpoints")


def prepare_data(
    case: Case,
    preset_name: str | None,
    data_dir: Path | None,
    cache_dir: Path,
    overrides: Overrides,
    progress: Callable[[str, int, int | None], None],
) -> dict[str, Any]:
    """Prepare (tokenize and cache) the data of ``case`` under ``preset_name`` and return what preparation found.

    Every key may be set here (preparation is no measured run, so nothing is marked unofficial); a second call with
    the same inputs is a cache hit.
    """
    check_data_dir(case, preset_name, data_dir)
    parameters = merge_parameters(case.name, case.parameters(), case.defaults())
    resolved = resolve_config(parameters, choose_preset(case, preset_name), {}, None, overrides, True, case=case.name)
    return case.prepare(dict(resolved.values), data_dir, cache_dir, progress)
