"""The data-cleanup example: a CSV with bad rows, a question to the user, a verified report."""
