"""Benchmarks (`make bench`): not tests. They print figures and write bench/results/."""
