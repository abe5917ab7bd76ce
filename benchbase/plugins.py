"""Finding plugins, surviving broken ones, and refusing ambiguous names.

Plugins come only from installed entry points of the group ``benchbase`` (or, in tests, from modules handed in
explicitly); nothing is imported from a path a config or command line names. A plugin that fails to import or whose
registration hook raises is listed with its error and skipped, so one broken third-party package never takes the
others down. Two plugins registering the same case or vendor name is an error that names both.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from benchbase import hookspecs
from benchbase.contract import Case, Vendor
from benchbase.errors import BenchbaseError

ENTRY_POINT_GROUP = hookspecs.PROJECT


@dataclass
class PluginInfo:
    """What ``benchbase plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Registry:
    """The loaded plugins, their cases and vendors, and the pluggy hook relay for lifecycle hooks."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    cases: dict[str, Case]
    vendors: dict[str, Vendor]
    conflicts: list[str]

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def check(self) -> None:
        """Raise on duplicate names: a benchmark must never silently pick one of two plugins."""
        if self.conflicts:
            raise BenchbaseError(self.conflicts[0], "uninstall one of the two plugins")

    def case(self, name: str) -> Case:
        self.check()
        if name not in self.cases:
            raise BenchbaseError(
                f"unknown case '{name}'", f"installed cases: {', '.join(sorted(self.cases)) or 'none'}"
            )
        return self.cases[name]

    def vendor(self, name: str) -> Vendor:
        self.check()
        if name not in self.vendors:
            raise BenchbaseError(
                f"unknown vendor '{name}' (no installed plugin registers it)",
                f"installed vendors: {', '.join(sorted(self.vendors)) or 'none'}; "
                f"install its plugin (e.g. pip install benchbase-vendor-{name})",
            )
        return self.vendors[name]

    def plugin_of(self, kind: str, name: str) -> PluginInfo | None:
        for info in self.plugins:
            if name in (info.cases if kind == "case" else info.vendors):
                return info
        return None


def _one_line(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return " ".join(text.split())


def _entry_point_info(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", ""
    return dist.metadata["Name"] or "unknown", dist.version or ""


class _Loader:
    """Registers plugin modules one by one, recording failures instead of raising."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.cases: dict[str, Case] = {}
        self.vendors: dict[str, Vendor] = {}
        self.owner: dict[tuple[str, str], str] = {}
        self.conflicts: list[str] = []

    def add_entry_point(self, ep: EntryPoint) -> None:
        dist, version = _entry_point_info(ep)
        info = PluginInfo(name=ep.name, distribution=dist, version=version, module=ep.value)
        self.plugins.append(info)
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
            info.error = f"failed to import: {_one_line(exc)}"
            return
        self._register(module, info)

    def add_module(self, module: ModuleType, name: str | None = None) -> None:
        info = PluginInfo(
            name=name or module.__name__, distribution="(registered directly)", version="", module=module.__name__
        )
        self.plugins.append(info)
        self._register(module, info)

    def _register(self, module: ModuleType, info: PluginInfo) -> None:
        try:
            self.manager.register(module, name=info.name)
        except Exception as exc:  # noqa: BLE001 - e.g. a hook with a misspelt name or wrong arguments
            info.error = f"invalid plugin: {_one_line(exc)}"
            return
        callers = self.manager.get_hookcallers(module) or []
        unknown = sorted(caller.name for caller in callers if caller.spec is None)
        if unknown:
            self.manager.unregister(module)
            info.error = (
                f"invalid plugin: {', '.join(unknown)} is not a benchbase hook "
                f"(see benchbase/hookspecs.py for the hook names)"
            )
            return
        info.hooks = sorted(caller.name for caller in callers)
        self._collect(module, info, "benchbase_register_cases", Case, self.cases, info.cases, "case")
        self._collect(module, info, "benchbase_register_vendors", Vendor, self.vendors, info.vendors, "vendor")
        if info.error:
            self.manager.unregister(module)

    def _collect(
        self,
        module: ModuleType,
        info: PluginInfo,
        hook_name: str,
        expected: type,
        table: dict[str, Any],
        names: list[str],
        kind: str,
    ) -> None:
        impl = next(
            (i for i in getattr(self.manager.hook, hook_name).get_hookimpls() if i.plugin is module),
            None,
        )
        if impl is None or info.error:
            return
        found: list[Any] = []

        def register(obj: Any) -> None:
            if not isinstance(obj, expected):
                raise TypeError(
                    f"{hook_name} registered a {type(obj).__name__}; register an instance of "
                    f"benchbase.contract.{expected.__name__}"
                )
            if not getattr(obj, "name", ""):
                raise TypeError(f"{hook_name} registered a {kind} without a name")
            found.append(obj)

        try:
            impl.function(register=register)
        except Exception as exc:  # noqa: BLE001 - a plugin raising in its hook is reported and skipped
            info.error = f"{hook_name} raised: {_one_line(exc)}"
            return
        for obj in found:
            key = (kind, obj.name)
            if key in self.owner:
                self.conflicts.append(
                    f"{kind} name '{obj.name}' is registered by two plugins: "
                    f"'{self.owner[key]}' and '{info.name}' ({info.distribution})"
                )
                continue
            self.owner[key] = f"{info.name}" + (f" ({info.distribution})" if info.distribution else "")
            table[obj.name] = obj
            names.append(obj.name)


def load_registry(
    use_entry_points: bool = True, modules: Iterable[ModuleType] | Mapping[str, ModuleType] = ()
) -> Registry:
    """Load every installed plugin (and any modules handed in, as tests do with autoloading off)."""
    loader = _Loader()
    if use_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            loader.add_entry_point(ep)
    items = modules.items() if isinstance(modules, Mapping) else ((None, m) for m in modules)
    for name, module in items:
        loader.add_module(module, name)
    return Registry(
        manager=loader.manager,
        plugins=loader.plugins,
        cases=loader.cases,
        vendors=loader.vendors,
        conflicts=loader.conflicts,
    )
