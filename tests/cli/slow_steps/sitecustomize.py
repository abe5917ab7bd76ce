"""A test hook that slows training for real: with ``SLOW_STEPS_SLEEP_S`` set, every process that imports this (it is
put on ``PYTHONPATH``, so Python imports it at start-up, the run's workers included) sleeps that long after each
optimizer step, through torch's global optimizer step hook. The run, its record and its figures are otherwise the
ordinary ones: the regression gate's test compares such a slowed group with unslowed ones."""

import os

_SLEEP_S = float(os.environ.get("SLOW_STEPS_SLEEP_S") or 0)

if _SLEEP_S > 0:
    import time

    import torch.optim.optimizer

    def _sleep_after_step(optimizer, args, kwargs):
        time.sleep(_SLEEP_S)

    torch.optim.optimizer.register_optimizer_step_post_hook(_sleep_after_step)
