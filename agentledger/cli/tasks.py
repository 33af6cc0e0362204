"""`agentledger submit | task | tasks | cancel | pause | resume | retry | plans`: run tasks on
the engine from a terminal, and follow them live."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import time
from pathlib import Path
from typing import Any

import orjson

from agentledger.cli.identity import cli_identity
from agentledger.core.errors import InvalidArgument, NotFound
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine.client import EngineClient, json_of
from services.trace_store.client import TraceStoreClient, payload

ENGINE = os.environ.get("AGENTLEDGER_ENGINE_ADDR", "127.0.0.1:50052")
TRACE = os.environ.get("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051")
EXIT = {"COMPLETED": 0, "FAILED": 1, "CANCELLED": 1, "WAITING_INPUT": 3, "PAUSED": 3}


def register(commands: Any) -> None:
    def parser(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = commands.add_parser(name, help=help)
        p.add_argument("--engine", default=ENGINE, help=f"engine address (default {ENGINE})")
        p.add_argument("--trace-store", default=TRACE, help=f"trace_store address ({TRACE})")
        p.add_argument("--actor", default=_user(), help="who is acting (default: $USER)")
        return p

    s = parser("submit", help="submit a task: a plan id, or a plan YAML file")
    s.add_argument("plan", help="plan id (see `agentledger plans`), or a path to a plan .yaml")
    s.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input field; VALUE is read as JSON when it parses, else as text",
    )
    s.add_argument("--inputs-json", type=Path, help="a JSON file with the inputs object")
    s.add_argument(
        "--goal", default="", help="what the task is for (default: the plan's description)"
    )
    s.add_argument("--mode", default="", choices=["", "fast", "balanced", "thorough"])
    add_budget_options(s)
    s.add_argument("--version", type=int, default=0, help="plan version (default: latest)")
    s.add_argument("--follow", "-f", action="store_true", help="stream the task live until it ends")
    s.set_defaults(run=lambda a: asyncio.run(_submit(a)))

    t = parser("task", help="show a task and its nodes")
    t.add_argument("task_id")
    t.set_defaults(run=lambda a: asyncio.run(_show(a)))

    ls = parser("tasks", help="list tasks, newest first")
    ls.add_argument("--owner", default="")
    ls.add_argument("--state", action="append", default=[])
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(run=lambda a: asyncio.run(_list(a)))

    f = parser("follow", help="follow a task's events live until it ends or waits")
    f.add_argument("task_id")
    f.set_defaults(run=lambda a: asyncio.run(_follow_only(a)))

    for name, help in (
        ("cancel", "cancel a task"),
        ("pause", "pause a task after the nodes in flight"),
        ("retry", "re-run a failed task from its failure"),
        ("resume", "resume a paused task, or answer a task waiting for input"),
    ):
        c = parser(name, help=help)
        c.add_argument("task_id")
        c.add_argument("--reason", default="")
        c.add_argument("--follow", "-f", action="store_true")
        if name == "resume":
            c.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
        c.set_defaults(run=lambda a, name=name: asyncio.run(_control(a, name)))

    p = parser("plans", help="list plans; `plans show ID`, `plans validate FILE`")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "validate"])
    p.add_argument("target", nargs="?", default="", help="plan id (show) or file (validate)")
    p.set_defaults(run=lambda a: asyncio.run(_plans(a)))


def _user() -> str:
    try:
        return os.environ.get("AGENTLEDGER_USER") or getpass.getuser()
    except Exception:
        return "local"


def parse_inputs(pairs: list[str], json_file: Path | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if json_file is not None:
        loaded = orjson.loads(json_file.read_bytes())
        if not isinstance(loaded, dict):
            raise InvalidArgument(f"{json_file} must hold a JSON object")
        values.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--input {pair!r} is not KEY=VALUE")
        try:
            values[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            values[key] = raw
    return values


def add_budget_options(p: argparse.ArgumentParser) -> None:
    """--budget-seconds/--budget-usd/--budget-tokens, as every command that starts a task takes
    them (unset: the command's default budget)."""
    p.add_argument("--budget-seconds", type=float, default=None, help="wall-time budget")
    p.add_argument("--budget-usd", type=float, default=None)
    p.add_argument("--budget-tokens", type=int, default=None)


async def _submit(args: argparse.Namespace) -> int:
    plan_path = Path(args.plan)
    plan_yaml = ""
    if args.plan.endswith((".yaml", ".yml")) or plan_path.is_file():
        plan_yaml = plan_path.read_text(encoding="utf-8")
    seconds = args.budget_seconds
    if seconds is None and args.budget_usd is None and args.budget_tokens is None:
        seconds = 600.0
        print("budget: 600 s of wall time (set --budget-seconds/--budget-usd/--budget-tokens)")
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        task = await engine.submit(
            owner=args.actor,
            goal=args.goal or f"run {args.plan}",
            budget=pb.Budget(tokens=args.budget_tokens, usd=args.budget_usd, seconds=seconds),
            inputs=parse_inputs(args.input, args.inputs_json),
            plan_id="" if plan_yaml else args.plan,
            plan_version=args.version,
            plan_yaml=plan_yaml,
            mode=args.mode,
        )
        print(
            f"task {task.task_id}: plan {task.plan_id}@{task.plan_version} ({task.plan_rule}),"
            f" {task.state}"
        )
        if not args.follow:
            print(f"follow it: agentledger follow {task.task_id}")
            return 0
        return await follow(engine, args.trace_store, task.task_id)


async def end_cursor(trace_target: str, task_id: str) -> str:
    """The cursor after the task's last event so far: following from it shows only what
    happens next."""
    cursor = ""
    async with TraceStoreClient(trace_target, identity=cli_identity()) as store:
        while True:
            page = await store.list_events(task_id, cursor=cursor, limit=1000)
            cursor = page.next_cursor or cursor
            if not page.has_more:
                return cursor


async def follow(engine: EngineClient, trace_target: str, task_id: str, cursor: str = "") -> int:
    """Prints the task's events as they happen, with progress; returns the exit code."""
    got = await engine.get(task_id)
    try:
        total = len((await engine.get_plan(got.task.plan_id, got.task.plan_version)).plan.nodes)
    except NotFound:
        total = 0  # a plan submitted inline before the engine restarted: count unknown
    done = {n.node_id for n in got.nodes if n.status == "completed"} if cursor else set()
    started = time.monotonic()
    async with TraceStoreClient(trace_target, identity=cli_identity()) as store:
        async for msg in store.stream_events(task_id, cursor, until_terminal=True):
            if not msg.HasField("batch"):
                continue
            for e in msg.batch.events:
                p = payload(e)
                if e.type == "node.completed":
                    done.add(e.node_id)
                print(_line(e.type, e.node_id, e.phase, p, len(done), total, started), flush=True)
                if e.type == "task.state_changed" and p.get("to") in EXIT:
                    return await _outcome(engine, task_id, str(p["to"]))
    return await _outcome(engine, task_id, (await engine.get(task_id)).task.state)


def _line(
    type: str, node: str, phase: str, p: dict[str, Any], done: int, total: int, t0: float
) -> str:
    elapsed = f"{time.monotonic() - t0:7.2f}s"
    where = f"{phase}/{node}" if node else ""
    detail = ""
    if type == "task.state_changed":
        detail = f"{p.get('from')} -> {p.get('to')}: {p.get('reason', '')}"
    elif type == "node.started":
        detail = f"attempt {p.get('attempt')} ({p.get('agent')}, variant {p.get('variant')})"
    elif type == "node.completed":
        detail = f"{p.get('duration_s', 0):.3f}s"
    elif type == "node.failed":
        f = p.get("failure", {})
        detail = f"{f.get('kind')}: {f.get('message')}"
    elif type == "governance.decision":
        detail = f"{p.get('action')} by {p.get('rule')} v{p.get('rule_version')}: {p.get('reason')}"
    elif type == "node.artifact_written":
        detail = f"{p.get('name')} ({p.get('size')} bytes)"
    progress = f"[{done}/{total or '?'}]"
    return f"{elapsed} {progress} {type:<24} {where:<22} {detail}"


async def _outcome(engine: EngineClient, task_id: str, state: str) -> int:
    t = (await engine.get(task_id)).task
    cost = f"${t.cost.usd:.4f}, {t.cost.tokens_in + t.cost.tokens_out} tokens"
    print(f"\n== task {task_id}: {state} after {t.run_seconds:.2f}s ({cost})")
    if state == "FAILED":
        print(f"   failure ({t.failure_type}): {t.failure_message}")
        print(f"   retry from the failure: agentledger retry {task_id} --follow")
    elif state == "WAITING_INPUT":
        pending = json_of(t.pending_json)
        print(f"   question: {pending.get('question')}")
        fields = " ".join(f"--input {f}=..." for f in pending.get("fields", [])) or "--input k=v"
        print(f"   answer:   agentledger resume {task_id} {fields} --follow")
    elif state == "PAUSED":
        print(f"   resume:   agentledger resume {task_id} --follow")
    elif state == "COMPLETED":
        print(f"   result: {orjson.dumps(json_of(t.result_json)).decode()[:400]}")
    return EXIT.get(state, 0)


async def _follow_only(args: argparse.Namespace) -> int:
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        return await follow(engine, args.trace_store, args.task_id)


async def _show(args: argparse.Namespace) -> None:
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        got = await engine.get(args.task_id)
    t = got.task
    print(f"task {t.task_id}  {t.state}  plan {t.plan_id}@{t.plan_version} (rule {t.plan_rule})")
    print(f"  owner {t.owner}  mode {t.mode}  goal: {t.goal}")
    print(
        f"  cost ${t.cost.usd:.4f}  tokens {t.cost.tokens_in}+{t.cost.tokens_out}"
        f"  run {t.run_seconds:.2f}s  degraded {t.degrade_count}  paused {t.pause_count}"
    )
    if t.failure_type:
        print(f"  failure ({t.failure_type}): {t.failure_message}")
    for n in got.nodes:
        extra = f"  {n.failure_kind}: {n.failure_message}" if n.failure_kind else ""
        print(f"  - {n.node_id:<20} {n.status:<10} attempt {n.attempt} variant {n.variant}{extra}")


async def _list(args: argparse.Namespace) -> None:
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        page = await engine.list_tasks(owner=args.owner, states=args.state, limit=args.limit)
    print(f"{'task':<36} {'state':<13} {'plan':<20} {'owner':<10} {'cost $':>8}")
    for t in page.tasks:
        plan = f"{t.plan_id}@{t.plan_version}"
        print(f"{t.task_id:<36} {t.state:<13} {plan:<20} {t.owner:<10} {t.cost.usd:>8.4f}")


async def _control(args: argparse.Namespace, action: str) -> int:
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        # Follow from here on: the events before the action (an earlier pause) are history.
        cursor = await end_cursor(args.trace_store, args.task_id) if args.follow else ""
        kw = {"actor": args.actor, "reason": args.reason}
        if action == "resume":
            t = await engine.resume(args.task_id, input=parse_inputs(args.input), **kw)
        else:
            t = await getattr(engine, action)(args.task_id, **kw)
        note = f" (requested: {t.control})" if t.control else ""
        print(f"task {t.task_id}: {t.state}{note}")
        if args.follow:
            return await follow(engine, args.trace_store, args.task_id, cursor)
    return 0


async def _plans(args: argparse.Namespace) -> int:
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        if args.action == "validate":
            text = Path(args.target).read_text(encoding="utf-8")
            plan = await engine.validate_plan(text, args.target)
            print(
                f"{args.target}: plan {plan.plan_id}@{plan.version} is valid"
                f" ({len(plan.nodes)} nodes)"
            )
            return 0
        if args.action == "show":
            got = await engine.get_plan(args.target)
            print(got.text or got.plan)
            return 0
        for p in await engine.list_plans():
            versions = ",".join(str(v) for v in p.versions)
            print(
                f"{p.plan_id:<20} v{p.version:<3} ({versions:<6}) {len(p.nodes):>3} nodes  "
                f"{p.description.strip().splitlines()[0] if p.description.strip() else ''}"
            )
    return 0
