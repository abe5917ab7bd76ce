"""Iluvatar's command-line tool ``ixsmi`` (an ``nvidia-smi`` work-alike), the fallback when libixml.so is unusable.

Queries use ``--query-gpu=...`` with ``--format=csv,noheader,nounits`` and run as an argument list, never through a
shell. Fields a board does not report come back as ``N/A`` / ``[N/A]`` / ``[Not Supported]`` and read as ``None``.
Units are parsed when present anyway (``45.00 W``, ``1024 MiB``), since some builds print them despite ``nounits``.
The power field is ``power.draw`` on CoreX 3.x (the BI-V100 generation); 4.x renamed it ``gpu.power.draw``, which is
tried when the tool rejects the first name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchbase.contract import DeviceInfo, SensorReading, Sensors
from benchbase.cuda_like import visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.topology import normalise_pci_bus_id
from benchbase_iluvatar.models import short_model

COREX_IXSMI = Path("/usr/local/corex/bin/ixsmi")
DEVICE_FIELDS = ("index", "name", "uuid", "memory.total", "pci.bus_id")
SENSOR_FIELDS = ("index", "power.draw", "memory.used", "memory.total", "utilization.gpu", "temperature.gpu")
_POWER_FIELDS = ("power.draw", "gpu.power.draw")
_MISSING = {"", "n/a", "[n/a]", "not supported", "[not supported]", "unknown", "[unknown]"}
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$")
_GIB_PER = {"": 1 / 1024, "mib": 1 / 1024, "mb": 1 / 1024, "gib": 1.0, "gb": 1.0}

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def find_ixsmi(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """``ixsmi`` on PATH, else CoreX's standard location."""
    return which("ixsmi") or (str(COREX_IXSMI) if COREX_IXSMI.is_file() else None)


def parse_csv(text: str, fields: Sequence[str]) -> list[dict[str, str | None]]:
    """Rows of a ``csv,noheader`` answer as field -> raw text (``None`` for N/A); malformed lines are dropped."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(fields) or not cells[0].isdigit():
            continue
        rows.append({f: (None if c.lower() in _MISSING else c) for f, c in zip(fields, cells)})
    return rows


def number(cell: str | None) -> tuple[float, str] | None:
    """A numeric cell and its unit (lower case, ``""`` when none); ``None`` for N/A or text."""
    match = _NUMBER.match(cell) if cell is not None else None
    return (float(match.group(1)), match.group(2).lower()) if match else None


def gib(cell: str | None) -> float | None:
    """Memory cell in GiB; ixsmi reports MiB (the unit when none is printed)."""
    parsed = number(cell)
    if parsed is None or parsed[1] not in _GIB_PER:
        return None
    return parsed[0] * _GIB_PER[parsed[1]]


def plain(cell: str | None) -> float | None:
    """A cell in its only unit (W, %, C)."""
    parsed = number(cell)
    return parsed[0] if parsed is not None else None


def sensor_readings(rows: Sequence[dict[str, str | None]], devices: Sequence[tuple[int, int]]) -> list[SensorReading]:
    """Readings for ``devices`` (record index, ixsmi index); a device missing from the answer reads all ``None``."""
    by_index = {int(row["index"] or -1): row for row in rows}
    readings = []
    for record, physical in devices:
        row = by_index.get(physical, {})
        readings.append(
            SensorReading(
                device=record,
                power_w=plain(row.get("power.draw")),
                memory_used_gib=gib(row.get("memory.used")),
                memory_total_gib=gib(row.get("memory.total")),
                utilization_pct=plain(row.get("utilization.gpu")),
                temperature_c=plain(row.get("temperature.gpu")),
            )
        )
    return readings


class IxsmiTool:
    """Discovery and telemetry by running ``ixsmi``; ``run`` is ``subprocess.run`` unless a test replays outputs."""

    source = "ixsmi"

    def __init__(self, executable: str, visible: str | None = None, run: Runner = subprocess.run) -> None:
        self.executable = executable
        self._run = run
        self._power_field = _POWER_FIELDS[0]
        self._device_rows = parse_csv(self.query(DEVICE_FIELDS), DEVICE_FIELDS)
        self.physical_indices = visible_device_order(visible, [row["uuid"] for row in self._device_rows])

    def query(self, fields: Sequence[str]) -> str:
        """Raw stdout of one ``--query-gpu`` call; a failed call is a :class:`BenchbaseError` naming ixsmi's words."""
        args = [self.executable, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
        try:
            done = self._run(args, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BenchbaseError(f"ixsmi failed to run ({exc})", "check the CoreX installation") from exc
        if done.returncode != 0:
            said = " ".join((done.stdout + " " + done.stderr).split()) or f"exit status {done.returncode}"
            raise BenchbaseError(f"ixsmi {' '.join(args[1:])} failed: {said}", "check the CoreX driver with ixsmi")
        return done.stdout

    def sensor_rows(self) -> list[dict[str, str | None]]:
        """One sensor query, switching to CoreX 4.x's power field name once if the tool rejects ``power.draw``."""
        for _ in _POWER_FIELDS:
            fields = [self._power_field if f == "power.draw" else f for f in SENSOR_FIELDS]
            try:
                text = self.query(fields)
            except BenchbaseError as exc:
                if "not a valid field" not in str(exc) or self._power_field == _POWER_FIELDS[-1]:
                    raise
                self._power_field = _POWER_FIELDS[-1]
                continue
            return parse_csv(text, SENSOR_FIELDS)
        return []

    def devices(self) -> list[DeviceInfo]:
        found = []
        for index, physical in enumerate(self.physical_indices):
            row = self._device_rows[physical]
            name = row["name"] or "unknown Iluvatar device"
            bus = row["pci.bus_id"]
            found.append(
                DeviceInfo(
                    index=index,
                    model=short_model(name),
                    memory_total_gib=gib(row["memory.total"]),
                    pci_bus_id=normalise_pci_bus_id(bus) if bus else None,
                    extra={"name": name, "physical_index": int(row["index"] or physical), "telemetry": self.source},
                )
            )
        return found

    def driver_version(self) -> str | None:
        """ixsmi's CSV interface has no driver field that every CoreX release accepts, so this stays unknown."""
        return None

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        return IxsmiSensors(self, [(i, int(self._device_rows[self.physical_indices[i]]["index"] or 0)) for i in device_indices])

    def close(self) -> None:
        """Nothing is held open between ixsmi runs."""


class IxsmiSensors(Sensors):
    """Runs one ixsmi query per sample. A failed run yields all-``None`` readings: the sampler must not stop."""

    def __init__(self, tool: IxsmiTool, devices: Sequence[tuple[int, int]]) -> None:
        self._tool = tool
        self._devices = list(devices)

    def read(self) -> list[SensorReading]:
        try:
            rows: Any = self._tool.sensor_rows()
        except BenchbaseError:
            rows = []
        return sensor_readings(rows, self._devices)
