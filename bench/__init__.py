"""Benchmarks, run from the repository root: `python -m bench.speed`, `python -m bench.quality`."""
