"""Plugin loading: typed registration, broken plugins reported and skipped, duplicate names refused."""

from __future__ import annotations

import types

import pytest
import torch

from benchbase.contract import DeviceInfo, PrecisionPolicy, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hookspecs import hookimpl
from benchbase.plugins import load_registry


class _HostVendor(Vendor):
    def __init__(self, name: str) -> None:
        self.name = name

    def discover(self) -> list[DeviceInfo]:
        return [DeviceInfo(index=0, model="host")]

    def setup_device(self, local_rank: int) -> torch.device:
        return torch.device("cpu")

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        return PrecisionPolicy("fp32", "FP32", None, "fp32")


def _vendor_module(module_name: str, *vendor_names: str) -> types.ModuleType:
    module = types.ModuleType(module_name)

    @hookimpl
    def benchbase_register_vendors(register):  # type: ignore[no-untyped-def]
        for name in vendor_names:
            register(_HostVendor(name))

    module.benchbase_register_vendors = benchbase_register_vendors  # type: ignore[attr-defined]
    return module


def test_registered_vendor_is_found_by_name_and_its_hooks_are_listed() -> None:
    registry = load_registry(use_entry_points=False, modules={"mine": _vendor_module("mine", "chip")})
    assert registry.vendor("chip").name == "chip"
    assert registry.plugins[0].vendors == ["chip"]
    assert registry.plugins[0].hooks == ["benchbase_register_vendors"]


def test_unknown_vendor_error_lists_the_installed_ones() -> None:
    registry = load_registry(use_entry_points=False, modules={"mine": _vendor_module("mine", "chip", "other")})
    with pytest.raises(BenchbaseError, match=r"unknown vendor 'nope'.*installed vendors: chip, other"):
        registry.vendor("nope")


def test_duplicate_vendor_name_is_an_error_naming_both_plugins() -> None:
    registry = load_registry(
        use_entry_points=False,
        modules={"first": _vendor_module("first", "chip"), "second": _vendor_module("second", "chip")},
    )
    with pytest.raises(BenchbaseError, match=r"'chip' is registered by two plugins: 'first.*' and 'second"):
        registry.vendor("chip")


def test_plugin_registering_the_wrong_type_is_skipped_with_its_error_and_others_still_load() -> None:
    bad = types.ModuleType("bad")

    @hookimpl
    def benchbase_register_vendors(register):  # type: ignore[no-untyped-def]
        register("not a vendor")

    bad.benchbase_register_vendors = benchbase_register_vendors  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"bad": bad, "good": _vendor_module("good", "chip")})
    errors = {p.name: p.error for p in registry.plugins}
    assert "registered a str" in errors["bad"] and "benchbase.contract.Vendor" in errors["bad"]
    assert errors["good"] is None
    assert list(registry.vendors) == ["chip"]


def test_plugin_whose_hook_raises_is_reported_not_fatal() -> None:
    boom = types.ModuleType("boom")

    @hookimpl
    def benchbase_register_vendors(register):  # type: ignore[no-untyped-def]
        raise RuntimeError("driver missing")

    boom.benchbase_register_vendors = benchbase_register_vendors  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"boom": boom, "good": _vendor_module("good", "chip")})
    assert "RuntimeError: driver missing" in registry.plugins[0].error
    assert registry.vendor("chip")


def test_hook_with_a_misspelt_name_is_an_invalid_plugin() -> None:
    typo = types.ModuleType("typo")

    @hookimpl
    def benchbase_register_vendor(register):  # type: ignore[no-untyped-def]
        pass

    typo.benchbase_register_vendor = benchbase_register_vendor  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"typo": typo})
    assert registry.plugins[0].error.startswith("invalid plugin")


def test_first_party_plugins_load_from_entry_points_without_errors() -> None:
    registry = load_registry()
    by_name = {p.name: p for p in registry.plugins}
    for name in ("cpm", "cpu", "nvidia", "iluvatar"):
        assert by_name[name].error is None, by_name[name].error
    assert {"cpu", "nvidia", "iluvatar"} <= set(registry.vendors)
    assert "cpm" in registry.cases
