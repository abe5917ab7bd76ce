"""Which torch build is installed, read from its files rather than by importing it.

Importing torch costs 1.5-3 s, which ``benchbase env`` and a vendor's ``environment()`` would pay only to print a
version. ``torch/version.py`` is the module ``torch.version`` itself: literal assignments written when the build was
made (``__version__``, ``cuda``, ``git_version``, ``hip``). It is parsed here, never executed; a build whose file
is missing or not plain literals is asked through ``import torch`` instead, slower but never a guess.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

#: ``torch.version``'s names -> the keys :func:`torch_build` returns (those of ``env.json``'s ``host.torch``).
_FIELDS = {"__version__": "version", "cuda": "cuda", "git_version": "git", "hip": "hip"}


def torch_build() -> dict[str, str | None]:
    """``version``, ``cuda``, ``git`` and ``hip`` of the installed torch, exactly as ``torch.version`` has them."""
    spec = importlib.util.find_spec("torch")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        found = _literals(Path(folder) / "version.py")
        if found is not None:
            return found
    return _imported()


def _literals(path: Path) -> dict[str, str | None] | None:
    """The build's fields from ``path``, or ``None`` when it lacks one or assigns one anything but a literal."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    found: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id not in _FIELDS:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            return None
        if literal is not None and not isinstance(literal, str):
            return None
        found[_FIELDS[target.id]] = literal
    return found if len(found) == len(_FIELDS) else None


def _imported() -> dict[str, str | None]:
    import torch

    return {
        "version": str(torch.__version__),
        "cuda": torch.version.cuda,
        "git": torch.version.git_version,
        "hip": torch.version.hip,
    }
