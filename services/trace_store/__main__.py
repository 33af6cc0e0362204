"""The TraceStore process: `python -m services.trace_store`."""

from __future__ import annotations

import asyncio
import logging

from agentledger.core.logging import configure_logging
from agentledger.core.mesh import MeshSecurity
from agentledger.core.server import run_until_signalled
from services.trace_store import server, wiring
from services.trace_store.settings import TraceStoreSettings

log = logging.getLogger("agentledger.trace_store")


async def main() -> None:
    settings = TraceStoreSettings.from_env()
    configure_logging("trace_store", settings.common.log_level, settings.common.log_format)
    security = MeshSecurity.from_env("trace_store")
    built = wiring.build(settings)
    running = await server.start(built.service, settings.listen, security=security.interceptors())
    log.info(
        "trace_store serving on %s:%d",
        settings.listen.rsplit(":", 1)[0],
        running.port,
        extra={"port": running.port, "db": settings.db_url.split("://")[0]},
    )

    async def stop() -> None:
        await built.close()
        await security.close()

    await run_until_signalled(running, on_stop=stop)


if __name__ == "__main__":
    asyncio.run(main())
