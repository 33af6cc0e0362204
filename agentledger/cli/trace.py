"""`agentledger trace ...`: record and read task traces in the TraceStore from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import orjson

from agentledger.cli.identity import cli_identity
from agentledger.core.errors import InvalidArgument
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.client import TraceStoreClient, event, payload


def register(commands: Any) -> None:
    p = commands.add_parser("trace", help="record and read task traces in the trace store")
    p.add_argument(
        "--target",
        default=os.environ.get("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051"),
        help="trace_store address (default: $AGENTLEDGER_TRACE_STORE_ADDR or 127.0.0.1:50051)",
    )
    sub = p.add_subparsers(dest="trace_command", required=True, metavar="ACTION")

    put = sub.add_parser("put-task", help="create or update a task's summary")
    put.add_argument("task_id")
    put.add_argument("--owner", required=True)
    put.add_argument("--state", default="RUNNING")
    put.add_argument("--mode", default="balanced", choices=["fast", "balanced", "thorough"])
    put.add_argument("--plan", default="")
    put.add_argument("--goal", default="")
    put.set_defaults(action=_put_task)

    app = sub.add_parser("append", help="append one event to a task")
    app.add_argument("task_id")
    app.add_argument("type")
    app.add_argument("payload", nargs="?", default="{}", help="a JSON object")
    app.add_argument("--phase", default="", choices=["", "spec", "build", "verify", "govern"])
    app.add_argument("--node", default="")
    app.set_defaults(action=_append)

    evs = sub.add_parser("events", help="print a page of a task's events")
    evs.add_argument("task_id")
    evs.add_argument("--cursor", default="")
    evs.add_argument("--limit", type=int, default=50)
    evs.set_defaults(action=_events)

    fol = sub.add_parser("follow", help="replay a task's events, then follow it live until it ends")
    fol.add_argument("task_id")
    fol.add_argument("--cursor", default="", help="resume after this cursor")
    fol.set_defaults(action=_follow)

    summ = sub.add_parser("summary", help="print a task's summary")
    summ.add_argument("task_id")
    summ.set_defaults(action=_summary)

    tasks = sub.add_parser("tasks", help="list tasks, newest first")
    tasks.add_argument("--owner", action="append", default=[])
    tasks.add_argument("--state", action="append", default=[])
    tasks.add_argument("--limit", type=int, default=20)
    tasks.set_defaults(action=_tasks)

    stats = sub.add_parser("stats", help="counts, costs and durations over all tasks")
    stats.set_defaults(action=_stats)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with TraceStoreClient(args.target, identity=cli_identity()) as client:
            return int(await args.action(client, args) or 0)

    return asyncio.run(go())


def _print_event(e: pb.TraceEvent) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(e.time_unix_nano / 1e9))
    where = "/".join(x for x in (e.phase, e.node_id) if x)
    print(f"#{e.seq:<6} {stamp}  {e.type:<24} {where:<16} {json.dumps(payload(e))}", flush=True)


async def _put_task(client: TraceStoreClient, args: argparse.Namespace) -> None:
    now = time.time_ns()
    ended = now if args.state in ("COMPLETED", "FAILED", "CANCELLED") else 0
    summary = pb.TraceSummary(
        task_id=args.task_id,
        owner=args.owner,
        state=args.state,
        mode=args.mode,
        plan_id=args.plan,
        goal=args.goal,
        updated_unix_nano=now,
        ended_unix_nano=ended,
    )
    version = await client.put_summary(summary)
    print(f"task {args.task_id}: summary version {version}, state {args.state}")


async def _append(client: TraceStoreClient, args: argparse.Namespace) -> None:
    try:
        body = orjson.loads(args.payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"payload is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument('payload must be a JSON object, e.g. \'{"node": "n1"}\'')
    reply = await client.append(
        args.task_id, [event(args.type, body, phase=args.phase, node_id=args.node)]
    )
    print(f"appended as #{reply.seqs[0]} (cursor {reply.cursor})")


async def _events(client: TraceStoreClient, args: argparse.Namespace) -> None:
    page = await client.list_events(args.task_id, cursor=args.cursor, limit=args.limit)
    for e in page.events:
        _print_event(e)
    print(f"-- next cursor: {page.next_cursor}{' (more)' if page.has_more else ''}")


async def _follow(client: TraceStoreClient, args: argparse.Namespace) -> int:
    async for msg in client.stream_events(args.task_id, args.cursor, until_terminal=True):
        if msg.HasField("batch"):
            for e in msg.batch.events:
                _print_event(e)
        elif msg.HasField("end"):
            print(f"-- task {args.task_id} ended: {msg.end.state} (cursor {msg.end.cursor})")
            return 0 if msg.end.state == "COMPLETED" else 1
    return 0


async def _summary(client: TraceStoreClient, args: argparse.Namespace) -> None:
    from google.protobuf import json_format

    s = await client.get_summary(args.task_id)
    print(json.dumps(json_format.MessageToDict(s, preserving_proto_field_name=True), indent=2))


async def _tasks(client: TraceStoreClient, args: argparse.Namespace) -> None:
    page = await client.query_tasks(
        pb.TaskFilter(owners=args.owner, states=args.state), limit=args.limit
    )
    print(f"{'task':<24} {'owner':<12} {'state':<10} {'mode':<9} {'events':>6} {'cost $':>8}")
    for t in page.tasks:
        print(
            f"{t.task_id:<24} {t.owner:<12} {t.state:<10} {t.mode:<9} {t.last_seq:>6} {t.cost_usd:>8.4f}"
        )
    if page.next_cursor:
        print("-- more tasks; narrow the filter or raise --limit", file=sys.stderr)


async def _stats(client: TraceStoreClient, args: argparse.Namespace) -> None:
    s = await client.get_stats()
    states = ", ".join(f"{x.state} {x.count}" for x in s.by_state) or "none"
    print(f"tasks {s.task_count} ({states}); cost ${s.cost_usd_sum:.4f}, tokens {s.tokens_sum}")
    print(
        f"duration p50 {s.duration_p50_ms:.0f} ms, p95 {s.duration_p95_ms:.0f} ms over {s.ended_count} ended"
    )
    print(f"degrade rate {s.degrade_rate:.1%}, pause rate {s.pause_rate:.1%}")
