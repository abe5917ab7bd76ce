"""A case reaches the MLPerf export through the exporter's own hook, not through the contract.

The exporter declares ``benchbase_mlperf_profile`` (benchbase/export/mlperf/hookspecs.py) under the entry-point group
``benchbase.hookspecs``; the registry adds it before plugins register, so an implementation is checked against its
spec like any contract hook, and a case that does not implement it is simply not exported.
"""

from __future__ import annotations

import types
from importlib.metadata import entry_points

import pytest

from benchbase.errors import BenchbaseError
from benchbase.export.mlperf import export
from benchbase.export.mlperf.profile import CaseProfile
from benchbase.hookspecs import hookimpl
from benchbase.registry import plugins
from benchbase.registry.plugins import load_registry


def test_the_installed_cpm_plugin_answers_the_exporters_hook_for_its_case_only() -> None:
    registry = load_registry()
    assert registry.hook.benchbase_mlperf_profile.spec is not None, "declared through benchbase.hookspecs"
    profile = registry.hook.benchbase_mlperf_profile(case="cpm")
    assert isinstance(profile, CaseProfile) and profile.case == "cpm"
    assert registry.hook.benchbase_mlperf_profile(case="spirals") is None
    assert "benchbase_mlperf_profile" in next(p for p in registry.plugins if p.name == "cpm").hooks


def test_the_hook_is_declared_by_the_core_distribution() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=plugins.HOOKSPECS_GROUP)}
    assert declared["mlperf"] == "benchbase.export.mlperf.hookspecs"


def _module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_a_misspelt_exporter_hook_is_refused_like_a_misspelt_contract_hook() -> None:
    registry = load_registry(modules={"typo": _module("typo", benchbase_mlperf_profil=lambda case: None)})
    (info,) = [p for p in registry.plugins if p.name == "typo"]
    assert info.error and "benchbase_mlperf_profil is not a benchbase hook" in info.error


def test_a_profile_of_the_wrong_type_is_one_line_naming_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin answering with something else than a CaseProfile (or None) is refused before the export reads it."""
    real = load_registry

    def with_bad_answer(*args: object, **kwargs: object) -> plugins.Registry:
        registry = real()
        registry.manager.register(_module("bad", benchbase_mlperf_profile=lambda case: "cpm.yaml"), name="bad")
        return registry

    monkeypatch.setattr(plugins, "load_registry", with_bad_answer)
    with pytest.raises(BenchbaseError, match=r"the plugin of case 'cpm' returned a str from benchbase_mlperf_profile"):
        export.ruleset_path("cpm")
