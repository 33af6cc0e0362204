"""B1: append throughput through gRPC against raw inserts of the same rows, and append latency.

Floors (issue 2): SQLite >= 75,000 events/s in batches of 100 and 1,000 and >= 0.5 x a raw
sqlite3.executemany of the same rows; PostgreSQL >= 0.6 x COPY; single-event append p50 <= 1.5 ms.
The client keeps 4 appends in flight on 4 tasks, as several engine workers would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import psycopg
from sqlalchemy.engine import make_url

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from bench.common import BENCH_DIR, PG_URL, QUICK, emit, median, payload, pct, table, trace_store
from services.trace_store.client import TraceStoreClient
from services.trace_store.codec import ProtobufWireEncoder

IN_FLIGHT = 4
ENCODER = ProtobufWireEncoder()
COLUMNS = "task_no, seq, event_id, type, phase, node_id, severity, wire"


def make_batches(total: int, batch: int, tasks: list[str]) -> list[tuple[str, list[pb.EventInput]]]:
    out = []
    prefix = uuid.uuid4().hex[:12]
    for b in range(total // batch):
        task = tasks[b % len(tasks)]
        events = [
            pb.EventInput(
                event_id=f"{prefix}-{b:06d}-{i:05d}",
                type="node.completed",
                phase="build",
                node_id=f"n{i % 31}",
                severity=2,
                actor="worker-1",
                time_unix_nano=1_767_225_600_000_000_000 + b * batch + i,
                payload_json=payload(b * batch + i),
            )
            for i in range(batch)
        ]
        out.append((task, events))
    return out


def raw_rows(batches: list[tuple[str, list[pb.EventInput]]]) -> list[list[tuple[object, ...]]]:
    """The rows the store writes for these batches (tasks numbered as the store numbers them)."""
    seqs: dict[str, int] = {}
    numbers: dict[str, int] = {}
    out = []
    for task, events in batches:
        rows = []
        number = numbers.setdefault(task, len(numbers) + 1)
        for e in events:
            seqs[task] = seqs.get(task, 0) + 1
            rows.append(
                (
                    number,
                    seqs[task],
                    e.event_id,
                    e.type,
                    e.phase,
                    e.node_id,
                    e.severity,
                    ENCODER.encode(e, None, None, None),
                )
            )
        out.append(rows)
    return out


APPEND_METHOD = "/agentledger.trace_store.v1.TraceStore/AppendEvents"


async def grpc_rate(target: str, batches: list[tuple[str, list[pb.EventInput]]]) -> float:
    """Events/s through AppendEvents. The requests are encoded before the clock starts and
    sent on a plain channel: on two cores the client shares the machine with the store, and a
    Python client encoding 1,000-event requests would measure itself as much as the store."""
    encoded = [
        pb.AppendEventsRequest(task_id=task, events=events).SerializeToString()
        for task, events in batches
    ]
    async with TraceStoreClient(target, timeout_s=60) as client:
        for task in {t for t, _ in batches}:
            await client.put_summary(pb.TraceSummary(task_id=task, owner="bench", state="RUNNING"))
    async with grpc.aio.insecure_channel(target) as channel:
        append = channel.unary_unary(
            APPEND_METHOD,
            request_serializer=bytes,
            response_deserializer=pb.AppendEventsResponse.FromString,
        )
        queue = list(encoded)
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                await append(queue.pop(0), timeout=60)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
    return sum(len(e) for _, e in batches) / elapsed


def sqlite_raw_rate(rows: list[list[tuple[object, ...]]]) -> float:
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE ts_events (task_no BIGINT NOT NULL, seq BIGINT NOT NULL, event_id VARCHAR(128) NOT NULL,"
            " type VARCHAR(128) NOT NULL, phase VARCHAR(16) NOT NULL, node_id VARCHAR(256) NOT NULL,"
            " severity SMALLINT NOT NULL, wire BLOB NOT NULL, PRIMARY KEY (task_no, seq)) WITHOUT ROWID"
        )
        conn.execute("CREATE UNIQUE INDEX ux_ts_events_event_id ON ts_events (task_no, event_id)")
        sql = f"INSERT INTO ts_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        started = time.perf_counter()
        for batch in rows:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return sum(len(b) for b in rows) / elapsed


def pg_copy_rate(url: str, rows: list[list[tuple[object, ...]]]) -> float:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = "bench_raw_" + uuid.uuid4().hex[:8]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(
                f"CREATE TABLE {schema}.ts_events (task_no BIGINT, seq BIGINT, event_id VARCHAR(128) NOT NULL,"
                " type VARCHAR(128) NOT NULL, phase VARCHAR(16) NOT NULL, node_id VARCHAR(256) NOT NULL,"
                " severity SMALLINT NOT NULL, wire BYTEA NOT NULL, PRIMARY KEY (task_no, seq))"
            )
            conn.execute(f"CREATE UNIQUE INDEX ON {schema}.ts_events (task_no, event_id)")
            started = time.perf_counter()
            for batch in rows:
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy(f"COPY {schema}.ts_events ({COLUMNS}) FROM STDIN") as cp,
                ):
                    for r in batch:
                        cp.write_row(r)
            elapsed = time.perf_counter() - started
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return sum(len(b) for b in rows) / elapsed


async def single_latency(target: str, n: int) -> tuple[list[float], list[float]]:
    """Single-event appends, interleaved with cached GetSummary calls: the latter do no
    database work, so they show what one gRPC round trip costs on this machine."""
    async with TraceStoreClient(target) as client:
        await client.put_summary(pb.TraceSummary(task_id="single", owner="bench", state="RUNNING"))
        appends, floor = [], []
        for i in range(n):
            e = pb.EventInput(event_id=f"s-{i:08d}", type="node.progress", payload_json=payload(i))
            t0 = time.perf_counter()
            await client.append("single", [e])
            t1 = time.perf_counter()
            await client.get_summary("single")
            floor.append((time.perf_counter() - t1) * 1000)
            appends.append((t1 - t0) * 1000)
    warm = n // 10  # the first tenth warms up connections and caches
    return appends[warm:], floor[warm:]


def run_backend(name: str, db_url: str, total: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for batch in (100, 1000):
        batches = make_batches(total, batch, [f"b1-{batch}-{i}" for i in range(IN_FLIGHT)])
        with trace_store(db_url) as store:
            rate = asyncio.run(grpc_rate(store.target, batches))
        rows = raw_rows(batches)
        raw = sqlite_raw_rate(rows) if name == "sqlite" else pg_copy_rate(db_url, rows)
        figures[f"{name}_batch{batch}_events_per_s"] = round(rate)
        figures[f"{name}_batch{batch}_raw_events_per_s"] = round(raw)
        figures[f"{name}_batch{batch}_ratio"] = round(rate / raw, 3)
    with trace_store(db_url) as store:
        lat, floor = asyncio.run(single_latency(store.target, 500 if QUICK else 3000))
    figures[f"{name}_single_p50_ms"] = round(median(lat), 3)
    figures[f"{name}_single_p99_ms"] = round(pct(lat, 0.99), 3)
    figures[f"{name}_rpc_floor_p50_ms"] = round(median(floor), 3)
    return figures


def main() -> None:
    total = 30_000 if QUICK else 200_000
    figures = run_backend("sqlite", "", total)
    met = (
        min(figures["sqlite_batch100_events_per_s"], figures["sqlite_batch1000_events_per_s"])
        >= 75_000
        and min(figures["sqlite_batch100_ratio"], figures["sqlite_batch1000_ratio"]) >= 0.5
        and figures["sqlite_single_p50_ms"] <= 1.5
    )
    rows = [
        [
            f"SQLite, batch {b}",
            figures[f"sqlite_batch{b}_events_per_s"],
            figures[f"sqlite_batch{b}_raw_events_per_s"],
            figures[f"sqlite_batch{b}_ratio"],
            ">= 75,000/s and >= 0.5",
        ]
        for b in (100, 1000)
    ]
    if PG_URL:
        pg = run_backend("pg", PG_URL, total // 2)
        figures.update(pg)
        met = met and min(pg["pg_batch100_ratio"], pg["pg_batch1000_ratio"]) >= 0.6
        rows += [
            [
                f"PostgreSQL, batch {b}",
                pg[f"pg_batch{b}_events_per_s"],
                pg[f"pg_batch{b}_raw_events_per_s"],
                pg[f"pg_batch{b}_ratio"],
                ">= 0.6 x COPY",
            ]
            for b in (100, 1000)
        ]
    table(
        f"B1 append through gRPC ({total:,} events per run, {IN_FLIGHT} in flight) vs raw inserts",
        ["backend", "events/s", "raw events/s", "ratio", "floor"],
        rows,
    )
    lat_rows = [
        [
            "SQLite",
            figures["sqlite_single_p50_ms"],
            figures["sqlite_single_p99_ms"],
            figures["sqlite_rpc_floor_p50_ms"],
            "p50 <= 1.5 ms",
        ]
    ]
    if PG_URL:
        lat_rows.append(
            [
                "PostgreSQL",
                figures["pg_single_p50_ms"],
                figures["pg_single_p99_ms"],
                figures["pg_rpc_floor_p50_ms"],
                "(no floor)",
            ]
        )
    table(
        "B1 single-event append latency (ms); reference: a cached GetSummary round trip",
        ["backend", "p50", "p99", "GetSummary p50", "floor"],
        lat_rows,
    )
    emit("B1", met, **figures)


if __name__ == "__main__":
    main()
