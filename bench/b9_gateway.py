"""B9: the gateway — summary latency under 50 clients, 500 SSE followers on one process, one
follower's replay rate, and append -> SSE delivery latency.

Targets (the gateway issue): ``GET /api/tasks/{id}/summary`` p95 <= 15 ms with 50 concurrent
clients; 500 concurrent SSE followers on one gateway process, each receiving every event; one
follower receives >= 20,000 events/s; append -> SSE delivery p99 <= 100 ms at 1,000 events/s
with 50 followers.

The mesh runs as in production: a trace_store, an engine and one gateway, each its own process
(`python -m ...`) with its data on tmpfs and security on (an API token for the HTTP clients,
signed service identities between processes). The tasks are real engine tasks, submitted
through the gateway with an inline plan whose only node asks a person a question, so each stays
WAITING_INPUT, its stream open, while events are appended to it straight into the trace_store
with a service identity.

The HTTP clients run in this process on one event loop, each with its own keep-alive
connection, through the minimal HTTP/1.1 client below rather than httpx: httpx spent ~2.5 ms of
CPU per request here, more than the gateway spends answering /healthz, and on 2 cores shared with
three servers that would measure the client. The live appends come from a separate process (as
the engine's do), paced on an absolute schedule. Every table gives each process's CPU during
the phase, and "other": the rest of the VM (other programs running beside the bench).

Summary: 50 clients each send the next request as soon as the last one answers (a closed loop:
50 requests always in flight), then 50 clients each sending one request every 500 ms (100
requests/s offered). Followers: 500 SSE streams over 5 tasks; once all answered, 20 events per
task are appended at 10/s and each follower must receive all of them. Replay: 200,000 events are
appended to one task beforehand; one follower reads the whole stream from the start. Delivery:
50 followers of one task while 10 events are appended every 10 ms, each carrying time.time_ns()
at the append call; a follower takes the latency when the chunk holding the event arrives.
QUICK: 3 s of summaries, a 50,000-event replay, 3 s of live appends.
`AGENTLEDGER_BENCH_PROFILE=1` runs the gateway under cProfile (its main thread, once started)
and prints where its time went.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import orjson
import psutil

from agentledger.common.v1 import common_pb2
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from bench.common import BENCH_DIR, QUICK, emit, median, payload, pct, table
from bench.gateway_mesh import Http, Mesh, mesh, open_tasks, store_client
from services.trace_store.client import TraceStoreClient

CLIENTS = 50
SUMMARY_SECONDS = 3.0 if QUICK else 10.0
PACED_EVERY_S = 0.5  # each client's period in the paced summary run
FOLLOWERS_TARGET = 500
FANOUT_TASKS = 5
FANOUT_EVENTS = 20  # per task, 10 per second
REPLAY_EVENTS = 50_000 if QUICK else 200_000
REPLAY_BATCH = 1000
LIVE_FOLLOWERS = 50
LIVE_RATE = 1000  # events/s
LIVE_BATCH = 10  # events per append, every 10 ms
LIVE_SECONDS = 3.0 if QUICK else 20.0

# The gateway under cProfile, from the moment it is built. SIGTERM raises KeyboardInterrupt
# (uvicorn re-raises the signal it caught once it has stopped), so the profile is written.

# ---------------------------------------------------------------- the appender process


@dataclass
class Appended:
    per_task: int  # events appended to each task
    seconds: float
    latencies_ms: list[float]  # of each AppendEvents call
    cpu_s: float  # the appender process's CPU time meanwhile


async def paced(
    store: TraceStoreClient,
    task_ids: list[str],
    kind: str,
    batch: int,
    rate: float,
    total: int,
    max_s: float,
) -> Appended:
    """Appends ``batch`` events to each task ``rate`` times a second, on an absolute schedule (a
    late append is followed by the next at once, one at a time per task, as the engine does),
    until ``total`` per task or ``max_s`` seconds."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    sent = 0
    latencies: list[float] = []

    async def append(task_id: str, events: list[pb.EventInput]) -> None:
        start = time.perf_counter()
        await store.append(task_id, events)
        latencies.append((time.perf_counter() - start) * 1000)

    while sent < total and time.perf_counter() - t0 < max_s:
        now_ns = time.time_ns()
        body = orjson.dumps({"sent_ns": now_ns, "tokens": 17, "status": "ok"})
        events = [
            pb.EventInput(
                event_id=f"{kind}-{sent + i:09d}",
                type=f"bench.{kind}",
                phase="build",
                node_id="n1",
                payload_json=body,
            )
            for i in range(batch)
        ]
        await asyncio.gather(*(append(t, events) for t in task_ids))
        sent += batch
        delay = t0 + (sent // batch) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return Appended(sent, time.perf_counter() - t0, latencies, time.process_time() - cpu0)


Job = tuple[list[str], str, int, float, int, float]  # paced()'s arguments after the client


def appender(conn: Connection, target: str, env: dict[str, str], job: Job) -> None:
    """The appender process: connects, says so, appends once told to, reports ``Appended``."""

    async def run() -> Appended:
        async with store_client(target, env) as store:
            await store.get_summary(job[0][0])  # the channel is up before the clock starts
            conn.send("ready")
            conn.recv()
            return await paced(store, *job)

    conn.send(asyncio.run(run()))


@contextlib.asynccontextmanager
async def appending(m: Mesh, *job_args: object) -> AsyncIterator[Connection]:
    """A ready appender process for ``paced(store, *job_args)``: send it anything to start,
    then ``await appended(conn)``."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=appender, args=(there, m.store_target, m.env, job_args), daemon=True)
    proc.start()
    try:
        if not (await asyncio.to_thread(here.poll, 60) and here.recv() == "ready"):
            raise RuntimeError(f"the appender process did not start (exit code {proc.exitcode})")
        yield here
        await asyncio.to_thread(proc.join, 30)
    finally:
        if proc.is_alive():  # it failed, or this did: it may wait for a word that never comes
            proc.kill()
        proc.join()


async def appended(conn: Connection) -> Appended:
    if not await asyncio.to_thread(conn.poll, 300):
        raise RuntimeError("the appender process did not report")
    result: Appended = conn.recv()
    return result


# ---------------------------------------------------------------- SSE followers


@dataclass
class Follower:
    """One SSE client: what it received of the events it waits for, and when."""

    kind: str  # the event type (after "bench.") it counts; "" for every event
    expected: int
    status: int = 0
    headers_s: float = 0.0  # from the request to the response headers
    received: int = 0
    last_seq: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error: str = ""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, n: int) -> None:
        """How many events to wait for, once known (the live appends stop on a clock)."""
        self.expected = n
        if self.received >= n:
            self.done.set()


async def follow(m: Mesh, task_id: str, f: Follower) -> None:
    """Reads the task's stream from its start until ``f.expected`` events of its kind came."""
    marker = f'"type":"bench.{f.kind}"'.encode()
    buf = bytearray()
    last = b""
    t0 = time.perf_counter()
    try:
        async with Http(m.url, m.token) as http:
            f.status, body = await http.stream(f"/api/tasks/{task_id}/events/stream")
            f.headers_s = time.perf_counter() - t0
            f.opened.set()
            if f.status != 200:
                f.error = f"HTTP {f.status}: {b''.join([c async for c in body])[:200]!r}"
                return
            async for chunk in body:
                now = time.time_ns()
                buf += chunk
                end = buf.rfind(b"\n\n")
                if end < 0:
                    continue
                records = bytes(buf[:end]).split(b"\n\n")
                del buf[: end + 2]
                for rec in records:
                    if not rec.startswith(b"id: "):
                        if rec.startswith((b"event: end", b"event: error")):
                            f.error = rec.decode()[:200]
                            return
                        continue  # retry: and heartbeats
                    if f.kind and marker not in rec:
                        continue
                    f.received += 1
                    last = rec
                    if f.kind:
                        event = orjson.loads(rec[rec.index(b"\ndata: ") + 7 :])
                        f.latencies_ms.append((now - event["payload"]["sent_ns"]) / 1e6)
                if f.received >= f.expected:
                    f.last_seq = orjson.loads(last[last.index(b"\ndata: ") + 7 :])["seq"]
                    return
            f.error = "the stream closed early"
    except Exception as exc:  # counted as a failed follower, with its reason
        f.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        f.opened.set()
        f.done.set()


async def all_set(events: list[asyncio.Event], timeout_s: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout_s)
        return True
    return False


@contextlib.asynccontextmanager
async def following(m: Mesh, task_ids: list[str], followers: list[Follower]) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(follow(m, task_ids[n % len(task_ids)], f))
        for n, f in enumerate(followers)
    ]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


# ---------------------------------------------------------------- the phases


@dataclass
class Summaries:
    latencies_ms: list[float]
    errors: int
    seconds: float
    cpu: dict[str, float]


async def summaries(m: Mesh, task_id: str, every_s: float) -> Summaries:
    """CLIENTS clients asking for the summary, each every ``every_s`` (0: back to back)."""
    latencies: list[float] = []
    errors = 0
    measuring = stop = False
    path = f"/api/tasks/{task_id}/summary"

    async def client() -> None:
        nonlocal errors
        async with Http(m.url, m.token) as http:
            await asyncio.sleep(random.uniform(0, every_s))
            t_next = time.perf_counter()
            while not stop:
                t0 = time.perf_counter()
                try:
                    status, _ = await http.get(path)
                except (OSError, asyncio.IncompleteReadError):
                    status = 0  # counted; the next request opens a new connection
                    await http.close()
                ms = (time.perf_counter() - t0) * 1000
                if measuring and status == 200:
                    latencies.append(ms)
                elif measuring:
                    errors += 1
                t_next += every_s
                if every_s:
                    await asyncio.sleep(max(0.0, t_next - time.perf_counter()))

    loops = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    try:
        await asyncio.sleep(1.0 + every_s)  # connections open, token and ACL caches filled
        cpu0 = m.cpu()
        measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(SUMMARY_SECONDS)
        measuring = False
        seconds = time.perf_counter() - t0
        cpu = _delta(m.cpu(), cpu0)
    finally:
        stop = True
        await asyncio.gather(*loops)
    return Summaries(latencies, errors, seconds, cpu)


@dataclass
class Fanout:
    followers: list[Follower]
    connect_s: float  # until every stream answered its headers
    deliver_s: float  # from the first append until the last follower had every event
    appends: Appended
    cpu: dict[str, float]


async def fanout(m: Mesh, task_ids: list[str]) -> Fanout:
    followers = [Follower("fanout", FANOUT_EVENTS) for _ in range(FOLLOWERS_TARGET)]
    async with (
        appending(m, task_ids, "fanout", 1, 10.0, FANOUT_EVENTS, 60.0) as appender_conn,
        following(m, task_ids, followers),
    ):
        cpu0 = m.cpu()
        t0 = time.perf_counter()
        await all_set([f.opened for f in followers], 120)
        connect_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        appender_conn.send("go")
        appends = await appended(appender_conn)
        await all_set([f.done for f in followers], 30)
        deliver_s = time.perf_counter() - t1
        cpu = _delta(m.cpu(), cpu0)
        cpu["load generator"] += appends.cpu_s
    return Fanout(followers, connect_s, deliver_s, appends, cpu)


@dataclass
class Replay:
    events: int
    expected: int
    first_byte_s: float
    seconds: float
    last_seq: int
    error: str
    cpu: dict[str, float]


async def load(m: Mesh, task_id: str, events: int) -> tuple[int, float]:
    """Appends ``events`` to the task; returns how many events it has then, and the rate."""
    async with store_client(m.store_target, m.env) as store:
        t0 = time.perf_counter()
        for start in range(0, events, REPLAY_BATCH):
            batch = [
                pb.EventInput(
                    event_id=f"replay-{i:09d}",
                    type="node.progress",
                    phase="build",
                    node_id=f"n{i % 31}",
                    severity=common_pb2.SEVERITY_INFO,
                    actor="worker-1",
                    payload_json=payload(i),
                )
                for i in range(start, start + REPLAY_BATCH)
            ]
            response = await store.append(task_id, batch)
        return response.last_seq, events / (time.perf_counter() - t0)


async def replay(m: Mesh, task_id: str, events: int) -> Replay:
    """One follower reads every event of the task from the start."""
    f = Follower("", events)
    cpu0 = m.cpu()
    t0 = time.perf_counter()
    await follow(m, task_id, f)
    seconds = time.perf_counter() - t0
    cpu = _delta(m.cpu(), cpu0)
    return Replay(f.received, events, f.headers_s, seconds, f.last_seq, f.error, cpu)


@dataclass
class Live:
    followers: list[Follower]
    appends: Appended
    cpu: dict[str, float]
    cpu_s: float  # the time over which cpu was taken


async def live(m: Mesh, task_id: str) -> Live:
    """LIVE_SECONDS of appends at LIVE_RATE (or as many as the store takes in that time)."""
    total = int(LIVE_RATE * LIVE_SECONDS)
    followers = [Follower("live", total) for _ in range(LIVE_FOLLOWERS)]
    rate = LIVE_RATE / LIVE_BATCH
    async with (
        appending(m, [task_id], "live", LIVE_BATCH, rate, total, LIVE_SECONDS) as appender_conn,
        following(m, [task_id], followers),
    ):
        await all_set([f.opened for f in followers], 60)
        await asyncio.sleep(0.5)  # every stream past its replay, waiting for new events
        cpu0 = m.cpu()
        t0 = time.perf_counter()
        appender_conn.send("go")
        appends = await appended(appender_conn)
        for f in followers:
            f.expect(appends.per_task)
        await all_set([f.done for f in followers], 30)
        cpu = _delta(m.cpu(), cpu0)
        cpu["load generator"] += appends.cpu_s
        cpu_s = time.perf_counter() - t0
    return Live(followers, appends, cpu, cpu_s)


# ---------------------------------------------------------------- the run


@dataclass
class Results:
    closed: Summaries
    paced: Summaries
    fo: Fanout
    rp: Replay
    lv: Live
    load_rate: float
    phases: dict[str, float]


async def measure(m: Mesh) -> Results:
    phases: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        phases[name] = now - t
        t = now

    ids = await open_tasks(m, 2 + FANOUT_TASKS)
    replay_task, live_task, fanout_tasks = ids[0], ids[1], ids[2:]
    lap("tasks")
    replay_events, load_rate = await load(m, replay_task, REPLAY_EVENTS)
    lap("load")
    closed = await summaries(m, live_task, 0.0)
    paced_ = await summaries(m, live_task, PACED_EVERY_S)
    lap("summaries")
    rp = await replay(m, replay_task, replay_events)
    lap("replay")
    fo = await fanout(m, fanout_tasks)
    lap("followers")
    lv = await live(m, live_task)
    lap("live")
    return Results(closed, paced_, fo, rp, lv, load_rate, phases)


CPU_HEAD = ["gateway CPU", "store CPU", "engine CPU", "loadgen CPU", "other CPU"]


def _cpu_cells(cpu: dict[str, float], seconds: float) -> list[str]:
    ours = ("gateway", "trace_store", "engine", "load generator")
    other = cpu["vm"] - sum(cpu[k] for k in ours)
    return [f"{100 * v / seconds:.0f}%" for v in (*(cpu[k] for k in ours), max(0.0, other))]


def main() -> None:
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="agentledger-b9-", dir=BENCH_DIR) as tmp,
        mesh(Path(tmp)) as m,
    ):
        started = time.perf_counter() - t0
        try:
            r = asyncio.run(measure(m))
        except Exception as exc:
            dead = {n: p.returncode for n, p in m.procs.items() if p.poll() is not None}
            if dead:
                raise RuntimeError(f"server processes exited under the bench: {dead}") from exc
            raise
    report(r, started, time.perf_counter() - t0)


def report(r: Results, started_s: float, total_s: float) -> None:
    scale = " (QUICK: scaled down)" if QUICK else ""
    cores = f"{psutil.cpu_count()} cores"
    print(
        f"\nB9: trace_store, engine and gateway processes, data on {BENCH_DIR or 'a temp folder'}; "
        f"clients in this process (one event loop), appends from another; {cores} shared by all. "
        f"CPU columns: % of one core during the phase; loadgen = this process and the appender; "
        f"other = the rest of the VM (programs running beside the bench)."
    )
    rows = []
    for name, s in (("closed loop", r.closed), (f"every {PACED_EVERY_S:g} s", r.paced)):
        rows.append(
            [
                name,
                len(s.latencies_ms),
                s.errors,
                len(s.latencies_ms) / s.seconds,
                median(s.latencies_ms),
                pct(s.latencies_ms, 0.95),
                pct(s.latencies_ms, 0.99),
                max(s.latencies_ms, default=0.0),
                *_cpu_cells(s.cpu, s.seconds),
                "p95 <= 15 ms" if s is r.closed else "",
            ]
        )
    table(
        f"B9 GET /api/tasks/{{id}}/summary from {CLIENTS} clients, {SUMMARY_SECONDS:.0f} s each"
        f"{scale}",
        [
            *["clients send", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"],
            *["max ms", *CPU_HEAD, "floor"],
        ],
        rows,
    )

    fo = r.fo
    complete = [f for f in fo.followers if f.status == 200 and f.received >= FANOUT_EVENTS]
    failed = [f for f in fo.followers if f not in complete]
    fo_lat = [ms for f in fo.followers for ms in f.latencies_ms]
    table(
        f"B9 {FOLLOWERS_TARGET} SSE followers of {FANOUT_TASKS} tasks on one gateway process, "
        f"then {FANOUT_EVENTS} events appended to each task at 10/s",
        [
            *["followers", "complete", "failed", "connect all s", "headers p50 ms"],
            *["headers max ms", "deliver s", "delivery p50 ms", "delivery p99 ms"],
            *[*CPU_HEAD, "floor"],
        ],
        [
            [
                len(fo.followers),
                len(complete),
                len(failed),
                fo.connect_s,
                1000 * median([f.headers_s for f in fo.followers]),
                1000 * max(f.headers_s for f in fo.followers),
                fo.deliver_s,
                median(fo_lat),
                pct(fo_lat, 0.99),
                *_cpu_cells(fo.cpu, fo.connect_s + fo.deliver_s),
                f"{FOLLOWERS_TARGET} complete",
            ]
        ],
    )
    if failed:
        reasons: dict[str, int] = {}
        for f in failed:
            why = f.error or f"received {f.received} of {FANOUT_EVENTS} events"
            reasons[why] = reasons.get(why, 0) + 1
        table("B9 followers that failed", ["followers", "why"], sorted(reasons.items()))

    rp = r.rp
    replay_rate = rp.events / rp.seconds if rp.seconds else 0.0
    replay_ok = rp.events == rp.expected and rp.last_seq == rp.expected
    table(
        f"B9 one SSE follower reads a task of {rp.expected:,} events from the start (loaded "
        f"into the trace_store at {r.load_rate:,.0f} events/s){scale}",
        ["events", "last seq", "first byte ms", "seconds", "events/s", *CPU_HEAD, "floor"],
        [
            [
                rp.events,
                rp.last_seq,
                1000 * rp.first_byte_s,
                rp.seconds,
                replay_rate,
                *_cpu_cells(rp.cpu, rp.seconds),
                ">= 20,000/s",
            ]
        ],
    )
    if rp.error:
        print(f"  the replay stopped early: {rp.error}")

    lv, ap = r.lv, r.lv.appends
    lat = [ms for f in lv.followers for ms in f.latencies_ms]
    live_complete = sum(1 for f in lv.followers if f.received >= ap.per_task)
    append_rate = ap.per_task / ap.seconds
    table(
        f"B9 append -> SSE delivery to {LIVE_FOLLOWERS} followers of one task, ms: "
        f"{LIVE_BATCH} events per append, {LIVE_RATE:,}/s asked, {ap.per_task:,} events in "
        f"{ap.seconds:.1f} s{scale}",
        [
            *["appended/s", "append p50", "append p99", "complete", "deliveries", "p50", "p99"],
            *["max", *CPU_HEAD, "floor"],
        ],
        [
            [
                append_rate,
                median(ap.latencies_ms),
                pct(ap.latencies_ms, 0.99),
                f"{live_complete}/{LIVE_FOLLOWERS}",
                len(lat),
                median(lat),
                pct(lat, 0.99),
                max(lat, default=0.0),
                *_cpu_cells(lv.cpu, lv.cpu_s),
                "p99 <= 100 ms",
            ]
        ],
    )
    phases = ", ".join(f"{k} {v:.1f}" for k, v in r.phases.items())
    print(f"\n  seconds: start {started_s:.1f}, {phases}; total {total_s:.1f}")

    s = r.closed
    summary_p95 = round(pct(s.latencies_ms, 0.95), 3)
    delivery_p99 = round(pct(lat, 0.99), 3)
    met = (
        summary_p95 <= 15
        and len(complete) >= FOLLOWERS_TARGET
        and replay_rate >= 20_000
        and replay_ok
        and delivery_p99 <= 100
        and live_complete == LIVE_FOLLOWERS
        and append_rate >= 0.95 * LIVE_RATE
    )
    emit(
        "B9",
        met,
        clients=CLIENTS,
        summary_p50_ms=round(median(s.latencies_ms), 3),
        summary_p95_ms=summary_p95,
        summary_rps=round(len(s.latencies_ms) / s.seconds),
        summary_errors=s.errors,
        summary_paced_rps=round(len(r.paced.latencies_ms) / r.paced.seconds),
        summary_paced_p95_ms=round(pct(r.paced.latencies_ms, 0.95), 3),
        followers_target=FOLLOWERS_TARGET,
        followers_connected=len(complete),
        followers_failed=len(failed),
        followers_connect_s=round(fo.connect_s, 3),
        sse_replay_events=rp.events,
        sse_events_per_s=round(replay_rate),
        append_rate=round(append_rate),
        live_followers=LIVE_FOLLOWERS,
        live_followers_complete=live_complete,
        delivery_p50_ms=round(median(lat), 3),
        delivery_p99_ms=delivery_p99,
    )


if __name__ == "__main__":
    main()
