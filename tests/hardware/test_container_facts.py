"""What ``env.json``'s ``container`` says, from stand-ins of what each runtime shows inside its containers (a folder
standing for ``/``, a dict for the environment); tests/cli/test_container.py runs a real podman container."""

from __future__ import annotations

from pathlib import Path

from benchbase.hardware.container import PYXIS_IMAGE_VAR, PYXIS_MOUNTS_VAR, container_facts

DOCKER_ID = "4f" * 32


def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_bare_host_is_no_container(tmp_path: Path) -> None:
    root = _root(tmp_path, {"proc/self/cgroup": "0::/user.slice/user-1000.slice/session-2.scope\n"})
    assert container_facts({}, root) is None


def test_podman_names_its_image_and_image_id_in_run_containerenv(tmp_path: Path) -> None:
    root = _root(tmp_path, {"run/.containerenv": (
        'engine="podman-4.3.1"\nname="bench"\nid="' + "ab" * 32 + '"\nimage="localhost/vendor-sdk:24.1"\n'
        'imageid="' + "cd" * 32 + '"\nrootless=0\n')})
    facts = container_facts({"container": "podman"}, root)
    assert facts == {
        "runtime": "podman", "image": "localhost/vendor-sdk:24.1", "image_id": "cd" * 32, "container_id": "ab" * 32,
        "name": "bench", "engine": "podman-4.3.1", "mounts": None, "sources": ["/run/.containerenv", "$container"],
    }


def test_an_unprivileged_podman_container_is_still_podman_without_an_image(tmp_path: Path) -> None:
    facts = container_facts({}, _root(tmp_path, {"run/.containerenv": ""}))
    assert facts is not None and facts["runtime"] == "podman" and facts["image"] is None


def test_docker_shows_no_image_but_its_container_id_in_the_cgroup_path(tmp_path: Path) -> None:
    root = _root(tmp_path, {".dockerenv": "", "proc/self/cgroup": f"0::/system.slice/docker-{DOCKER_ID}.scope\n"})
    facts = container_facts({}, root)
    assert facts is not None
    assert (facts["runtime"], facts["image"], facts["container_id"]) == ("docker", None, DOCKER_ID)
    assert facts["sources"] == ["/.dockerenv", "/proc/self/cgroup"]


def test_pyxis_names_the_image_srun_was_given_before_anything_else(tmp_path: Path) -> None:
    environ = {PYXIS_IMAGE_VAR: "nvcr.io#nvidia/pytorch:24.05-py3", PYXIS_MOUNTS_VAR: "/data:/data:ro"}
    facts = container_facts(environ, _root(tmp_path, {".dockerenv": ""}))
    assert facts is not None
    assert (facts["runtime"], facts["image"], facts["mounts"]) == (
        "pyxis/enroot", "nvcr.io#nvidia/pytorch:24.05-py3", "/data:/data:ro")


def test_values_with_control_characters_or_of_any_length_are_dropped_not_recorded(tmp_path: Path) -> None:
    root = _root(tmp_path, {"run/.containerenv": 'image="evil\x1b[2J"\nname="' + "n" * 600 + '"\nid="ok"\n'})
    facts = container_facts({PYXIS_IMAGE_VAR: "a\nb"}, root)
    assert facts is not None
    assert (facts["runtime"], facts["image"], facts["name"], facts["container_id"]) == ("podman", None, None, "ok")
