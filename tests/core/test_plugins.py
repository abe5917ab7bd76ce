"""Plugin loading: typed registration, broken plugins reported and skipped, duplicate names refused, and every case
and vendor traced to the distribution that supplied it."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from benchbase.registry import plugins
from benchbase.contract import Case, DeviceInfo, Launcher, PrecisionPolicy, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hookspecs import hookimpl
from benchbase.registry.plugins import DIRECT, load_registry, origin_of, provenance
from benchbase_cpm.recipe import CPMRecipe
from line_case import Line, PointsData, ScoreByBatch, points


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


class _NamedCase(Case):
    """A case that is only a name over the line case's parts: enough to register, never run here."""

    description = "throwaway test case"
    model = Line()
    dataset = PointsData(points())
    recipe = CPMRecipe()
    metric = ScoreByBatch([])

    def __init__(self, name: str) -> None:
        self.name = name


def _case_module(module_name: str, *case_names: str) -> types.ModuleType:
    module = types.ModuleType(module_name)

    @hookimpl
    def benchbase_register_cases(register):  # type: ignore[no-untyped-def]
        for name in case_names:
            register(_NamedCase(name))

    module.benchbase_register_cases = benchbase_register_cases  # type: ignore[attr-defined]
    return module


@dataclass
class _Dist:
    """The two things the loader reads from an entry point's distribution."""

    name: str
    version: str

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


@dataclass
class _EntryPoint:
    """An installed entry point as the loader sees it, without installing anything."""

    name: str
    value: str
    dist: _Dist

    def load(self) -> Any:
        __import__(self.value)
        return sys.modules[self.value]


def _installed(monkeypatch: pytest.MonkeyPatch, *eps: tuple[str, str, str, types.ModuleType | None]) -> None:
    """Make ``load_registry()`` see exactly these ``(entry point, distribution, version, module)``; a module of
    ``None`` is one that fails to import."""
    found = []
    for index, (name, dist, version, module) in enumerate(eps):
        value = f"_benchbase_test_ep_{index}"
        if module is not None:
            monkeypatch.setitem(sys.modules, value, module)
        found.append(_EntryPoint(name, value, _Dist(dist, version)))
    monkeypatch.setattr(plugins, "entry_points", lambda group: found if group == plugins.ENTRY_POINT_GROUP else [])


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
    with pytest.raises(BenchbaseError, match=r"'chip' is registered by two plugins: 'first' .* and 'second'"):
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


def test_every_case_and_vendor_is_traced_to_the_plugin_and_distribution_that_registered_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _installed(monkeypatch, ("chips", "acme-chips", "2.0", _vendor_module("m1", "chip")),
               ("bench", "acme-bench", "3.1", _case_module("m2", "work")))
    registry = load_registry()
    vendor_origin = registry.origin("vendor", "chip")
    assert (vendor_origin.name, vendor_origin.distribution, vendor_origin.version) == ("chips", "acme-chips", "2.0")
    assert registry.origin("case", "work").distribution == "acme-bench"
    assert origin_of(registry.vendor("chip")) is vendor_origin
    assert provenance("case", registry.case("work")) == {
        "name": "work", "kind": "case", "distribution": "acme-bench", "version": "3.1", "entry_point": "bench",
        "module": "_benchbase_test_ep_1",
    }
    with pytest.raises(BenchbaseError, match="no installed plugin registers the vendor 'nope'"):
        registry.origin("vendor", "nope")


def test_an_object_built_outside_the_registry_has_no_recorded_origin() -> None:
    vendor = _HostVendor("loose")
    assert origin_of(vendor) is None
    record = provenance("vendor", vendor)
    assert record["name"] == "loose" and record["entry_point"] is None and record["module"] == __name__


def test_two_distributions_declaring_one_entry_point_name_are_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pluggy keys plugins by name: without care the second 'cpu' would be dropped and the first would win."""
    _installed(monkeypatch, ("cpu", "first-party-cpu", "0.1.0", _vendor_module("real", "cpu")),
               ("cpu", "impostor", "6.6.6", _vendor_module("fake", "cpu")))
    registry = load_registry()
    assert [p.error for p in registry.plugins] == [None, None], "both are loaded, so both can be shown"
    with pytest.raises(BenchbaseError) as caught:
        registry.vendor("cpu")
    message = str(caught.value)
    assert "entry point name 'cpu' is declared by 2 distributions" in message
    assert "first-party-cpu 0.1.0" in message and "impostor 6.6.6" in message
    assert "pip uninstall first-party-cpu" in message and "pip uninstall impostor" in message
    assert "\n" not in message
    with pytest.raises(BenchbaseError, match="entry point name 'cpu'"):
        registry.case("anything")


def test_an_entry_point_name_clash_is_refused_even_when_the_registered_names_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _installed(monkeypatch, ("cpu", "first-party-cpu", "0.1.0", _vendor_module("real", "cpu")),
               ("cpu", "impostor", "6.6.6", _vendor_module("fake", "cpu2")))
    registry = load_registry()
    assert len(registry.conflicts) == 1
    with pytest.raises(BenchbaseError, match="entry point name 'cpu' is declared by 2 distributions"):
        registry.vendor("cpu2")


def test_one_vendor_name_under_two_entry_points_is_refused_naming_both_distributions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _installed(monkeypatch, ("cpu", "first-party-cpu", "0.1.0", _vendor_module("real", "cpu")),
               ("zzz", "impostor", "6.6.6", _vendor_module("fake", "cpu")))
    registry = load_registry()
    with pytest.raises(BenchbaseError) as caught:
        registry.vendor("cpu")
    assert str(caught.value).startswith(
        "vendor name 'cpu' is registered by two plugins: 'cpu' (distribution first-party-cpu 0.1.0) and "
        "'zzz' (distribution impostor 6.6.6); uninstall one of them"
    )
    assert registry.origin("vendor", "cpu").distribution == "first-party-cpu"
    assert registry.plugins[1].conflicts and registry.plugins[1].vendors == []


def test_one_case_name_from_two_plugins_is_refused() -> None:
    registry = load_registry(
        use_entry_points=False, modules={"a": _case_module("a", "work"), "b": _case_module("b", "work")}
    )
    with pytest.raises(BenchbaseError, match=r"case name 'work' is registered by two plugins: 'a' .* and 'b'"):
        registry.case("work")


def test_one_module_under_two_entry_points_is_a_conflict_not_a_silent_first_wins() -> None:
    module = _vendor_module("shared", "chip")
    registry = load_registry(use_entry_points=False, modules={"a": module, "b": module})
    with pytest.raises(BenchbaseError, match="module shared is loaded by two plugins: 'a' .* and 'b'"):
        registry.vendor("chip")


def test_two_plugins_under_one_name_are_a_conflict_not_a_pluggy_refusal() -> None:
    registry = load_registry(use_entry_points=False, modules=[_vendor_module("dup", "x"), _vendor_module("dup", "y")])
    with pytest.raises(BenchbaseError, match="plugin name 'dup' is used by two plugins"):
        registry.vendor("x")
    assert registry.plugins[0].distribution == DIRECT


def test_a_vendor_whose_plugin_failed_to_import_is_reported_with_its_error_not_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _installed(monkeypatch, ("chipx", "acme-chipx", "1.0", None),
               ("cpu", "cpu-dist", "0.1", _vendor_module("c", "cpu")))
    registry = load_registry()
    with pytest.raises(BenchbaseError) as caught:
        registry.vendor("chipx")
    message = str(caught.value)
    assert message.startswith(
        "plugin 'chipx' (distribution acme-chipx 1.0) failed to import: ModuleNotFoundError: No module named"
    )
    assert "pip install" not in message
    with pytest.raises(BenchbaseError) as caught:
        registry.case("work")
    assert "unknown case 'work'" in str(caught.value)
    assert "plugin 'chipx' (distribution acme-chipx 1.0) failed to import" in str(caught.value)


def test_a_plugin_whose_hook_raised_is_named_when_its_vendor_is_asked_for() -> None:
    boom = types.ModuleType("boom")

    @hookimpl
    def benchbase_register_vendors(register):  # type: ignore[no-untyped-def]
        raise RuntimeError("driver missing")

    boom.benchbase_register_vendors = benchbase_register_vendors  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"boom": boom})
    with pytest.raises(BenchbaseError, match=r"^plugin 'boom' \(registered directly\) could not be loaded: "
                                             r"benchbase_register_vendors raised: RuntimeError: driver missing"):
        registry.vendor("boom")


def test_a_case_missing_a_part_of_its_composition_is_refused_at_registration_naming_the_part() -> None:
    class NoMetric(_NamedCase):
        metric = None  # type: ignore[assignment]

    half = types.ModuleType("half")

    @hookimpl
    def benchbase_register_cases(register):  # type: ignore[no-untyped-def]
        register(NoMetric("half"))

    half.benchbase_register_cases = benchbase_register_cases  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"half": half})
    (plugin,) = registry.plugins
    assert "case 'half' has no metric (a benchbase.contract.Metric)" in plugin.error
    assert registry.cases == {}


@pytest.mark.parametrize(("part", "attribute", "value", "words"), [
    ("metric", "higher_is_better", "no", "a metric whose higher_is_better is 'no', not True or False"),
    ("recipe", "max_grad_norm", -1.0, "a recipe whose max_grad_norm is -1.0, not None or a positive finite number"),
    ("recipe", "max_grad_norm", float("inf"), "max_grad_norm is inf"),
])
def test_a_case_whose_direction_or_clip_is_no_value_the_core_can_use_is_refused_at_registration(
    part: str, attribute: str, value: object, words: str
) -> None:
    odd = _NamedCase("odd")
    bent = type("Bent", (type(getattr(_NamedCase, part)),), {attribute: value})  # the case's part, one value changed
    setattr(odd, part, bent([]) if part == "metric" else bent())
    module = types.ModuleType("odd")

    @hookimpl
    def benchbase_register_cases(register):  # type: ignore[no-untyped-def]
        register(odd)

    module.benchbase_register_cases = benchbase_register_cases  # type: ignore[attr-defined]
    registry = load_registry(use_entry_points=False, modules={"odd": module})
    (plugin,) = registry.plugins
    assert words in plugin.error
    assert registry.cases == {}


def test_the_core_registers_its_launchers_through_the_hook_and_stays_out_of_the_installed_plugins() -> None:
    registry = load_registry(use_entry_points=False)
    assert sorted(registry.launchers) == ["auto", "kubernetes", "slurm"] and registry.plugins == []
    assert registry.origin("launcher", "kubernetes").distribution == "benchbase-core"
    with pytest.raises(BenchbaseError, match=r"unknown launcher 'k8s'.*installed launchers: auto, kubernetes, slurm"):
        registry.launcher("k8s")


def test_a_plugins_launcher_is_chosen_by_name_and_one_taking_a_core_name_is_a_conflict() -> None:
    class Kube(Launcher):
        def __init__(self, name: str) -> None:
            self.name = name

        def placement(self, nnodes, node_rank, master_addr, dry_run):  # type: ignore[no-untyped-def]
            return node_rank, master_addr

    kube, impostor = types.ModuleType("kube"), types.ModuleType("impostor")
    kube.benchbase_register_launchers = hookimpl(lambda register: register(Kube("k8s")))
    impostor.benchbase_register_launchers = hookimpl(lambda register: register(Kube("slurm")))
    assert load_registry(use_entry_points=False, modules=[kube]).launcher("k8s").name == "k8s"
    with pytest.raises(BenchbaseError, match=r"launcher name 'slurm' is registered by two plugins: 'benchbase'"):
        load_registry(use_entry_points=False, modules=[impostor]).launcher("slurm")
