"""Optimizer domain logic: deterministic pure functions in plain Python, no gRPC."""
