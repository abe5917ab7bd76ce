"""Torch's facts in a record: the build read from its files (no import), the runtime asked of the imported torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from benchbase.hardware.host import host_basics, host_facts
from benchbase.hardware.torch_build import torch_build


def test_the_build_read_from_torchs_files_is_what_torch_version_says() -> None:
    assert torch_build() == {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "git": torch.version.git_version,
        "hip": torch.version.hip,
    }


def test_reading_the_build_imports_no_torch() -> None:
    probe = "import sys; from benchbase.hardware.torch_build import torch_build; torch_build(); " \
            "print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_a_version_file_that_is_not_plain_literals_is_asked_of_torch_instead(tmp_path: Path) -> None:
    from benchbase.hardware import torch_build as module

    (tmp_path / "version.py").write_text("__version__ = compute()\ncuda = None\ngit_version = 'x'\nhip = None\n")
    assert module._literals(tmp_path / "version.py") is None
    (tmp_path / "version.py").write_text("__version__ = '9.9'\ncuda = None\n")
    assert module._literals(tmp_path / "version.py") is None  # a field missing: not this file's word alone
    assert module._imported()["version"] == torch.__version__


def test_the_record_has_the_runtime_facts_only_the_imported_torch_knows() -> None:
    facts = host_facts()
    assert facts["torch"] == {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "git": torch.version.git_version,
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "onednn": torch.backends.mkldnn.is_available(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }
    assert {key: facts[key] for key in host_basics()} == host_basics()
