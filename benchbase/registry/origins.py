"""Which plugin supplied each case and vendor object loaded in this process.

Kept apart from :mod:`benchbase.registry.plugins` so that code naming a plugin in a message (the bounded plugin call)
can look it up without importing the loader, which itself calls plugins through that bounded call.
"""

from __future__ import annotations

from typing import Any

#: ``id(obj) -> (obj, plugin info)``. The object is held so its id is never reused; there are a handful per
#: registry loaded.
_ORIGINS: dict[int, tuple[object, Any]] = {}


def remember(obj: object, info: Any) -> None:
    """Record that the plugin ``info`` (a :class:`benchbase.registry.plugins.PluginInfo`) registered ``obj``."""
    _ORIGINS[id(obj)] = (obj, info)


def origin_of(obj: object) -> Any:
    """The ``PluginInfo`` of the plugin that registered this very object, or ``None`` when it came from elsewhere.

    This lets code holding only the object (the supervisor writing ``env.json``) name its distribution without the
    registry being passed along.
    """
    entry = _ORIGINS.get(id(obj))
    return entry[1] if entry is not None and entry[0] is obj else None
