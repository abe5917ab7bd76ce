"""Kubernetes: a pod's place read from the operator's PET_* variables (PyTorchJob, TrainJob), every bad value refused
in one line; the PyTorchJob manifest `--launcher kubernetes` writes, validated against the training operator's
published CRD schema (tests/data/kubernetes, v1.9.0) with no cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from benchbase.contract import JobShape
from benchbase.errors import BenchbaseError
from benchbase.launch.kubernetes import KubernetesLauncher
from benchbase.launch.pet_environment import pod_placement
from benchbase.launch.pytorchjob import RUNS_IN_POD

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "kubernetes" / "pytorchjob-v1.9.0.openapi.yaml"
#: What the training operator v1.9.0 sets in the pod of Worker 0 of a 2-replica PyTorchJob with nprocPerNode "8".
WORKER_0 = {"PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_NPROC_PER_NODE": "8", "PET_MASTER_ADDR": "job-master-0",
            "PET_MASTER_PORT": "23456", "MASTER_ADDR": "job-master-0", "MASTER_PORT": "23456", "WORLD_SIZE": "16",
            "RANK": "1"}


def strict(schema: Any) -> Any:
    """The CRD schema as the API server's strict field validation (``kubectl apply --validate=strict``) reads it:
    an object with declared properties takes no others, unless it is marked to keep unknown fields."""
    if isinstance(schema, dict):
        closed = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict(yaml.safe_load(SCHEMA.read_text())))


def shape(tmp_path: Path, nnodes: int, nproc: int, *, devices: bool, image: str | None = "registry.example.com/b:1",
          argv: list[str] | None = None) -> JobShape:
    return JobShape("cpm", "nvidia" if devices else "cpu", nnodes, nproc, devices_per_node=nproc if devices else None,
                    run_argv=argv or ["run", "cpm", "--vendor", "nvidia", "--config", f"{nnodes}x{nproc}"],
                    master_port=None, out_root=tmp_path / "runs", container_image=image,
                    device_resource="nvidia.com/gpu" if devices else None)


# -- a pod's place --------------------------------------------------------------------------------------------------


def test_a_pytorchjob_worker_takes_its_node_rank_master_and_port_from_pet_variables() -> None:
    place = pod_placement(2, 8, WORKER_0)
    assert (place.node_rank, place.master_addr, place.master_port) == (1, "job-master-0", 23456)


def test_a_trainjob_may_leave_the_processes_per_node_to_torchrun_and_then_config_decides() -> None:
    assert pod_placement(2, 4, {**WORKER_0, "PET_NPROC_PER_NODE": "auto"}).node_rank == 1


def test_a_one_node_job_needs_no_rendezvous() -> None:
    place = pod_placement(1, 1, {"PET_NNODES": "1", "PET_NODE_RANK": "0"})
    assert (place.master_addr, place.master_port) == (None, None)


@pytest.mark.parametrize(("change", "message"), [
    ({"PET_NNODES": "1:4"}, r"PET_NNODES is '1:4', not a whole number of at least 1; an elastic range"),
    ({"PET_NNODES": "3"}, r"--config asks for 2 node\(s\) but this job has PET_NNODES=3"),
    ({"PET_NPROC_PER_NODE": "4"}, r"--config asks for 8 process\(es\) per node but this job has PET_NPROC_PER_NODE=4"),
    ({"PET_NPROC_PER_NODE": "many"}, r"PET_NPROC_PER_NODE is 'many', not a whole number"),
    ({"PET_NODE_RANK": "2"}, r"PET_NODE_RANK=2 is outside 0..1 for 2 node\(s\)"),
    ({"PET_NODE_RANK": "-1"}, r"PET_NODE_RANK is '-1', not a whole number"),
    ({"PET_NODE_RANK": "9" * 5000}, r"PET_NODE_RANK is '9{40}\.\.\.', not a whole number"),
    ({"PET_MASTER_ADDR": "host\nrm -rf"}, r"PET_MASTER_ADDR is 'host\\x0arm -rf', not a host name"),
    ({"PET_MASTER_PORT": "70000"}, r"PET_MASTER_PORT is '70000', not a port from 1 to 65535"),
    ({"PET_MASTER_PORT": ""}, r"PET_MASTER_PORT is '', not a port"),
])
def test_a_bad_pet_variable_is_one_line_naming_it_and_the_fix(change: dict[str, str], message: str) -> None:
    with pytest.raises(BenchbaseError, match=message) as caught:
        pod_placement(2, 8, {**WORKER_0, **change})
    assert "\n" not in str(caught.value)


def test_a_pod_without_its_node_rank_is_refused() -> None:
    without = {key: value for key, value in WORKER_0.items() if key != "PET_NODE_RANK"}
    with pytest.raises(BenchbaseError, match="this pod has PET_NNODES but no PET_NODE_RANK"):
        pod_placement(2, 8, without)


def test_the_launcher_runs_only_in_a_placed_pod_and_asks_the_core_nothing_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = KubernetesLauncher()
    for name in WORKER_0:
        monkeypatch.delenv(name, raising=False)
    assert not launcher.runs_here(), "outside a job it writes the manifest"
    for name, value in WORKER_0.items():
        monkeypatch.setenv(name, value)
    assert launcher.runs_here()
    assert launcher.rendezvous(2, 8, 0, None, None, dry_run=False) == (1, "job-master-0", 23456)
    assert launcher.rendezvous(2, 8, 0, "10.0.0.9", 29600, dry_run=False) == (1, "10.0.0.9", 29600), \
        "the command line wins, as it does over torchrun's own PET_* variables"


# -- the manifest ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nnodes", "nproc", "devices"), [(1, 1, False), (2, 1, False), (4, 8, True)])
def test_the_manifest_validates_against_the_operators_crd_schema(
        tmp_path: Path, validator: jsonschema.Draft7Validator, nnodes: int, nproc: int, devices: bool) -> None:
    manifest = KubernetesLauncher().submission(shape(tmp_path, nnodes, nproc, devices=devices))
    document = yaml.safe_load(manifest.text())
    assert list(validator.iter_errors(document)) == []
    specs = document["spec"]["pytorchReplicaSpecs"]
    assert specs["Master"]["replicas"] == 1 and specs.get("Worker", {"replicas": 0})["replicas"] == nnodes - 1
    container = specs["Master"]["template"]["spec"]["containers"][0]
    assert container["resources"] == ({"limits": {"nvidia.com/gpu": str(nproc)}} if devices
                                      else {"requests": {"cpu": str(nproc)}}), "one device (or CPU) per rank"
    assert container["command"][-4:] == ["--launcher", "kubernetes", "--out", RUNS_IN_POD], "records on the volume"
    assert document["spec"]["nprocPerNode"] == str(nproc)


def test_the_validation_has_teeth_a_misspelled_or_mistyped_field_fails(
        tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    document = KubernetesLauncher().submission(shape(tmp_path, 2, 8, devices=True)).document()
    misspelled = copy.deepcopy(document)
    misspelled["spec"]["pytorchReplicaSpecs"]["Master"]["replica"] = 1
    mistyped = copy.deepcopy(document)
    mistyped["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "one"
    assert list(validator.iter_errors(misspelled)) and list(validator.iter_errors(mistyped))


def test_the_pods_repeat_the_users_run_without_the_options_the_manifest_sets(tmp_path: Path) -> None:
    argv = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "2x1", "--dry-run", "--launcher",
            "kubernetes", "--container-image=b:1", "--out", "elsewhere", "--master-port", "1234"]
    manifest = KubernetesLauncher().submission(shape(tmp_path, 2, 1, devices=False, argv=argv))
    assert manifest.run_command == ["benchbase", "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "2x1"]
    assert manifest.master_port == 29500 and manifest.manifest_path == tmp_path / "kubernetes" / f"{manifest.name}.yaml"


@pytest.mark.parametrize("image", ["Registry/UPPER:1", "bench mark", "b:1;rm -rf /", "b:", "b@sha256:abc"])
def test_a_bad_image_name_is_refused_in_one_line(tmp_path: Path, image: str) -> None:
    with pytest.raises(BenchbaseError, match=r"--container-image '.*' is not a container image reference; give"):
        KubernetesLauncher().submission(shape(tmp_path, 2, 1, devices=False, image=image))


def test_a_manifest_needs_an_image(tmp_path: Path) -> None:
    with pytest.raises(BenchbaseError, match="pass --container-image IMAGE"):
        KubernetesLauncher().submission(shape(tmp_path, 2, 1, devices=False, image=None))


def test_a_control_character_in_the_run_never_reaches_the_manifest(tmp_path: Path) -> None:
    argv = ["run", "cpm", "--vendor", "cpu", "--set", "seed=1\nrm"]
    with pytest.raises(BenchbaseError, match=r"holds a control character \(seed=1\\x0arm\)"):
        KubernetesLauncher().submission(shape(tmp_path, 2, 1, devices=False, argv=argv))


def test_a_vendors_resource_name_that_kubernetes_would_refuse_is_refused_first(tmp_path: Path) -> None:
    job = shape(tmp_path, 2, 8, devices=True)
    bad = JobShape(**{**job.__dict__, "device_resource": "gpu\nimage: evil"})
    with pytest.raises(BenchbaseError, match=r"kubernetes_resource 'gpu\\x0aimage: evil' is not a Kubernetes"):
        KubernetesLauncher().submission(bad)
