"""The Engine process: `python -m services.engine`."""

from __future__ import annotations

import asyncio
import logging

from agentledger.core.logging import configure_logging
from agentledger.core.mesh import MeshSecurity
from agentledger.core.server import run_until_signalled
from services.engine import server, wiring
from services.engine.settings import EngineSettings

log = logging.getLogger("agentledger.engine")


async def main() -> None:
    settings = EngineSettings.from_env()
    configure_logging("engine", settings.common.log_level, settings.common.log_format)
    security = MeshSecurity.from_env("engine")
    built = wiring.build(settings, identity=security.credentials())
    running = await server.start(built.service, settings.listen, security=security.interceptors())
    log.info(
        "engine serving on %s:%d (%d workers, plans: %s)",
        settings.listen.rsplit(":", 1)[0],
        running.port,
        settings.workers,
        ", ".join(p.ref for p in built.service.list_plans()),
        extra={"port": running.port, "db": settings.db_url.split("://")[0]},
    )

    async def stop() -> None:
        await built.close()
        await security.close()

    await run_until_signalled(running, on_stop=stop)


if __name__ == "__main__":
    asyncio.run(main())
