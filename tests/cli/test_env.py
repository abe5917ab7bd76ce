"""`benchbase env` says what each vendor found on this machine, or in one line why it found nothing."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess

Bench = Callable[..., CompletedProcess[str]]


def test_cpu_vendor_finds_the_host(bench: Bench) -> None:
    result = bench("env", "--vendor", "cpu")
    assert result.returncode == 0, result.stderr
    assert "cpu: 1 device(s)" in result.stdout and '"sdk": "torch' in result.stdout


def test_vendors_without_hardware_say_what_they_looked_for(bench: Bench) -> None:
    result = bench("env")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    nvidia = next(line for line in lines if line.startswith("nvidia:"))
    iluvatar = next(line for line in lines if line.startswith("iluvatar:"))
    assert "nothing found: no NVIDIA GPU found" in nvidia
    assert "nothing found: no Iluvatar BI-V100 found: looked for libixml.so" in iluvatar
