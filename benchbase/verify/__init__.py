"""``benchbase verify``: a record received from someone else proves its own figures, or says which do not hold.

Every figure of ``summary.json`` is defined over the raw files beside it (docs/records.md), so a reader can redo the
arithmetic: :mod:`.figures` rebuilds the summary with the builder the run used and compares field by field,
:mod:`.claims` checks what the summary takes from the supervisor against config.yaml, env.json and the event log,
:mod:`.timeline` checks the log's own consistency (order, contiguity, cadence, the convergence claim), :mod:`.coverage`
that telemetry covers the windows its figures use, and :mod:`benchbase.record.manifest` that no file changed since
the run ended. :func:`.record.verify_run` runs them all on one folder.
"""
