"""Shared benchmark plumbing: a trace_store process on a free port, timing, tables, JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

QUICK = os.environ.get("QUICK", "") not in ("", "0")
# This VM's disk is rate-limited (it fell to ~7 MB/s of direct writes after a burst here), which
# would measure the host's I/O budget, not the store. Databases therefore live on tmpfs unless
# AGENTLEDGER_BENCH_DIR names another folder; every table says where.
BENCH_DIR = os.environ.get("AGENTLEDGER_BENCH_DIR") or (
    "/dev/shm" if os.path.isdir("/dev/shm") else None
)
PG_URL = os.environ.get("AGENTLEDGER_BENCH_PG_URL") or os.environ.get("AGENTLEDGER_TEST_PG_URL", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(target: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not answer SERVING within {timeout_s} s")
            time.sleep(0.05)


@dataclass
class StoreProcess:
    target: str
    data_dir: Path
    db_url: str
    proc: subprocess.Popen[bytes]
    # The PostgreSQL schema it uses (empty on SQLite): a second replica is given the same one.
    schema: str = ""


@contextlib.contextmanager
def trace_store(
    db_url: str = "", extra_env: dict[str, str] | None = None
) -> Iterator[StoreProcess]:
    """A trace_store process in its own data folder; SQLite unless a PostgreSQL URL is given."""
    with tempfile.TemporaryDirectory(prefix="agentledger-bench-", dir=BENCH_DIR) as tmp:
        port = free_port()
        env = {
            **os.environ,
            "AGENTLEDGER_DATA_DIR": tmp,
            "AGENTLEDGER_TRACE_STORE_LISTEN": f"127.0.0.1:{port}",
            "AGENTLEDGER_LOG_LEVEL": "WARNING",
            # These benchmarks measure the store; B9 measures it behind authentication.
            "AGENTLEDGER_AUTH": "off",
            **(extra_env or {}),
        }
        schema = ""
        if db_url:
            env["AGENTLEDGER_TRACE_STORE_DB_URL"] = db_url
            if db_url.startswith("postgres") and "AGENTLEDGER_TRACE_STORE_DB_SCHEMA" not in env:
                schema = pg_schema(db_url, create=True)
                env["AGENTLEDGER_TRACE_STORE_DB_SCHEMA"] = schema
                env["AGENTLEDGER_TRACE_STORE_NOTIFY_CHANNEL"] = notify_channel(schema)
        proc = subprocess.Popen([sys.executable, "-m", "services.trace_store"], env=env)
        try:
            wait_serving(f"127.0.0.1:{port}")
            url = db_url or f"sqlite:///{tmp}/trace_store.db"
            yield StoreProcess(
                f"127.0.0.1:{port}",
                Path(tmp),
                url,
                proc,
                env.get("AGENTLEDGER_TRACE_STORE_DB_SCHEMA", ""),
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            if schema:
                pg_schema(db_url, drop=schema)


def notify_channel(schema: str) -> str:
    return f"bench_{schema}"


def replica_env(store: StoreProcess) -> dict[str, str]:
    """What a second trace_store process needs to share ``store``'s PostgreSQL schema."""
    return {
        "AGENTLEDGER_TRACE_STORE_DB_SCHEMA": store.schema,
        "AGENTLEDGER_TRACE_STORE_NOTIFY_CHANNEL": notify_channel(store.schema),
    }


def pg_schema(url: str, *, create: bool = False, drop: str = "") -> str:
    """Creates a fresh schema (each run starts empty) or drops one."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = drop or "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE" if drop else f"CREATE SCHEMA {name}")
    return name


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return str(v)


def emit(bench: str, met: bool, **figures: object) -> None:
    print(json.dumps({"bench": bench, **figures, "met": met}), flush=True)


def payload(i: int) -> bytes:
    """A realistic small event payload (~180 bytes of JSON)."""
    return (
        b'{"attempt":1,"duration_ms":%d,"node":"n%d","output_blob":null,"status":"ok",'
        b'"tokens_in":%d,"tokens_out":%d,"tool":"python","message":"node finished without warnings"}'
        % (i % 977, i % 31, 100 + i % 400, 20 + i % 90)
    )
