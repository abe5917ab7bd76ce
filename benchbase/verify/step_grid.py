"""The step events of one attempt against the series the loop writes them on, read one event at a time.

The loop writes a step event every ``log_interval`` steps from the attempt's first step, so a whole attempt's steps
are exactly ``first, first + interval, ...`` up to its last step. A million-step log cannot be held to compare, so
this keeps what the comparison and its finding need: whether the steps so far are the series' first ones in order,
how many there were, the first few (to quote), and which places of the series were seen, as runs of consecutive
places (one run for a whole log, one more per gap: memory grows with the faults, not with the log).
"""

from __future__ import annotations

import bisect

#: How many steps a finding quotes before "...".
QUOTED = 6


class StepGrid:
    """The steps seen of the series ``start, start + every, ...`` (``every`` is never 0)."""

    def __init__(self, start: int, every: int) -> None:
        self.start, self.every = start, every
        self.count = 0
        self.in_order = True
        self.quoted: list[int | None] = []
        self.last: int | None = None
        self._lows: list[int] = []
        self._highs: list[int] = []

    def add(self, step: int | None) -> None:
        """One step event's step (``None`` for one without a whole number)."""
        if len(self.quoted) < QUOTED:
            self.quoted.append(step)
        place = self._place(step)
        if place != self.count:
            self.in_order = False
        self.count += 1
        self.last = step
        if place is not None:
            self._see(place)

    def matches(self, places: int) -> bool:
        """Whether the steps were exactly the series' first ``places`` steps, in order."""
        return self.in_order and self.count == places

    def lowest_missing(self, places: int) -> int | None:
        """The lowest step of the series' first ``places`` that no event had, or ``None``."""
        if self.every > 0:
            place = 0
            for low, high in zip(self._lows, self._highs):
                if low > place:
                    break
                place = max(place, high + 1)
            return self.start + place * self.every if place < places else None
        place = places - 1  # a descending series: its lowest step is its last place
        for low, high in zip(reversed(self._lows), reversed(self._highs)):
            if low > place:
                continue
            if high < place:
                break
            place = low - 1
        return self.start + place * self.every if place >= 0 else None

    def listing(self) -> str:
        shown = ", ".join(str(step) for step in self.quoted)
        return shown + (", ..." if self.count > QUOTED else "")

    def _place(self, step: int | None) -> int | None:
        if step is None:
            return None
        place, off = divmod(step - self.start, self.every)
        return place if off == 0 and place >= 0 else None

    def _see(self, place: int) -> None:
        lows, highs = self._lows, self._highs
        if lows and lows[-1] <= place <= highs[-1] + 1:  # nearly every step: the next place of the last run
            highs[-1] = max(highs[-1], place)
            return
        index = bisect.bisect_right(lows, place)
        if index and highs[index - 1] >= place - 1:
            highs[index - 1] = max(highs[index - 1], place)
            if index < len(lows) and highs[index - 1] + 1 >= lows[index]:
                highs[index - 1] = max(highs[index - 1], highs[index])
                del lows[index], highs[index]
        elif index < len(lows) and lows[index] == place + 1:
            lows[index] = place
        else:
            lows.insert(index, place)
            highs.insert(index, place)
