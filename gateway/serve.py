"""Serving the application with uvicorn on a socket the caller bound (tests bind port 0)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


def config(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # our logging (JSON or text, redacted) carries uvicorn's lines
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )


@dataclass
class HttpServer:
    server: uvicorn.Server
    sock: socket.socket

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.server.shutdown(sockets=[self.sock])
        self.sock.close()


async def start_http(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
    """Binds, starts accepting, and returns once the server answers (no polling)."""
    # IPPROTO_TCP named, or asyncio leaves Nagle on for the connections accepted on it (it sets
    # TCP_NODELAY only then), and each answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(config(app, host, port))
    if not server.config.loaded:
        server.config.load()
    server.lifespan = server.config.lifespan_class(server.config)
    await server.startup(sockets=[sock])
    return HttpServer(server, sock)
