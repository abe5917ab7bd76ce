"""The command line's config decisions: the preset, the layering of a run's config, the repeat seed policy, and the
overrides given as options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchbase.config import (
    SOURCE_DEFAULT,
    Overrides,
    ResolvedConfig,
    load_yaml_file,
    merge_parameters,
    parse_set,
    read_tuned_file,
    resolve_config,
    vendor_config_path,
)
from benchbase.contract import Case, Vendor
from benchbase.errors import BenchbaseError
from benchbase.registry import bounded


def _preset(case: Case, name: str | None):  # type: ignore[no-untyped-def]
    presets = case.presets()
    chosen = name or case.default_preset
    if chosen not in presets:
        raise BenchbaseError(
            f"unknown preset '{chosen}' for case {case.name}", f"choose one of: {', '.join(sorted(presets))}"
        )
    return presets[chosen]


def resolve_for(
    case: Case,
    vendor: Vendor,
    preset_name: str | None,
    nnodes: int,
    nproc: int,
    overrides: dict[str, Any],
    unofficial: bool,
    variant: str | None,
) -> ResolvedConfig:
    """Layers: case defaults < preset < the vendor's tuned file for this device and topology < --set.

    The tuned file joins only when it was tuned for this preset (:func:`benchbase.config.read_tuned_file`); a
    variant the user named for another preset is refused rather than silently left out.
    """
    preset = _preset(case, preset_name)
    device_model = bounded.call(vendor, "device_model()", vendor.device_model)
    vendor_file = vendor_config_path(vendor.config_dir, case.name, device_model, nnodes, nproc, variant)
    vendor_values: dict[str, Any] = {}
    if vendor_file is not None:
        vendor_values, tuned_for = read_tuned_file(vendor_file, case.presets(), case.default_preset)
        if preset.name not in tuned_for:
            if variant is not None:
                raise BenchbaseError(
                    f"config variant {variant!r} ({vendor_file}) is tuned for preset {', '.join(tuned_for)}, "
                    f"not {preset.name}",
                    f"drop --variant, or run --preset {tuned_for[0]}",
                )
            vendor_file, vendor_values = None, {}
    parameters = merge_parameters(case.name, case.parameters(), case.defaults())
    resolved = resolve_config(parameters, preset, vendor_values, vendor_file, overrides, unofficial, case=case.name)
    if resolved.values["compile"] != "off":
        from benchbase.train.engine import check_compile_available

        check_compile_available(resolved.values, vendor)
    precision = resolved.values["precision"]
    if precision not in case.recipe.precisions:
        raise BenchbaseError(
            f"case {case.name} does not train in precision {precision!r} (from {resolved.sources['precision']})",
            f"choose one of: {', '.join(case.recipe.precisions)}",
        )
    return resolved


def _overrides(set_file: Path | None, sets: tuple[str, ...], timeout: float | None = None) -> Overrides:
    """--set-file, then --set, then --timeout (as ``timeout_s``), so a command line can adjust a saved file; each
    key keeps the flag it came from, which an error about its value names."""
    overrides = Overrides()
    if set_file is not None:
        overrides.add(load_yaml_file(set_file), f"--set-file {set_file}")
    overrides.add(parse_set(list(sets)), "--set")
    if timeout is not None:
        overrides.add({"timeout_s": timeout}, "--timeout")
    return overrides


def repeat_config(resolved: ResolvedConfig, index: int) -> ResolvedConfig:
    """Repeat ``index`` of ``--repeat K``: the configured seed plus the index, so each repeat draws its own
    initialisation, dropout and data order (MLPerf seeds every run) and Stability measures more than crashes; the
    first repeat keeps the configured seed, so a single run is the same with or without ``--repeat``. The seed and
    where it came from are recorded in ``config.yaml`` and ``summary.json``."""
    if index == 0:
        return resolved
    seed = int(resolved.values["seed"]) + index
    source = f"{resolved.sources.get('seed', SOURCE_DEFAULT)} + repeat {index}"
    return dataclasses.replace(
        resolved, values={**resolved.values, "seed": seed}, sources={**resolved.sources, "seed": source}
    )
