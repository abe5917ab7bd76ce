"""Whether this process runs inside a container, and which: ``env.json``'s ``container``.

A vendor's result depends on the image its SDK and PyTorch build came in, so a record names the image where the
runtime says which it is. Nothing here asks the runtime (no socket, no command): only what the container itself
shows from inside, each fact from the first source below that has it (docs/launch.md, "Containers", lists them):

- pyxis/enroot under Slurm: pyxis hands its ``srun --container-image`` option to the task's environment as
  ``SLURM_SPANK__SLURM_SPANK_OPTION_pyxis_container_image`` (and the mounts as ``..._container_mounts``);
- podman: ``/run/.containerenv``, whose ``engine``, ``name``, ``id``, ``image`` and ``imageid`` lines podman fills for
  a ``--privileged`` container (an empty file otherwise, which still says "podman");
- docker: ``/.dockerenv`` (docker shows no image name inside a container);
- the ``container`` variable that podman, systemd-nspawn and LXC set to their own name;
- the container id that docker, podman (libpod), containerd and CRI-O put in the cgroup path (``/proc/self/cgroup``).

The files and variables are untrusted text: a value with a control character, or over 512 characters, is dropped,
never recorded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.foreign import has_control

#: pyxis's ``srun`` options as the task's environment carries them (Slurm's SPANK option variables).
PYXIS_IMAGE_VAR = "SLURM_SPANK__SLURM_SPANK_OPTION_pyxis_container_image"
PYXIS_MOUNTS_VAR = "SLURM_SPANK__SLURM_SPANK_OPTION_pyxis_container_mounts"
PODMAN_FILE = "run/.containerenv"
DOCKER_FILE = ".dockerenv"
#: A container id in a cgroup path: ``/docker/<id>``, ``docker-<id>.scope``, ``libpod-<id>``, ``cri-containerd-<id>``.
_CGROUP_ID = re.compile(r"(docker|libpod|crio|cri-containerd|containerd)[-/]([0-9a-f]{64})\b")
_MAX_VALUE = 512


def container_facts(environ: Mapping[str, str] | None = None, root: Path = Path("/")) -> dict[str, Any] | None:
    """The container this process runs in (``runtime``, ``image``, ``image_id``, ``container_id``, ``name``,
    ``engine``, ``mounts`` and ``sources``, the places each came from), or ``None`` where nothing says it is one.
    ``root`` is where the container's files are looked for (tests point it at a folder)."""
    environ = os.environ if environ is None else environ
    facts: dict[str, Any] = {}
    sources: list[str] = []
    pyxis_image = _clean(environ.get(PYXIS_IMAGE_VAR))
    if pyxis_image:
        facts.update(runtime="pyxis/enroot", image=pyxis_image, mounts=_clean(environ.get(PYXIS_MOUNTS_VAR)))
        sources.append(f"${PYXIS_IMAGE_VAR}")
    podman = _containerenv(root / PODMAN_FILE)
    if podman is not None:
        _fill(facts, runtime="podman", engine=podman.get("engine"), name=podman.get("name"),
              container_id=podman.get("id"), image=podman.get("image"), image_id=podman.get("imageid"))
        sources.append(f"/{PODMAN_FILE}")
    if (root / DOCKER_FILE).is_file():
        _fill(facts, runtime="docker")
        sources.append(f"/{DOCKER_FILE}")
    variable = _clean(environ.get("container"))
    if variable:
        _fill(facts, runtime=variable)
        sources.append("$container")
    cgroup_id = _cgroup_container_id(root / "proc" / "self" / "cgroup")
    if cgroup_id is not None:
        _fill(facts, runtime="podman" if cgroup_id[0] == "libpod" else cgroup_id[0], container_id=cgroup_id[1])
        sources.append("/proc/self/cgroup")
    if not sources:
        return None
    return {**{key: facts.get(key) for key in CONTAINER_KEYS}, "sources": sources}


#: ``env.json``'s ``container`` object, in its order (``sources`` last).
CONTAINER_KEYS = ("runtime", "image", "image_id", "container_id", "name", "engine", "mounts")


def _fill(facts: dict[str, Any], **found: str | None) -> None:
    """Keep what an earlier, more specific source said; add what it did not."""
    for key, value in found.items():
        if value and not facts.get(key):
            facts[key] = value


def _clean(value: str | None) -> str | None:
    """An untrusted value as recorded: stripped, or ``None`` when empty, too long or holding a control character."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > _MAX_VALUE or has_control(value):
        return None
    return value


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(64 * 1024)
    except OSError:
        return None


def _containerenv(path: Path) -> dict[str, str] | None:
    """podman's ``KEY="VALUE"`` lines; ``None`` where the file is absent (empty when podman wrote none)."""
    if not path.is_file():
        return None
    text = _read(path)
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        cleaned = _clean(value.strip().strip('"')) if sep else None
        if cleaned and re.fullmatch(r"[a-z]+", key.strip()):
            found[key.strip()] = cleaned
    return found


def _cgroup_container_id(path: Path) -> tuple[str, str] | None:
    """The runtime and container id a cgroup path names, if any."""
    match = _CGROUP_ID.search(_read(path) or "")
    return (match.group(1), match.group(2)) if match else None
