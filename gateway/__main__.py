"""The gateway process: `python -m gateway` (uvicorn, one process; replicas scale it out)."""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn

from agentledger.core.logging import configure_logging
from gateway import serve, wiring
from gateway.settings import GatewaySettings

log = logging.getLogger("agentledger.gateway")


async def main() -> None:
    settings = GatewaySettings.from_env()
    configure_logging("gateway", settings.common.log_level, settings.common.log_format)
    built = wiring.build(settings)
    # What start-up built lives as long as the process: out of the collector's way, so that its
    # full collections (which would walk it all) stay short under load.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(serve.config(built.app, settings.host, settings.port))
    log.info(
        "gateway serving on http://%s:%d (docs at /docs)",
        settings.host,
        settings.port,
        extra={"port": settings.port},
    )
    try:
        await server.serve()
    finally:
        await built.close()


if __name__ == "__main__":
    asyncio.run(main())
