"""Example plans that do real work offline; their Python steps are importable from here."""
