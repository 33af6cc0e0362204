"""The Product process: `python -m services.product`."""

from __future__ import annotations

import asyncio
import logging

from agentledger.core.logging import configure_logging
from agentledger.core.mesh import MeshSecurity
from agentledger.core.server import run_until_signalled
from services.product import server, wiring
from services.product.settings import ProductSettings

log = logging.getLogger("agentledger.product")


async def main() -> None:
    settings = ProductSettings.from_env()
    configure_logging("product", settings.common.log_level, settings.common.log_format)
    security = MeshSecurity.from_env("product")
    built = wiring.build(settings, identity=security.credentials(), policy=security.policy)
    running = await server.start(built.servicer, settings.listen, security=security.interceptors())
    built.start_sweeping(settings.sweep_s)
    log.info(
        "product serving on %s:%d",
        settings.listen.rsplit(":", 1)[0],
        running.port,
        extra={
            "port": running.port,
            "engine": settings.engine_target,
            "trace_store": settings.trace_store_target,
        },
    )

    async def stop() -> None:
        await built.close()
        await security.close()

    await run_until_signalled(running, on_stop=stop)


if __name__ == "__main__":
    asyncio.run(main())
