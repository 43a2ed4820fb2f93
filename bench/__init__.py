"""Benchmarks run by hand; each prints ratios against a limit measured in the same run."""
