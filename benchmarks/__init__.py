"""Performance benchmarks of benchbase itself (``make bench``): each prints its ratio against a baseline measured
side by side in the same run. See ``benchmarks/README.md`` for what each one compares and why that is fair."""
