"""The REST/SSE gateway: how people and the UI reach AgentLedger (SPEC 1.1-1.3, 1.6).

A FastAPI application that authenticates each request (API token or JWT), checks it against the
RBAC policy and the task's owner and shares, records it in the audit log, and forwards it to the
services through their typed gRPC clients with a signed identity. It keeps no state of its own
besides the security tables, so any number of replicas can serve behind a load balancer.
"""
