"""Benchmarks (`make bench`, `make bench BENCH=B1`, `QUICK=1` for a smaller run)."""
