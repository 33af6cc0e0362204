"""Security shared by the gateway and every service (SPEC 1.6): identities and RBAC from one
policy file, the redaction policy, API tokens, task shares and the hash-chained audit log.

Nothing here imports gRPC or the web framework: the gateway and the gRPC interceptor are thin
adapters over these modules. The tables (``sec_*``) have their own migration history
("security"), migrated by whichever process opens them first.
"""
