"""B3: following — replay speed and memory, live delivery latency, resumes without gaps.

Floors (issue 2): a new follower replays 1,000,000 events at >= 100,000 events/s while the
trace_store process grows by <= 200 MB RSS; append -> delivery to 10 live followers while a
producer appends 1,000 events/s: p99 <= 50 ms; a follower killed and resumed 100 times while
appends continue receives every event exactly once (0 gaps, 0 duplicates).

The replayed events are appended through gRPC (as in B2), then a fresh store process serves the
same file, so its RSS before the replay is that of an idle store. Its RSS is sampled every 10 ms
during the replay. The producer and the followers (StreamEvents through the typed client, one
channel each) run in this process; each event carries the producer's time.time_ns() at the
append call, and a follower takes the latency when the message holding the event arrives.
Kills are of two kinds, at random: the stream is cancelled after a random time, or the
follower stops after a random number of events, mid-batch; it resumes from the cursor of the
last event it processed (the batch's cursor when it processed a whole batch).
QUICK scales down to a 100,000-event replay, 3 s of live appends and 20 resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import orjson
import psutil

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from bench.b2_read import load_events, run_against
from bench.common import (
    BENCH_DIR,
    PG_URL,
    QUICK,
    emit,
    median,
    pct,
    replica_env,
    table,
    trace_store,
)
from services.trace_store.client import TraceStoreClient

FOLLOWERS = 10
LIVE_RATE = 1000  # events/s
LIVE_BATCH = 10  # events per append, every 10 ms
RESUME_BATCH = 10  # events per append (every 10 ms) while a follower is killed and resumed
REPLAY_BATCH = 1000
MB = 1024 * 1024


def open_stream(
    client: TraceStoreClient, task_id: str, cursor: str, *, until_terminal: bool, batch_size: int
) -> AsyncGenerator[pb.StreamEventsResponse, None]:
    """StreamEvents as the async generator it is, to close (and so cancel the call) at once:
    leaving an ``async for`` early leaves the generator and its call open until collected."""
    stream = client.stream_events(
        task_id, cursor, until_terminal=until_terminal, batch_size=batch_size
    )
    return cast(AsyncGenerator[pb.StreamEventsResponse, None], stream)


# ---------------------------------------------------------------- replay


class RssSampler:
    """The peak RSS of a process, sampled on a thread while it runs."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self._proc.memory_info().rss)

    def cpu_s(self) -> float:
        times = self._proc.cpu_times()
        return float(times.user + times.system)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


@dataclass
class Replay:
    events: int
    seconds: float
    rss_before: int
    rss_peak: int
    rss_after: int
    server_cpu_s: float
    client_cpu_s: float


async def replay(target: str, task_id: str, total: int, pid: int) -> Replay:
    """A new follower reads the ended task from the start until the stream's End."""
    async with TraceStoreClient(target) as client:
        await client.get_summary(task_id)  # opens the channel before the clock starts
        expected = 1
        with RssSampler(pid) as rss:
            before, cpu0, own0 = rss.peak, rss.cpu_s(), time.process_time()
            t0 = time.perf_counter()
            stream = open_stream(client, task_id, "", until_terminal=True, batch_size=REPLAY_BATCH)
            async with contextlib.aclosing(stream):
                async for msg in stream:
                    if msg.WhichOneof("item") == "batch":
                        events = msg.batch.events
                        n = len(events)
                        # Pages come in ascending seq order: the ends and the count prove contiguity.
                        if events[0].seq != expected or events[n - 1].seq != expected + n - 1:
                            raise AssertionError(f"replay jumped at seq {expected}")
                        expected += n
                    elif msg.WhichOneof("item") == "end":
                        break
            seconds = time.perf_counter() - t0
            cpu, own = rss.cpu_s() - cpu0, time.process_time() - own0
        after = rss.rss()
    if expected - 1 != total:
        raise AssertionError(f"replay delivered {expected - 1} events, not {total}")
    return Replay(total, seconds, before, rss.peak, after, cpu, own)


# ---------------------------------------------------------------- live delivery


@dataclass
class Follower:
    latencies_ms: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)


class Countdown:
    """Set once ``n`` parties have arrived."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.done = asyncio.Event()

    def arrive(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


async def follow_live(
    client: TraceStoreClient, task_id: str, f: Follower, ready: Countdown
) -> None:
    stream = open_stream(client, task_id, "", until_terminal=True, batch_size=0)
    async with contextlib.aclosing(stream):
        async for msg in stream:
            item = msg.WhichOneof("item")
            if item == "batch":
                now = time.time_ns()
                for e in msg.batch.events:
                    f.seqs.append(e.seq)
                    sent = orjson.loads(e.payload_json)["sent_ns"]
                    if sent:  # 0 marks the warm-up event
                        f.latencies_ms.append((now - sent) / 1e6)
                    else:
                        ready.arrive()
            elif item == "end":
                return


async def paced_appends(
    client: TraceStoreClient, task_id: str, rate: int, batch: int, stop: asyncio.Event
) -> int:
    """Appends ``batch`` events every batch / rate seconds until ``stop``; returns how many."""
    interval = batch / rate
    t0 = time.perf_counter()
    sent = 0
    while not stop.is_set():
        now_ns = time.time_ns()
        events = [
            pb.EventInput(
                event_id=f"live-{sent + i:09d}",
                type="node.progress",
                phase="build",
                node_id="n1",
                payload_json=orjson.dumps({"sent_ns": now_ns, "tokens": 17, "status": "ok"}),
            )
            for i in range(batch)
        ]
        await client.append(task_id, events)
        sent += batch
        # Pacing on an absolute schedule: a late append is followed by the next one at once.
        delay = t0 + (sent // batch) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent


@dataclass
class Live:
    followers: list[Follower]
    events: int
    seconds: float


async def live(target: str, task_id: str, seconds: float, follow_target: str = "") -> Live:
    """Appends through ``target``; followers read through ``follow_target`` (another replica)
    when given, else through the same process."""
    clients = [TraceStoreClient(target)] + [
        TraceStoreClient(follow_target or target) for _ in range(FOLLOWERS)
    ]
    producer = clients[0]
    try:
        await producer.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="RUNNING"))
        followers = [Follower() for _ in range(FOLLOWERS)]
        ready = Countdown(FOLLOWERS)
        tasks = [
            asyncio.create_task(follow_live(c, task_id, f, ready))
            for c, f in zip(clients[1:], followers, strict=True)
        ]
        # A warm-up event: a follower that has it subscribed to the task before reading it.
        await producer.append(
            task_id,
            [
                pb.EventInput(
                    event_id="warm-up", type="bench.warm_up", payload_json=b'{"sent_ns":0}'
                )
            ],
        )
        waiting = asyncio.create_task(ready.done.wait())
        await asyncio.wait([waiting, *tasks], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            raise AssertionError("the followers did not all receive the warm-up event")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        t0 = time.perf_counter()
        sent = await paced_appends(producer, task_id, LIVE_RATE, LIVE_BATCH, stop)
        elapsed = time.perf_counter() - t0
        await producer.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="COMPLETED"))
        await asyncio.gather(*tasks)
    finally:
        for c in clients:
            await c.close()
    for n, f in enumerate(followers):
        if f.seqs != list(range(1, sent + 2)):
            raise AssertionError(f"follower {n} received {len(f.seqs)} events, not 1..{sent + 1}")
    return Live(followers, sent, elapsed)


# ---------------------------------------------------------------- kill and resume


class Resumer:
    """A follower that keeps, event by event, what it processed and where to resume."""

    def __init__(self, client: TraceStoreClient, task_id: str) -> None:
        self._client = client
        self._task_id = task_id
        self.cursor = ""
        self.received: list[int] = []

    async def follow(self, limit: int, batch_size: int, until_terminal: bool = False) -> None:
        """Follows from the cursor until ``limit`` events are processed (or the stream ends)."""
        stream = open_stream(
            self._client,
            self._task_id,
            self.cursor,
            until_terminal=until_terminal,
            batch_size=batch_size,
        )
        async with contextlib.aclosing(stream):
            async for msg in stream:
                if msg.WhichOneof("item") != "batch":
                    continue
                for e in msg.batch.events:
                    # No await between taking an event and moving the cursor past it.
                    self.received.append(e.seq)
                    self.cursor = e.cursor
                    limit -= 1
                    if limit == 0:
                        return
                self.cursor = msg.batch.cursor


@dataclass
class Resumes:
    resumes: int
    cancelled: int  # killed by cancelling the stream after a random time
    stopped: int  # stopped after a random number of events, often inside a batch
    last_seq: int
    received: int
    gaps: int
    duplicates: int


async def kill_and_resume(target: str, task_id: str, rounds: int, rng: random.Random) -> Resumes:
    async with TraceStoreClient(target) as producer, TraceStoreClient(target) as client:
        await producer.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="RUNNING"))
        stop = asyncio.Event()
        appending = asyncio.create_task(
            paced_appends(producer, task_id, LIVE_RATE, RESUME_BATCH, stop)
        )
        follower = Resumer(client, task_id)
        cancelled = stopped = 0
        for _ in range(rounds):
            batch_size = rng.choice([1, 7, 100, 1000])
            if rng.random() < 0.5:
                task = asyncio.create_task(follower.follow(-1, batch_size))
                # The kill comes at a random moment (this wait only picks the moment).
                await asyncio.wait([task], timeout=rng.uniform(0.002, 0.08))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                cancelled += 1
            else:
                await follower.follow(rng.randint(1, 300), batch_size)
                stopped += 1
        stop.set()
        await appending
        await producer.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="COMPLETED"))
        last_seq = (await producer.get_summary(task_id)).last_seq
        await follower.follow(-1, 1000, until_terminal=True)
    counts = Counter(follower.received)
    return Resumes(
        resumes=rounds,
        cancelled=cancelled,
        stopped=stopped,
        last_seq=last_seq,
        received=len(follower.received),
        gaps=sum(1 for seq in range(1, last_seq + 1) if seq not in counts),
        duplicates=sum(n - 1 for n in counts.values()) + sum(1 for seq in counts if seq > last_seq),
    )


# ---------------------------------------------------------------- the run


async def load(target: str, task_id: str, events: int) -> float:
    async with TraceStoreClient(target, timeout_s=120) as client:
        await client.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="RUNNING"))
        t0 = time.perf_counter()
        await load_events(client, task_id, events)
        rate = events / (time.perf_counter() - t0)
        await client.put_summary(pb.TraceSummary(task_id=task_id, owner="b3", state="COMPLETED"))
    return rate


async def measure(
    target: str, pid: int, replay_task: str, events: int
) -> tuple[Replay, Live, Resumes]:
    r = await replay(target, replay_task, events, pid)
    lv = await live(target, "b3-live", 3.0 if QUICK else 20.0)
    rs = await kill_and_resume(target, "b3-resume", 20 if QUICK else 100, random.Random(5))
    return r, lv, rs


def main() -> None:
    events = 100_000 if QUICK else 1_000_000
    replay_task = "b3-replay"
    with tempfile.TemporaryDirectory(prefix="agentledger-b3-", dir=BENCH_DIR) as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'trace_store.db'}"
        with trace_store(db_url) as store:
            load_rate = run_against(store, load(store.target, replay_task, events))
        with trace_store(db_url) as store:  # a fresh process: its RSS is that of an idle store
            r, lv, rs = run_against(
                store, measure(store.target, store.proc.pid, replay_task, events)
            )
    cross: Live | None = None
    if PG_URL:
        # Two processes on one PostgreSQL: appends through one, followers on the other, woken
        # by LISTEN/NOTIFY (the heartbeat fallback is a minute away).
        slow_heartbeat = {"AGENTLEDGER_TRACE_STORE_HEARTBEAT_SECONDS": "60"}
        with (
            trace_store(PG_URL, slow_heartbeat) as a,
            trace_store(PG_URL, {**slow_heartbeat, **replica_env(a)}) as b,
        ):
            cross = run_against(a, live(a.target, "b3-cross", 3.0 if QUICK else 20.0, b.target))
    lat = [ms for f in lv.followers for ms in f.latencies_ms]
    rate = round(r.events / r.seconds)
    growth_mb = round((r.rss_peak - r.rss_before) / MB, 1)
    live_p99 = round(pct(lat, 0.99), 3)
    exact = rs.gaps == 0 and rs.duplicates == 0
    met = rate >= 100_000 and growth_mb <= 200 and live_p99 <= 50 and exact
    figures: dict[str, object] = {
        "replay_events": r.events,
        "replay_events_per_s": rate,
        "replay_rss_before_mb": round(r.rss_before / MB, 1),
        "replay_rss_peak_mb": round(r.rss_peak / MB, 1),
        "replay_rss_growth_mb": growth_mb,
        "replay_store_cpu_s": round(r.server_cpu_s, 2),
        "followers": FOLLOWERS,
        "live_events": lv.events,
        "live_events_per_s": round(lv.events / lv.seconds),
        "live_p50_ms": round(median(lat), 3),
        "live_p99_ms": live_p99,
        "live_max_ms": round(max(lat), 3),
        "resumes": rs.resumes,
        "resume_events": rs.last_seq,
        "gaps": rs.gaps,
        "duplicates": rs.duplicates,
    }
    if cross is not None:
        cross_lat = [ms for f in cross.followers for ms in f.latencies_ms]
        figures["cross_replica_live_p50_ms"] = round(median(cross_lat), 3)
        figures["cross_replica_live_p99_ms"] = round(pct(cross_lat, 0.99), 3)
        met = met and figures["cross_replica_live_p99_ms"] <= 50  # type: ignore[operator]
    scale = " (QUICK: scaled down)" if QUICK else ""
    table(
        f"B3 replay of a {events:,}-event task by a new follower{scale}, batches of "
        f"{REPLAY_BATCH} (loaded through gRPC at {load_rate:,.0f} events/s)",
        [
            "events/s",
            "seconds",
            "store CPU s",
            "client CPU s",
            "RSS before MB",
            "RSS peak MB",
            "RSS after MB",
            "growth MB",
            "floor",
        ],
        [
            [
                rate,
                r.seconds,
                r.server_cpu_s,
                r.client_cpu_s,
                r.rss_before / MB,
                r.rss_peak / MB,
                r.rss_after / MB,
                growth_mb,
                ">= 100,000/s, <= 200 MB",
            ]
        ],
    )
    table(
        f"B3 append -> delivery to {FOLLOWERS} live followers, ms ({lv.events:,} events in "
        f"{lv.seconds:.1f} s, {LIVE_BATCH} per append, paced at {LIVE_RATE:,}/s){scale}",
        ["follower", "deliveries", "p50", "p99", "max", "floor"],
        [
            [
                n,
                len(f.latencies_ms),
                median(f.latencies_ms),
                pct(f.latencies_ms, 0.99),
                max(f.latencies_ms),
                "",
            ]
            for n, f in enumerate(lv.followers)
        ]
        + [["all", len(lat), median(lat), pct(lat, 0.99), max(lat), "p99 <= 50 ms"]],
    )
    table(
        f"B3 a follower killed and resumed {rs.resumes} times while appends continue "
        f"({LIVE_RATE:,}/s){scale}",
        ["kills", "by cancel", "by stopping", "events", "received", "gaps", "duplicates", "floor"],
        [
            [
                rs.resumes,
                rs.cancelled,
                rs.stopped,
                rs.last_seq,
                rs.received,
                rs.gaps,
                rs.duplicates,
                "0 gaps, 0 duplicates",
            ]
        ],
    )
    if cross is not None:
        table(
            f"B3 across replicas on PostgreSQL: appends through one trace_store process, "
            f"{FOLLOWERS} followers on another, ms ({cross.events:,} events){scale}",
            ["deliveries", "p50", "p99", "max", "floor"],
            [
                [
                    len(cross_lat),
                    median(cross_lat),
                    pct(cross_lat, 0.99),
                    max(cross_lat),
                    "p99 <= 50 ms",
                ]
            ],
        )
    emit("B3", met, **figures)


if __name__ == "__main__":
    main()
