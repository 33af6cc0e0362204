"""TraceStore domain logic: plain Python and SQLAlchemy, no gRPC."""
