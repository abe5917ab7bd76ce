"""A test hook that slows training for real: with ``SLOW_STEPS_FACTOR`` set, every process that imports this (it is
put on ``PYTHONPATH``, so Python imports it at start-up, the run's workers included) works on after each optimizer
step, through torch's global optimizer step hook, for that factor times as long as the step took since the last one:
a factor of 2 makes every step three times as long, whatever the host's load. It busy-waits rather than sleeps: on a
loaded host the scheduler favours a process that slept, which made a sleeping hook slow the steps by a third instead
of half. The run, its record and its figures are otherwise the ordinary ones: the regression gate's test compares
such a slowed group with unslowed ones."""

import os

_FACTOR = float(os.environ.get("SLOW_STEPS_FACTOR") or 0)

if _FACTOR > 0:
    import time

    from torch.optim.optimizer import register_optimizer_step_post_hook

    _last_end = [None]

    def _work_on_after_step(optimizer, args, kwargs):
        now = time.perf_counter()
        if _last_end[0] is not None:
            until = now + _FACTOR * (now - _last_end[0])
            while time.perf_counter() < until:
                pass
        _last_end[0] = time.perf_counter()

    register_optimizer_step_post_hook(_work_on_after_step)
