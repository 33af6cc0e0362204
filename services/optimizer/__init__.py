"""Optimizer: scheduling, recovery, Pareto, summaries, salience and forecasts (SPEC 2.1-2.6)."""
