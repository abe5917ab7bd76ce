"""env.json's provenance from stand-in facts: libraries as a CUDA, a ROCm and a CPU build of torch report them (no
GPU here: the facts are given, as torch would give them), revisions from each kind of installation PEP 610
describes (a real git checkout made here for the local-folder case), and the scheduler's job from its variables."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import Distribution
from pathlib import Path

import pytest

from benchbase.hardware.code_revisions import git_revision, revision_of
from benchbase.hardware.libraries import TorchLibraries, cudnn_version, describe_libraries, torch_libraries
from benchbase.launch.job_identity import job_identity
from benchbase.record.provenance_summary import provenance_summary

CUDA = TorchLibraries("2.5.1+cu124", None, (2, 21, 5), 90100, None)
ROCM = TorchLibraries("2.5.1+rocm6.2", "6.2.41133", (2, 20, 5), 3002000, None)
CPU = TorchLibraries("2.13.0+cpu", None, None, None, "3.12.0")


def test_a_cuda_build_names_nccl_and_cudnn_with_their_versions() -> None:
    assert describe_libraries("nccl", CUDA, {}) == {
        "communication": {"library": "nccl", "version": "2.21.5"},
        "kernels": {"library": "cudnn", "version": "9.1.0"},
    }


def test_a_rocm_build_names_rccl_and_miopen() -> None:
    described = describe_libraries("nccl", ROCM, {})
    assert described["communication"] == {"library": "rccl", "version": "2.20.5"}
    assert described["kernels"] == {"library": "miopen", "version": "3002000"}


def test_the_host_cpu_uses_gloo_built_into_torch_and_onednn() -> None:
    assert describe_libraries("gloo", CPU, {}) == {
        "communication": {"library": "gloo", "version": "built into torch 2.13.0+cpu"},
        "kernels": {"library": "onednn", "version": "3.12.0"},
    }


def test_a_vendors_own_account_replaces_the_cores_reading_and_a_malformed_one_is_ignored() -> None:
    said = {"communication": {"library": "ixccl", "version": "1.2"}, "kernels": {"library": 7}}
    described = describe_libraries("nccl", CUDA, said)
    assert described["communication"] == {"library": "ixccl", "version": "1.2"}
    assert described["kernels"] == {"library": "cudnn", "version": "9.1.0"}


@pytest.mark.parametrize(("number", "text"), [(90100, "9.1.0"), (91002, "9.10.2"), (8902, "8.9.2"), (7605, "7.6.5")])
def test_cudnn_version_numbers_are_read_in_both_packings(number: int, text: str) -> None:
    assert cudnn_version(number) == text


def test_this_machines_torch_is_read_without_error() -> None:
    facts = torch_libraries()
    assert facts.torch_version.startswith("2.") and facts.nccl is None, "the CPU wheel has no NCCL"


class Installed(Distribution):
    """A distribution as importlib.metadata sees it, from its metadata files."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files_text = files

    def read_text(self, filename: str) -> str | None:
        return self.files_text.get(filename)

    def locate_file(self, path: str | Path) -> Path:
        return Path(path)


def test_an_install_from_a_repository_is_pinned_by_its_commit() -> None:
    direct = {"url": "https://example.com/b.git", "vcs_info": {"vcs": "git", "commit_id": "c" * 40}}
    assert revision_of(Installed({"direct_url.json": json.dumps(direct)})) == {
        "revision": "git " + "c" * 40, "source": "installed from a repository"}


def test_an_install_from_a_wheel_file_is_pinned_by_its_hash() -> None:
    direct = {"url": "file:///w/b-1.0-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "d" * 64}}}
    assert revision_of(Installed({"direct_url.json": json.dumps(direct)}))["revision"] == "sha256=" + "d" * 64


def test_an_install_from_an_index_is_pinned_by_its_installed_files() -> None:
    found = revision_of(Installed({"RECORD": "b/__init__.py,sha256=abc,10\n"}))
    assert found["source"] == "installed files" and found["revision"].startswith("record sha256=")


def test_a_local_checkout_is_pinned_by_its_commit_and_marked_dirty_once_edited(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "plugin.py").write_text("A = 1\n")
    git("add", "plugin.py")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "first")
    direct = json.dumps({"url": tmp_path.as_uri(), "dir_info": {"editable": True}})
    assert revision_of(Installed({"direct_url.json": direct}))["revision"] == f"git {git('rev-parse', 'HEAD')}"
    (tmp_path / "plugin.py").write_text("A = 2\n")
    git_revision.cache_clear()
    assert revision_of(Installed({"direct_url.json": direct}))["revision"].endswith("+dirty")
    git_revision.cache_clear()


def test_a_folder_outside_git_has_no_revision(tmp_path: Path) -> None:
    direct = json.dumps({"url": tmp_path.as_uri(), "dir_info": {}})
    assert revision_of(Installed({"direct_url.json": direct})) == {"revision": None, "source": "git checkout"}


def test_the_job_is_slurms_or_the_pods_and_none_outside_a_scheduler() -> None:
    assert job_identity({"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "bench"}) == {
        "scheduler": "slurm", "job_id": "4242", "job_name": "bench"}
    pod = job_identity({"BENCHBASE_POD_NAME": "bench-worker-0", "BENCHBASE_POD_NAMESPACE": "ml",
                        "BENCHBASE_JOB_NAME": "bench", "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert pod == {"scheduler": "kubernetes", "job_id": "bench", "pod": "bench-worker-0", "namespace": "ml"}
    assert job_identity({"HOME": "/root"}) is None


def test_a_job_name_from_the_environment_cannot_inject_a_line() -> None:
    found = job_identity({"SLURM_JOB_ID": "1\n\x1b[2J", "SLURM_JOB_NAME": "x" * 1000})
    assert found is not None and found["job_id"] == "1\\x0a\\x1b[2J" and len(found["job_name"]) == 253


def test_the_summary_labels_each_part_and_a_record_without_provenance_has_none() -> None:
    env = {"provenance": {**describe_libraries("nccl", CUDA, {}),
                          "code": {"benchbase-core": {"version": "0.1.0", "revision": "git abc", "source": "git"}},
                          "job": {"scheduler": "kubernetes", "job_id": "bench", "pod": "bench-master-0"}}}
    assert provenance_summary(env) == {"communication": "nccl 2.21.5", "kernels": "cudnn 9.1.0",
                                       "code": {"benchbase-core": "git abc"},
                                       "job": "kubernetes job bench, pod bench-master-0"}
    assert provenance_summary({"host": {}}) is None
