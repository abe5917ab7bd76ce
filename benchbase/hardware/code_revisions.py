"""Which code a run ran: the revision of the core and of every installed plugin distribution, for ``env.json``.

A version number says little of a checkout someone edited: two runs of ``benchbase-cpm 0.1.0`` can train different
models. So each distribution is pinned by what its installation says it was made from (PEP 610's
``direct_url.json``, read through ``importlib.metadata``): a git commit for an install from a repository
(``vcs_info``), the archive's hash for an install from a wheel or sdist file (``archive_info``), and for a local
folder (``dir_info``, editable or not) the commit its git checkout is at, marked ``+dirty`` when tracked files
differ from it. A distribution installed from an index has no ``direct_url.json``: its own ``RECORD`` (the sha256 of
every installed file) is hashed instead, which names the installed files exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from importlib.metadata import Distribution, PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from benchbase.contract.hookspecs import PROJECT as ENTRY_POINT_GROUP

#: The core's own distribution (as :data:`benchbase.hardware.host.CORE_DISTRIBUTION`).
CORE = "benchbase-core"
#: Seconds one git command may take: a revision is a fact worth a moment, never a stuck run.
_GIT_TIMEOUT_S = 10


def code_revisions() -> dict[str, dict[str, Any]]:
    """Every distribution of the core and the installed plugins: its version, revision and what the revision is."""
    found: dict[str, Distribution] = {}
    try:
        found[CORE] = distribution(CORE)
    except PackageNotFoundError:
        pass
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.metadata["Name"]:
            found.setdefault(str(dist.metadata["Name"]).lower(), dist)
    return {name: {"version": dist.version, **revision_of(dist)} for name, dist in sorted(found.items())}


def revision_of(dist: Distribution) -> dict[str, Any]:
    """``{"revision": TEXT or None, "source": HOW}`` for one installed distribution (see the module docstring)."""
    direct = _direct_url(dist)
    vcs, archive, folder = direct.get("vcs_info"), direct.get("archive_info"), direct.get("dir_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("commit_id"), str):
        return {"revision": f"{vcs.get('vcs', 'vcs')} {vcs['commit_id']}", "source": "installed from a repository"}
    if isinstance(archive, dict):
        hashes = archive.get("hashes")
        digest = (f"sha256={hashes['sha256']}" if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str)
                  else archive.get("hash"))
        if isinstance(digest, str):
            return {"revision": digest, "source": "installed from an archive"}
    if isinstance(folder, dict) and isinstance(direct.get("url"), str):
        url = urlparse(direct["url"])
        if url.scheme == "file":
            return {"revision": git_revision(Path(unquote(url.path))), "source": "git checkout"}
    record = dist.read_text("RECORD")
    if record:
        return {"revision": "record sha256=" + hashlib.sha256(record.encode()).hexdigest(),
                "source": "installed files"}
    return {"revision": None, "source": "unknown"}


@functools.cache
def git_revision(folder: Path) -> str | None:
    """The commit ``folder``'s git checkout is at, ``+dirty`` when tracked files differ; ``None`` outside a
    checkout or without git (cached: a ``--repeat`` asks once)."""
    head = _git(folder, "rev-parse", "HEAD")
    if head is None:
        return None
    changes = _git(folder, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", ".")
    return f"git {head}" + ("+dirty" if changes else "")


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _direct_url(dist: Distribution) -> dict[str, Any]:
    try:
        data = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
