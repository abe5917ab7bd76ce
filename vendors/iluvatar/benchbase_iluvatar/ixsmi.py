"""Iluvatar's command-line tool ``ixsmi`` (an ``nvidia-smi`` work-alike), the fallback when libixml.so is unusable.

Queries use ``--query-gpu=...`` with ``--format=csv,noheader,nounits`` and run as an argument list, never through a
shell. Fields a board does not report come back as ``N/A`` / ``[N/A]`` / ``[Not Supported]`` and read as ``None``.
Units are parsed when present anyway (``45.00 W``, ``1024 MiB``), since some builds print them despite ``nounits``.
The power field is ``power.draw`` on CoreX 3.x (the BI-V100 generation); CoreX 4.x is reported to call it
``gpu.power.draw``, which is tried once when the tool rejects the first name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from benchbase.contract import DeviceInfo, SensorReading, Sensors
from benchbase.kit import visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.kit import normalise_pci_bus_id
from benchbase_iluvatar.models import short_model

COREX_IXSMI = Path("/usr/local/corex/bin/ixsmi")
DEVICE_FIELDS = ("index", "name", "uuid", "memory.total", "pci.bus_id")
SENSOR_FIELDS = ("index", "name", "power.draw", "memory.used", "memory.total", "utilization.gpu", "temperature.gpu")
_POWER_FIELDS = ("power.draw", "gpu.power.draw")
_MISSING = {"", "n/a", "[n/a]", "not supported", "[not supported]", "unknown", "[unknown]"}
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$")
_GIB_PER = {"": 1 / 1024, "mib": 1 / 1024, "mb": 1 / 1024, "gib": 1.0, "gb": 1.0}

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def find_ixsmi(
    which: Callable[[str], str | None] = shutil.which, standard: Sequence[Path] = (COREX_IXSMI,)
) -> str | None:
    """``ixsmi`` on PATH, else CoreX's standard location."""
    return which("ixsmi") or next((str(path) for path in standard if path.is_file()), None)


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
    by_index = {int(str(row["index"])): row for row in rows}
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
        """One sensor query, switching once to CoreX 4.x's power field name if the tool rejects ``power.draw``."""
        try:
            text = self.query(self._sensor_fields())
        except BenchbaseError as exc:
            if "not a valid field" not in str(exc) or self._power_field != _POWER_FIELDS[0]:
                raise
            self._power_field = _POWER_FIELDS[1]
            text = self.query(self._sensor_fields())
        return parse_csv(text, SENSOR_FIELDS)

    def _sensor_fields(self) -> list[str]:
        return [self._power_field if field == "power.draw" else field for field in SENSOR_FIELDS]

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
                    extra={"name": name, "physical_index": int(str(row["index"])), "telemetry": self.source},
                )
            )
        return found

    def driver_version(self) -> str | None:
        try:
            rows = parse_csv(self.query(("index", "driver_version")), ("index", "driver_version"))
        except BenchbaseError:
            return None
        return rows[0]["driver_version"] if rows else None

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        ixsmi_index = [int(str(self._device_rows[p]["index"])) for p in self.physical_indices]
        return IxsmiSensors(self, [(i, ixsmi_index[i]) for i in device_indices])

    def close(self) -> None:
        """Nothing is held open between ixsmi runs."""


class IxsmiSensors(Sensors):
    """Runs one ixsmi query per sample. A failed run yields all-``None`` readings: the sampler must not stop."""

    def __init__(self, tool: IxsmiTool, devices: Sequence[tuple[int, int]]) -> None:
        self._tool = tool
        self._devices = list(devices)

    def read(self) -> list[SensorReading]:
        try:
            rows = self._tool.sensor_rows()
        except BenchbaseError:
            rows = []
        return sensor_readings(rows, self._devices)
