"""The Optimizer process: `python -m services.optimizer`."""

from __future__ import annotations

import asyncio
import logging

from agentledger.core.logging import configure_logging
from agentledger.core.mesh import MeshSecurity
from agentledger.core.server import run_until_signalled
from services.optimizer import server, wiring
from services.optimizer.settings import OptimizerSettings

log = logging.getLogger("agentledger.optimizer")


async def main() -> None:
    settings = OptimizerSettings.from_env()
    configure_logging("optimizer", settings.common.log_level, settings.common.log_format)
    security = MeshSecurity.from_env("optimizer")
    built = wiring.build(settings, identity=security.credentials())
    running = await server.start(built.service, settings.listen, security=security.interceptors())
    log.info(
        "optimizer serving on %s:%d",
        settings.listen.rsplit(":", 1)[0],
        running.port,
        extra={"port": running.port, "trace_store": settings.trace_store_target},
    )

    async def stop() -> None:
        await built.close()
        await security.close()

    await run_until_signalled(running, on_stop=stop)


if __name__ == "__main__":
    asyncio.run(main())
