"""The gateway's routes, one module per area; each route names the permission it needs."""
