"""The B9 gateway bench's mesh (trace_store, engine and gateway processes) and its lean
HTTP/1.1 client (httpx cost more CPU per request than the gateway it measured)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pstats
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psutil

from agentledger.core.clock import SystemClock
from agentledger.security.db import open_security_db
from agentledger.security.identity import MeshSigner, Principal
from agentledger.security.rbac import Policy
from agentledger.security.tokens import TokenStore
from bench.common import free_port
from bench.common import wait_serving as wait_grpc
from services.trace_store.client import TraceStoreClient

PROFILE = os.environ.get("AGENTLEDGER_BENCH_PROFILE", "") not in ("", "0")

PLAN = """\
id: b9-wait
version: 1
description: Asks a question nobody answers, so the task stays open to follow.
nodes:
  - {id: wait, phase: govern, agent: human, config: {question: "wait", fields: [x]}}
"""
# The gateway under cProfile, from the moment it is built. SIGTERM raises KeyboardInterrupt
# (uvicorn re-raises the signal it caught once it has stopped), so the profile is written.
PROFILED_GATEWAY = """\
import asyncio, cProfile, signal, sys
from gateway.__main__ import main
signal.signal(signal.SIGTERM, signal.default_int_handler)
profile = cProfile.Profile()
profile.enable()
try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
"""

# ---------------------------------------------------------------- the mesh


@dataclass
class Mesh:
    url: str
    store_target: str
    env: dict[str, str]
    token: str
    procs: dict[str, subprocess.Popen[bytes]]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each server process, of this one, and of the whole VM."""
        out = {name: _cpu(psutil.Process(p.pid)) for name, p in self.procs.items()}
        out["load generator"] = _cpu(psutil.Process())
        t = psutil.cpu_times()
        out["vm"] = t.user + t.system + t.nice + t.irq + t.softirq + t.steal
        return out


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def _wait_http(m: Mesh, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    async def healthy() -> bool:
        with contextlib.suppress(OSError):
            async with Http(m.url, "") as http:
                return (await http.get("/healthz"))[0] == 200
        return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with code {proc.returncode} before it served")
        if asyncio.run(healthy()):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no answer from {m.url}/healthz within {timeout_s:.0f} s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def mesh(tmp: Path) -> Iterator[Mesh]:
    """trace_store, engine and gateway processes on free ports, and an owner's API token."""
    ports = {name: free_port() for name in ("trace_store", "engine", "gateway")}
    env = {
        **os.environ,
        "AGENTLEDGER_DATA_DIR": str(tmp),
        "AGENTLEDGER_MESH_KEY": secrets.token_urlsafe(48),
        "AGENTLEDGER_LOG_LEVEL": "WARNING",
    }
    for name, port in ports.items():
        env[f"AGENTLEDGER_{name.upper()}_LISTEN"] = f"127.0.0.1:{port}"
        env[f"AGENTLEDGER_{name.upper()}_ADDR"] = f"127.0.0.1:{port}"
    db = open_security_db(f"sqlite:///{tmp}/security.db", pool_size=1)
    try:
        _, token = TokenStore(db, SystemClock()).create(
            name="b9", role="owner", policy=Policy.load()
        )
    finally:
        db.dispose()
    gateway_cmd = ["-m", "gateway"]
    if PROFILE:
        gateway_cmd = ["-c", PROFILED_GATEWAY, str(tmp / "gateway.prof")]
    m = Mesh(
        f"http://127.0.0.1:{ports['gateway']}", f"127.0.0.1:{ports['trace_store']}", env, token, {}
    )
    try:
        for name, cmd in (
            ("trace_store", ["-m", "services.trace_store"]),
            ("engine", ["-m", "services.engine"]),
            ("gateway", gateway_cmd),
        ):
            m.procs[name] = subprocess.Popen([sys.executable, *cmd], env=env)
            if name == "gateway":
                _wait_http(m, m.procs[name])
            else:
                wait_grpc(f"127.0.0.1:{ports[name]}")
        yield m
    finally:
        # The gateway first, so that no stream of its waits on a store that went away.
        _stop([m.procs["gateway"]] if "gateway" in m.procs else [])
        _stop([p for n, p in m.procs.items() if n != "gateway"])
        if PROFILE and (tmp / "gateway.prof").exists():
            _print_profile(tmp / "gateway.prof")


def _print_profile(path: Path) -> None:
    stats = pstats.Stats(str(path), stream=(out := io.StringIO()))
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(r"gateway/|agentledger/|services/|starlette/", 40)
    print(f"\nB9 gateway profile (main thread), by own time, then cumulative:\n{out.getvalue()}")


# ---------------------------------------------------------------- a lean HTTP client


class Http:
    """A minimal HTTP/1.1 client on asyncio streams, one keep-alive connection; bodies by
    Content-Length or chunked (how the gateway streams SSE)."""

    def __init__(self, url: str, token: str) -> None:
        u = urlsplit(url)
        self._host, self._port = u.hostname or "127.0.0.1", u.port or 80
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._head = f" HTTP/1.1\r\nHost: {self._host}\r\n{auth}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def _request(self, path: str, body: bytes = b"") -> tuple[int, dict[bytes, bytes]]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        if body:
            length = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            self._writer.write(b"POST " + path.encode() + self._head[:-2] + length + b"\r\n" + body)
        else:
            self._writer.write(b"GET " + path.encode() + self._head)
        lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split(b" ", 2)[1]), headers

    async def post(self, path: str, body: object) -> tuple[int, bytes]:
        status, headers = await self._request(path, orjson.dumps(body))
        return status, b"".join([c async for c in self._body(headers)])

    async def get(self, path: str) -> tuple[int, bytes]:
        status, headers = await self._request(path)
        return status, b"".join([c async for c in self._body(headers)])

    async def stream(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        status, headers = await self._request(path)
        return status, self._body(headers)

    async def _body(self, headers: dict[bytes, bytes]) -> AsyncIterator[bytes]:
        assert self._reader is not None
        if headers.get(b"transfer-encoding") == b"chunked":
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                yield (await self._reader.readexactly(size + 2))[:-2]
            await self._reader.readuntil(b"\r\n")
        else:
            yield await self._reader.readexactly(int(headers.get(b"content-length", b"0")))


async def open_tasks(m: Mesh, n: int) -> list[str]:
    """``n`` engine tasks, each waiting for an answer (so neither running nor ended)."""
    ids = []
    async with Http(m.url, m.token) as http:
        for _ in range(n):
            status, body = await http.post("/api/tasks", {"goal": "b9", "plan_yaml": PLAN})
            if status != 201:
                raise RuntimeError(f"POST /api/tasks answered {status}: {body[:300]!r}")
            ids.append(orjson.loads(body)["task_id"])
        deadline = time.monotonic() + 60
        for task_id in ids:
            while True:
                status, body = await http.get(f"/api/tasks/{task_id}")
                state = orjson.loads(body)["task"]["state"] if status == 200 else str(status)
                if state == "WAITING_INPUT":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"task {task_id} is {state}, not WAITING_INPUT, after 60 s")
                await asyncio.sleep(0.05)
    return ids


def store_client(target: str, env: dict[str, str]) -> TraceStoreClient:
    identity = MeshSigner(env["AGENTLEDGER_MESH_KEY"].encode()).credentials(
        Principal("bench", "service", via="bench")
    )
    return TraceStoreClient(target, timeout_s=120, identity=identity)
