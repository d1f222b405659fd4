"""Benchmarks, run on demand with `make bench` (not tests)."""
