"""Watching every training step's loss for a non-finite value without making the host wait for the device.

A NaN loss at a step nobody logs would otherwise train on to the budget and be recorded as an ordinary
``not_converged`` run. Reading each step's loss on the host would drain the device's launch queue every step, so
the check is a device-side flag: each step folds "was my loss finite?" into one integer tensor (the first step
whose loss was not), and the loop reads it only where it synchronises anyway: log points, evaluations and
checkpoints. An update the fp16 loss scaler skips for overflowing gradients has a finite loss and never counts.
"""

from __future__ import annotations

import torch

#: The flag's value while every loss was finite: a step count no run reaches, exact in float64 (the collective
#: that carries the flag beside the logged loss is float64).
NEVER = 2**52


class DivergenceWatch:
    """The first step whose training loss was not finite, on the device until the loop reads it."""

    def __init__(self, device: torch.device) -> None:
        self._first = torch.full((), NEVER, dtype=torch.int64, device=device)
        #: The first non-finite step every rank agreed on, once a read found one.
        self.first_step: int | None = None
        self._read_at: int | None = None

    def track(self, loss: torch.Tensor, step: int) -> None:
        """Fold one step's loss into the flag: queued device work, no host synchronisation."""
        self._first = torch.where(torch.isfinite(loss.detach()), self._first, self._first.clamp(max=step))

    @property
    def flag(self) -> torch.Tensor:
        """This rank's flag, for the collective that makes every rank agree."""
        return self._first

    def settle(self, agreed_first: float, step: int) -> bool:
        """Take the smallest flag of all ranks, read at ``step``; True once a non-finite loss was seen."""
        self._read_at = step
        if self.first_step is None and agreed_first < NEVER:
            self.first_step = int(agreed_first)
        return self.first_step is not None

    def read_at(self, step: int) -> bool:
        """Whether the flag was already read at ``step`` (a log point and an evaluation can share one)."""
        return self._read_at == step
