"""CPU package energy from Intel RAPL counters in the Linux powercap tree.

Each package domain (``/sys/class/powercap/intel-rapl:N`` whose ``name`` starts with ``package``; AMD Zen exposes
the same tree) holds ``energy_uj``, a microjoule counter that wraps at ``max_energy_range_uj``. Sub-domains
(``intel-rapl:N:M``: cores, uncore, dram) are parts of a package and are not added again. Since Linux 5.10 the
counter is readable by root only on many distributions; an unreadable counter means "no power reading", never zero.
"""

from __future__ import annotations

import re
from pathlib import Path


class RaplCounter:
    """Cumulative package energy across all sockets, corrected for counter wrap-around."""

    def __init__(self, sysfs_root: Path) -> None:
        base = Path(sysfs_root) / "class/powercap"
        self._domains: list[tuple[Path, int]] = []
        if base.is_dir():
            for zone in sorted(base.iterdir()):
                if not re.fullmatch(r"intel-rapl:\d+", zone.name):
                    continue
                try:
                    name = (zone / "name").read_text().strip()
                    max_range = int((zone / "max_energy_range_uj").read_text())
                    int((zone / "energy_uj").read_text())
                except (OSError, ValueError):
                    continue
                if name.startswith("package"):
                    self._domains.append((zone / "energy_uj", max_range))
        self._last: list[int] | None = self._raw()
        self._total_uj = 0

    @property
    def available(self) -> bool:
        return self._last is not None

    def _raw(self) -> list[int] | None:
        if not self._domains:
            return None
        try:
            return [int(path.read_text()) for path, _ in self._domains]
        except (OSError, ValueError):
            return None

    def energy_j(self) -> float | None:
        """Joules used by all packages since this counter was created; ``None`` when RAPL is unreadable."""
        now = self._raw()
        if now is None or self._last is None:
            return None
        for (_, max_range), before, after in zip(self._domains, self._last, now):
            self._total_uj += after - before if after >= before else after + max_range - before
        self._last = now
        return self._total_uj / 1e6
