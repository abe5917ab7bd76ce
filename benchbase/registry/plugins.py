"""Finding plugins, surviving broken ones, and refusing ambiguous names.

Plugins come only from installed entry points of the group ``benchbase`` (or, in tests, from modules handed in
explicitly); nothing is imported from a path a config or command line names. A plugin that fails to import or whose
registration hook raises is listed with its error and skipped, so one broken third-party package never takes the
others down.

Names must be unambiguous, or a benchmark could run someone else's code under a trusted name and record it as
official. Two distributions declaring one entry-point name, two plugins registering one case, vendor or launcher
name, or two entry points loading one module are all conflicts: every command that has to pick a case or a vendor
stops with one line naming both distributions and their versions, and ``benchbase plugins`` shows them. Each plugin
is registered with pluggy under a name that includes its distribution, so pluggy never silently refuses the second
of two plugins sharing an entry-point name, and every case and vendor remembers which distribution supplied it
(:meth:`Registry.origin`, :func:`origin_of`), so a record can name the code that produced it.

The core's own launchers (``auto``, ``slurm``) are registered by an internal plugin, :mod:`benchbase.launch.builtin`,
through the same hook as any other: a plugin's launcher of the same name is a conflict like any other, and the core
is not listed among the installed plugins (it is no entry point).
"""

from __future__ import annotations

import math

import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points, packages_distributions, version
from types import ModuleType
from typing import Any, NoReturn

import pluggy

from benchbase.contract import hookspecs
from benchbase import __version__
from benchbase.contract import Case, DatasetSpec, Launcher, Metric, ModelSpec, Recipe, Vendor
from benchbase.errors import BenchbaseError
from benchbase.registry import bounded
from benchbase.registry.origins import origin_of, remember

ENTRY_POINT_GROUP = hookspecs.PROJECT
#: Entry-point group of modules declaring hooks beyond the contract's (the MLPerf exporter's, say): added to the
#: plugin manager before any plugin registers, so the hooks plugins implement are all checked against a spec.
HOOKSPECS_GROUP = f"{hookspecs.PROJECT}.hookspecs"
#: ``PluginInfo.distribution`` of a module handed to :func:`load_registry` directly (tests) rather than installed.
DIRECT = "(registered directly)"
#: The distribution that registers the core's own launchers (:meth:`_Loader.add_core`).
CORE_DISTRIBUTION = "benchbase-core"
#: The kinds of object plugins register, as :attr:`Registry.origins` and messages name them.
KINDS = ("case", "vendor", "launcher")


@dataclass
class PluginInfo:
    """One plugin: where it came from (distribution, version, entry point) and what it provides, for ``benchbase
    plugins``, for error messages and for the record of a run."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    launchers: list[str] = field(default_factory=list)
    error: str | None = None
    #: The conflicts this plugin is part of (also in :attr:`Registry.conflicts`).
    conflicts: list[str] = field(default_factory=list)

    @property
    def entry_point(self) -> str:
        """The entry-point name (for a module handed in directly, the name it was handed in under)."""
        return self.name

    @property
    def label(self) -> str:
        """``'<entry point>' (distribution <name> <version>)``: how messages name a plugin, so two are told apart."""
        if self.distribution == DIRECT:
            return f"'{self.name}' {DIRECT}"
        return f"'{self.name}' (distribution {self.source})"

    @property
    def problem(self) -> str | None:
        """The plugin's error as one sentence naming it, or ``None`` when it loaded."""
        if not self.error:
            return None
        joiner = " " if self.error.startswith("failed to import") else " could not be loaded: "
        return f"plugin {self.label}{joiner}{self.error}"

    @property
    def source(self) -> str:
        """``<distribution> <version>``."""
        return f"{self.distribution} {self.version}".strip()

    @property
    def pluggy_name(self) -> str:
        """The name under which pluggy holds the plugin: unique per distribution and entry point, so two
        distributions sharing an entry-point name are both loaded (and refused as a conflict) instead of pluggy
        keeping whichever came first."""
        return self.name if self.distribution == DIRECT else f"{self.distribution}:{self.name}"

    def record(self, kind: str, name: str) -> dict[str, Any]:
        """What ``env.json`` says about the plugin that supplied the case or vendor ``name``."""
        return {
            "name": name,
            "kind": kind,
            "distribution": self.distribution,
            "version": self.version or None,
            "entry_point": self.name,
            "module": self.module,
        }


@dataclass
class Registry:
    """The loaded plugins, their cases, vendors and launchers, and the pluggy hook relay for lifecycle hooks."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    cases: dict[str, Case]
    vendors: dict[str, Vendor]
    conflicts: list[str]
    launchers: dict[str, Launcher] = field(default_factory=dict)
    #: ``(kind, name) -> plugin`` for every registered case (``kind`` "case"), vendor ("vendor") and launcher
    #: ("launcher").
    origins: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)
    #: The fix for each entry of :attr:`conflicts`: which distributions to choose between.
    conflict_fixes: dict[str, str] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def check(self) -> None:
        """Raise on any name conflict: a benchmark must never silently pick one of two plugins."""
        if self.conflicts:
            first = self.conflicts[0]
            more = len(self.conflicts) - 1
            fix = self.conflict_fixes.get(first, "uninstall one of the two plugins")
            fix += "; `benchbase plugins` lists every plugin" + (
                f" and {more} more conflict{'s' if more > 1 else ''}" if more else ""
            )
            raise BenchbaseError(first, fix)

    def case(self, name: str) -> Case:
        """The case ``name``; a conflict, a plugin that failed to load, or an unknown name is one line."""
        self.check()
        if name not in self.cases:
            self._missing("case", name, sorted(self.cases))
        return self.cases[name]

    def vendor(self, name: str) -> Vendor:
        """The vendor ``name``; a conflict, a plugin that failed to load, or an unknown name is one line."""
        self.check()
        if name not in self.vendors:
            self._missing("vendor", name, sorted(self.vendors))
        return self.vendors[name]

    def launcher(self, name: str) -> Launcher:
        """The launcher ``name``; a conflict, a plugin that failed to load, or an unknown name is one line."""
        self.check()
        if name not in self.launchers:
            self._missing("launcher", name, sorted(self.launchers))
        return self.launchers[name]

    def origin(self, kind: str, name: str) -> PluginInfo:
        """The plugin (distribution, version, entry point) that registered the case, vendor or launcher ``name``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
        if (kind, name) not in self.origins:
            raise BenchbaseError(f"no installed plugin registers the {kind} '{name}'", "see `benchbase plugins`")
        return self.origins[(kind, name)]

    def plugin_of(self, kind: str, name: str) -> PluginInfo | None:
        """Like :meth:`origin`, but ``None`` for an unknown name."""
        return self.origins.get((kind, name))

    def broken(self) -> list[PluginInfo]:
        """Plugins that were found but not loaded (failed to import, invalid, or their hook raised)."""
        return [info for info in self.plugins if info.error]

    def _missing(self, kind: str, name: str, installed: list[str]) -> NoReturn:
        """Raise for a name no loaded plugin registers. A broken plugin is the likelier cause than a missing one,
        so it is named with its error instead of advice to install what is already installed."""
        broken = self.broken()
        culprit = next((info for info in broken if _claims(info, name)), None)
        if culprit is not None:
            raise BenchbaseError(
                str(culprit.problem),
                f"fix or reinstall {culprit.distribution} (or uninstall it); `benchbase plugins` shows every plugin",
            )
        listing = f"installed {kind}s: {', '.join(installed) or 'none'}"
        if broken:
            errors = "; ".join(str(info.problem) for info in broken)
            raise BenchbaseError(
                f"unknown {kind} '{name}' (no loaded plugin registers it; {errors})",
                f"{listing}; fix or uninstall the broken plugin, which may be the one providing it",
            )
        raise BenchbaseError(
            f"unknown {kind} '{name}' (no installed plugin registers it)",
            f"{listing}; install the distribution that provides it (`benchbase plugins` lists what is installed)",
        )


def _normalize(name: str) -> str:
    """PEP 503 form of a distribution name, so ``Foo_Bar`` and ``foo-bar`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _claims(info: PluginInfo, name: str) -> bool:
    """Whether a broken plugin is evidently the one meant by ``name``: its entry point has that name. (Any other
    broken plugin might be the one too, so it is named as a possibility, not as the cause.)"""
    return _normalize(info.name) == _normalize(name)


def _one_line(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return " ".join(text.split())


def _guarded(what: str, function: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, why)`` (``raised: ...`` or ``did not return ...``) when a plugin's import or registration hook raised anything at all
    (``SystemExit`` and ``KeyboardInterrupt`` included: a plugin must not end or interrupt every command) or did not
    return within the plugin limit. Only the run's own stop (its ``--timeout``, a signal) goes on up."""
    try:
        return bounded.call(None, what, function, *args, **kwargs), None
    except bounded.PluginHang:
        return None, f"did not return within {bounded.plugin_limit_s():g} s (a hang)"
    except bounded.PluginFailed as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return None, f"raised: {_one_line(cause)}"
    except BenchbaseError as exc:
        return None, f"raised: {_one_line(exc)}"


def _entry_point_info(ep: EntryPoint) -> tuple[str, str]:
    """The distribution that declares ``ep``: its name and version. Each of ``dist.metadata`` and ``dist.version``
    reads and parses the distribution's metadata file anew, so callers ask once per entry point."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", ""
    return dist.metadata["Name"] or "unknown", dist.version or ""


def provenance(kind: str, obj: Case | Vendor) -> dict[str, Any]:
    """``env.json``'s account of where a case or vendor came from: its distribution, version and entry point.

    An object that did not come through the registry (built directly, as some tests do) is traced through the
    distribution that installed its module; failing that, its distribution is ``None``.
    """
    name = str(getattr(obj, "name", ""))
    info = origin_of(obj)
    if info is not None:
        return info.record(kind, name)
    module = type(obj).__module__
    dists = packages_distributions().get(module.split(".")[0], [])
    dist = dists[0] if len(dists) == 1 else None
    try:
        dist_version = version(dist) if dist else None
    except Exception:  # noqa: BLE001 - metadata of a half-installed package: say unknown rather than fail a run
        dist_version = None
    return {"name": name, "kind": kind, "distribution": dist, "version": dist_version, "entry_point": None,
            "module": module}


class _Loader:
    """Registers plugin modules one by one, recording failures and conflicts instead of raising."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.cases: dict[str, Case] = {}
        self.vendors: dict[str, Vendor] = {}
        self.launchers: dict[str, Launcher] = {}
        self.owner: dict[tuple[str, str], PluginInfo] = {}
        self.by_module: dict[int, PluginInfo] = {}
        self.conflicts: list[str] = []
        self.conflict_fixes: dict[str, str] = {}

    def conflict(self, problem: str, *infos: PluginInfo) -> None:
        """Record a conflict between plugins; its fix names the distributions to choose between."""
        self.conflicts.append(problem)
        for info in infos:
            info.conflicts.append(problem)
        installed = sorted({info.distribution for info in infos if info.distribution not in (DIRECT, "unknown")})
        if len(installed) > 1:
            choices = " or ".join(f"`pip uninstall {name}`" for name in installed)
            self.conflict_fixes[problem] = f"uninstall one of them ({choices})"
        elif installed:
            self.conflict_fixes[problem] = f"uninstall one of the two plugins, or fix {installed[0]}"
        else:
            self.conflict_fixes[problem] = "uninstall one of the two plugins"

    def add_hookspecs(self, eps: Iterable[EntryPoint]) -> None:
        """Add the hooks declared by each entry point's module; one that fails to import is listed like a broken
        plugin, and plugins implementing its hooks are then refused by name."""
        for ep in sorted(eps, key=lambda e: e.name):
            dist, dist_version = _entry_point_info(ep)
            module, error = _guarded(f"importing {ep.value}", ep.load)
            if error is None:
                try:
                    self.manager.add_hookspecs(module)
                except Exception as exc:  # noqa: BLE001 - a broken hookspec module is reported, never fatal
                    error = f"raised: {_one_line(exc)}"
            if error is not None:
                self.plugins.append(PluginInfo(name=ep.name, distribution=dist, version=dist_version, module=ep.value,
                                               error=f"failed to declare hooks: {error.removeprefix('raised: ')}"))

    def add_entry_points(self, eps: Iterable[EntryPoint]) -> None:
        """Add every entry point, first refusing entry-point names declared by more than one distribution."""
        declared = [(ep, *_entry_point_info(ep)) for ep in eps]
        infos: list[tuple[EntryPoint, PluginInfo]] = []
        for ep, dist, dist_version in sorted(declared, key=lambda item: (item[0].name, _normalize(item[1]),
                                                                           item[0].value)):
            info = PluginInfo(name=ep.name, distribution=dist, version=dist_version, module=ep.value)
            self.plugins.append(info)
            infos.append((ep, info))
        by_name: dict[str, list[PluginInfo]] = {}
        for _, info in infos:
            by_name.setdefault(info.name, []).append(info)
        for name, claimants in by_name.items():
            if len(claimants) > 1:
                others = " and ".join(f"{c.source} ({c.module})" for c in claimants)
                self.conflict(
                    f"entry point name '{name}' is declared by {len(claimants)} distributions: {others}", *claimants
                )
        for ep, info in infos:
            module, error = _guarded(f"importing {ep.value}", ep.load)
            if error is not None:
                info.error = f"failed to import: {error.removeprefix('raised: ')}"
                continue
            self._register(module, info)

    def add_core(self) -> None:
        """Register the core's own launchers, first, through the hook any plugin uses; the core is no entry point,
        so it stays out of :attr:`plugins` (what ``benchbase plugins`` lists as installed)."""
        from benchbase.launch import builtin

        info = PluginInfo(name="benchbase", distribution=CORE_DISTRIBUTION, version=__version__,
                          module=builtin.__name__)
        self._register(builtin, info)

    def add_module(self, module: ModuleType, name: str | None = None) -> None:
        info = PluginInfo(name=name or module.__name__, distribution=DIRECT, version="", module=module.__name__)
        self.plugins.append(info)
        self._register(module, info)

    def _register(self, module: ModuleType, info: PluginInfo) -> None:
        first = self.by_module.get(id(module))
        if first is not None:
            # pluggy would refuse the second registration and the first would silently win.
            self.conflict(f"module {info.module} is loaded by two plugins: {first.label} and {info.label}", first, info)
            info.error = f"not loaded: {first.label} already loaded module {info.module}"
            return
        if self.manager.get_plugin(info.pluggy_name) is not None:
            first = next(p for p in self.plugins if p is not info and p.pluggy_name == info.pluggy_name)
            self.conflict(f"plugin name '{info.name}' is used by two plugins: {first.label} and {info.label}",
                          first, info)
            info.error = f"not loaded: plugin name '{info.name}' is already taken"
            return
        try:
            self.manager.register(module, name=info.pluggy_name)
        except Exception as exc:  # noqa: BLE001 - e.g. a hook with a misspelt name or wrong arguments
            info.error = f"invalid plugin: {_one_line(exc)}"
            return
        self.by_module[id(module)] = info
        callers = self.manager.get_hookcallers(module) or []
        unknown = sorted(caller.name for caller in callers if caller.spec is None)
        if unknown:
            self.manager.unregister(module)
            info.error = (
                f"invalid plugin: {', '.join(unknown)} is not a benchbase hook "
                f"(see benchbase/contract/hookspecs.py for the hook names)"
            )
            return
        info.hooks = sorted(caller.name for caller in callers)
        self._collect(module, info, "benchbase_register_cases", Case, self.cases, info.cases, "case")
        self._collect(module, info, "benchbase_register_vendors", Vendor, self.vendors, info.vendors, "vendor")
        self._collect(module, info, "benchbase_register_launchers", Launcher, self.launchers, info.launchers,
                      "launcher")
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
            name = getattr(obj, "name", "")
            if not isinstance(name, str) or not name.isprintable() or not 0 < len(name) <= _MAX_NAME_CHARS:
                raise TypeError(f"{hook_name} registered a {kind} whose name is not a line of text of at most "
                                f"{_MAX_NAME_CHARS} characters")
            if not isinstance(getattr(obj, "description", ""), str):
                raise TypeError(f"{hook_name} registered {kind} '{name}' whose description is not text")
            if isinstance(obj, Case):
                _check_composition(obj)
            found.append(obj)

        _, error = _guarded(hook_name, impl.function, register=register)
        if error is not None:
            info.error = f"{hook_name} {error}"
            return
        for obj in found:
            key = (kind, obj.name)
            if key in self.owner:
                first = self.owner[key]
                self.conflict(
                    f"{kind} name '{obj.name}' is registered by two plugins: {first.label} and {info.label}",
                    first, info,
                )
                continue
            self.owner[key] = info
            table[obj.name] = obj
            names.append(obj.name)
            remember(obj, info)


#: Characters of a case, vendor or launcher name: it is typed on command lines and names run folders.
_MAX_NAME_CHARS = 100

#: The parts a case composes, and the contract class each must be an instance of.
_CASE_PARTS = {"model": ModelSpec, "dataset": DatasetSpec, "recipe": Recipe, "metric": Metric}


def _check_composition(case: Case) -> None:
    """A case the core cannot train is refused at registration, naming the part, not at its first run."""
    for part, spec in _CASE_PARTS.items():
        value = getattr(case, part, None)
        if not isinstance(value, spec):
            raise TypeError(
                f"case '{case.name}' has no {part} (a benchbase.contract.{spec.__name__}); "
                f"found {type(value).__name__}"
            )
    if not case.metric.name:
        raise TypeError(f"case '{case.name}' has a metric without a name")
    if not isinstance(case.metric.higher_is_better, bool):
        raise TypeError(f"case '{case.name}' has a metric whose higher_is_better is "
                        f"{case.metric.higher_is_better!r}, not True or False")
    clip = case.recipe.max_grad_norm
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float))
                             or not math.isfinite(clip) or clip <= 0):
        raise TypeError(f"case '{case.name}' has a recipe whose max_grad_norm is {clip!r}, not None or a positive "
                        "finite number")


def load_registry(
    use_entry_points: bool = True, modules: Iterable[ModuleType] | Mapping[str, ModuleType] = ()
) -> Registry:
    """Load every installed plugin (and any modules handed in, as tests do with autoloading off)."""
    loader = _Loader()
    loader.add_core()
    if use_entry_points:
        loader.add_hookspecs(entry_points(group=HOOKSPECS_GROUP))
        loader.add_entry_points(entry_points(group=ENTRY_POINT_GROUP))
    items = modules.items() if isinstance(modules, Mapping) else ((None, m) for m in modules)
    for name, module in items:
        loader.add_module(module, name)
    return Registry(
        manager=loader.manager,
        plugins=loader.plugins,
        cases=loader.cases,
        vendors=loader.vendors,
        launchers=loader.launchers,
        conflicts=loader.conflicts,
        origins=dict(loader.owner),
        conflict_fixes=loader.conflict_fixes,
    )


def load_checked_registry() -> Registry:
    """The installed plugins, refused as a whole on any name conflict: every command that picks or lists cases and
    vendors must never pick one of two silently (``benchbase plugins`` alone loads them without this check)."""
    registry = load_registry()
    registry.check()
    return registry
