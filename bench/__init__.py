"""Benchmarks for the hot paths; each prints its figures beside a floor measured in the same run."""
