"""The Product service's domain: plain Python over a task's recorded trace, no gRPC."""
