"""Finding Iluvatar devices: libixml.so first, ixsmi second, and one clear error when neither answers.

Everything the search touches (environment, PATH lookup, process runner, library loader, pynvml module) is a field
of :class:`Probe`, so tests can stand in for the absent hardware without patching globals.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.kit import import_pynvml
from benchbase.errors import BenchbaseError
from benchbase_iluvatar.ixml import STANDARD_PATHS, IxmlSession, locate_ixml, looked_for
from benchbase_iluvatar.ixsmi import COREX_IXSMI, IxsmiTool, Runner, find_ixsmi

Backend = IxmlSession | IxsmiTool

_FIX = "install the CoreX driver and SDK (or set IXML_LIBRARY to libixml.so), or pick another --vendor"


@dataclass(frozen=True)
class Probe:
    """How to look for the hardware; the defaults are the real machine."""

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    library_paths: Sequence[Path] = STANDARD_PATHS
    which: Callable[[str], str | None] = shutil.which
    ixsmi_paths: Sequence[Path] = (COREX_IXSMI,)
    run: Runner = subprocess.run
    cdll: Callable[[str], Any] = ctypes.CDLL
    nvml: Any = None

    def open(self) -> Backend:
        """The first backend that answers; the error names everything looked for and why ixml failed, if it did."""
        visible = self.env.get("CUDA_VISIBLE_DEVICES")
        ixml_problem = ""
        library = locate_ixml(self.env, self.library_paths)
        if library is not None:
            try:
                nvml = self.nvml
                if nvml is None:
                    nvml = import_pynvml("cannot drive libixml.so", "pip install nvidia-ml-py")
                return IxmlSession(nvml, library, visible, self.cdll)
            except BenchbaseError as exc:
                ixml_problem = f"; {exc}"
        looked = f"looked for libixml.so ({looked_for(self.library_paths)}) and ixsmi on PATH"
        executable = find_ixsmi(self.which, self.ixsmi_paths)
        if executable is None:
            raise BenchbaseError(f"no Iluvatar BI-V100 found: {looked}{ixml_problem}", _FIX)
        try:
            return IxsmiTool(executable, visible, self.run)
        except BenchbaseError as exc:
            raise BenchbaseError(f"no Iluvatar BI-V100 found: {looked}{ixml_problem}; {exc}", _FIX) from exc
