"""TraceStore: the durable, queryable, streamable record of every task (SPEC 1.1, 1.2, 1.4)."""
