"""Benchmarks: run as modules from the repository root, e.g. ``python -m bench.quality_suite``.

They use the installed ``sdfrecon`` API only and print ratios against a baseline
measured in the same run (Poisson, or the previous default)."""
