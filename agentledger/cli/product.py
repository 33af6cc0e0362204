"""`agentledger goal | explain | compare | export | template | rerun | usage | quota | billing`:
what the product service makes of tasks (SPEC 3.1-3.6), from a terminal.

Text for people by default; `--json` prints the objects the REST API returns. Runs of a template
and re-runs take inputs and budgets like `agentledger submit`, and `--follow` follows them live.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from agentledger.cli.identity import cli_identity
from agentledger.cli.tasks import ENGINE, TRACE, add_budget_options, follow, parse_inputs
from agentledger.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from agentledger.core.protojson import to_dict
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.product.v1 import product_pb2 as pb
from services.engine.client import EngineClient
from services.product.client import ProductClient
from services.product.domain.records import QUOTAS, SCOPES

DEFAULT_PRODUCT = "127.0.0.1:50054"
Action = Callable[[ProductClient, argparse.Namespace], Awaitable[int | None]]


def register(commands: Any) -> None:
    # Read when the parser is built, not at import: a test sets it for the call it makes.
    product = os.environ.get("AGENTLEDGER_PRODUCT_ADDR", DEFAULT_PRODUCT)

    def command(
        within: Any, name: str, help: str, action: Action, *positionals: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = within.add_parser(name, help=help)
        for positional in positionals:
            p.add_argument(positional)
        p.add_argument("--product", default=product, help=f"product address (default {product})")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(run=lambda a: asyncio.run(_call(action, a)))
        return p

    def group(name: str, help: str) -> Any:
        return commands.add_parser(name, help=help).add_subparsers(
            dest=f"{name}_command", required=True, metavar="ACTION"
        )

    command(commands, "goal", "a task's goal status, sub-goals and next actions", _goal, "task_id")
    ex = command(commands, "explain", "what happened in a task, as Markdown", _explain, "task_id")
    ex.add_argument("--rephrase", action="store_true", help="have the configured LLM reword it")
    command(commands, "compare", "two runs side by side", _compare, "task_id", "task_b")
    exp = command(commands, "export", "download a task's export, a zip", _export, "task_id")
    exp.add_argument("--output", "-o", type=Path, help="a file or folder (default ./TASK_ID.zip)")
    exp.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    command(commands, "usage", "what a task used: cost, events, bytes", _usage, "task_id")
    rerun = command(commands, "rerun", "run a task again, other inputs", _rerun, "task_id")
    _submission_options(rerun)
    bill = command(commands, "billing", "an owner's bill: a line per task, totals", _billing)
    bill.add_argument("--owner", default="", help="whose (default: yours)")
    bill.add_argument("--from", dest="from_day", default="", metavar="YYYY-MM-DD")
    bill.add_argument("--to", dest="to_day", default="", metavar="YYYY-MM-DD")

    tpl = group("template", "make ended tasks into templates, and run them")
    made = command(tpl, "create", "make a template from an ended task", _template_create, "task_id")
    made.add_argument("--name", default="", help="default: from the task's plan")
    ls = command(tpl, "list", "your templates", _template_list)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--cursor", default="", help="next_cursor of an earlier page")
    command(tpl, "show", "a template's plan, inputs and budget", _template_show, "template_id")
    command(tpl, "delete", "delete a template", _template_delete, "template_id")
    run = command(tpl, "run", "submit a task from a template", _template_run, "template_id")
    run.add_argument("--goal", default="", help="default: the template's")
    run.add_argument("--mode", default="", choices=["", "fast", "balanced", "thorough"])
    _submission_options(run)

    quota = group("quota", "read and set quotas")
    show = command(quota, "show", "where an owner stands against each quota", _quota_show)
    show.add_argument("--owner", default="", help="whose (default: yours)")
    for name, help in (("set", "set a quota"), ("reset", "put a quota back to its default")):
        q = command(quota, name, help, _quota_set)
        q.add_argument("--scope", required=True, choices=SCOPES)
        q.add_argument("--subject", required=True, help="the owner or tenant it applies to")
        q.add_argument("--quota", required=True, choices=QUOTAS)
        if name == "set":
            q.add_argument("--limit", required=True, type=float, help="0 means unlimited")


def _submission_options(p: argparse.ArgumentParser) -> None:
    """What a new task takes besides its plan, as `agentledger submit` spells it."""
    p.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--inputs-json", type=Path, help="a JSON file with the inputs object")
    # Without budget flags the template's budget, or the earlier task's, stands.
    add_budget_options(p)
    p.add_argument("--follow", "-f", action="store_true", help="follow the task until it ends")
    p.add_argument("--engine", default=ENGINE, help=f"engine address, to follow ({ENGINE})")
    p.add_argument("--trace-store", default=TRACE, help=f"trace_store address, to follow ({TRACE})")


async def _call(action: Action, args: argparse.Namespace) -> int:
    async with ProductClient(args.product, identity=cli_identity()) as client:
        return int(await action(client, args) or 0)


def _print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S") if ns else "-"


def _budget_text(b: epb.Budget) -> str:
    parts = [
        f"{b.tokens} tokens" if b.HasField("tokens") else "",
        f"${b.usd:g}" if b.HasField("usd") else "",
        f"{b.seconds:g} s" if b.HasField("seconds") else "",
    ]
    return ", ".join(p for p in parts if p) or "unlimited"


def _cost_text(c: Any) -> str:
    return f"${c.usd:.4f}, {c.tokens_in}+{c.tokens_out} tokens, tools {c.tool_ms} ms"


def _seqs(seqs: Any) -> str:
    return ", ".join(f"#{s}" for s in seqs)


# ---------------------------------------------------------------- 3.1, 3.2, 3.4


async def _goal(client: ProductClient, args: argparse.Namespace) -> None:
    r = await client.goal_status(args.task_id)
    if args.json:
        return _print_json(to_dict(r))
    when = f"final, recorded at #{r.recorded_seq}" if r.final else f"as of #{r.last_seq}"
    print(f"task {r.task_id}: goal {r.goal_status} (task {r.task_state}; {when})")
    for s in r.completion_breakdown:
        print(f"  [{s.status}] {s.subgoal}{f': {s.description}' if s.description else ''}")
        for q in s.requirements:
            mark = "pass" if q.passed else "FAIL"
            observed = f" ({q.observed})" if q.observed else ""
            evidence = f"  [{_seqs(e.seq for e in q.evidence)}]" if q.evidence else ""
            fix = f"  fix with input {q.fix_with!r}" if q.fix_with and not q.passed else ""
            print(f"    {mark}  {q.what}{observed}{evidence}{fix}")
    if r.missing_requirements:
        print("missing: " + "; ".join(r.missing_requirements))
    if r.user_next_actions:
        print("next:")
    for a in r.user_next_actions:
        field = f" {a.field}" if a.field else ""
        evidence = f"  [{_seqs(e.seq for e in a.evidence)}]" if a.evidence else ""
        print(f"  - {a.kind}{field}: {a.why}{evidence}")


async def _explain(client: ProductClient, args: argparse.Namespace) -> None:
    got = await client.explain(args.task_id, rephrase=args.rephrase)
    if args.json:
        return _print_json(to_dict(got))
    sys.stdout.write(got.markdown if got.markdown.endswith("\n") else got.markdown + "\n")
    if args.rephrase:
        refused = f"; {len(got.refused)} sentence(s) kept as written" if got.refused else ""
        print(f"-- written by {got.written_by}{refused}", file=sys.stderr)


async def _compare(client: ProductClient, args: argparse.Namespace) -> None:
    got = await client.compare(args.task_id, args.task_b)
    if not args.json:
        sys.stdout.write(got.markdown if got.markdown.endswith("\n") else got.markdown + "\n")
        return
    comparison = orjson.loads(got.comparison_json) if got.comparison_json else {}
    _print_json({"identical": got.identical, "headline": got.headline, "comparison": comparison})


# ---------------------------------------------------------------- 3.5 export


async def _export(client: ProductClient, args: argparse.Namespace) -> None:
    target: Path = args.output or Path(f"{args.task_id}.zip")
    if target.is_dir():
        target = target / f"{args.task_id}.zip"
    # Checked before asking: an export counts against the daily quota even if it is not kept.
    if target.exists() and not args.force:
        raise AlreadyExists(f"{target} exists; pass --force to overwrite it, or -o another path")
    with atomic_file(target, overwrite=args.force) as out:
        header, chunks = await client.export(args.task_id)
        async for chunk in chunks:
            out.write(chunk)
        size = out.tell()
    if args.json:
        return _print_json({"path": str(target), "bytes": size, "filename": header.filename})
    print(f"wrote {target} ({size} bytes)")


@contextmanager
def atomic_file(target: Path, *, overwrite: bool) -> Iterator[BinaryIO]:
    """A file that becomes `target` only if the block ends without an error: it is written
    hidden next to it and then moved, so a failed or interrupted export leaves nothing behind
    and no reader sees half a zip. Made before the export is asked for, so that a folder that
    cannot be written costs no export."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise FailedPrecondition(f"cannot write in {target.parent}: {exc.strerror}") from None
    part = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(part, target)
        else:
            try:
                os.link(part, target)  # unlike a rename, never replaces a file made meanwhile
            except FileExistsError:
                raise AlreadyExists(f"{target} appeared while exporting; pass --force") from None
    except OSError as exc:
        raise FailedPrecondition(f"cannot write {target}: {exc.strerror}") from None
    finally:
        part.unlink(missing_ok=True)


# ---------------------------------------------------------------- 3.3 templates and re-runs


def _template_text(t: pb.Template) -> None:
    print(f"template {t.template_id}: {t.name}")
    tenant = f" (tenant {t.tenant})" if t.tenant else ""
    made = f"made {_when(t.created_unix_nano)} from task {t.source_task_id}"
    print(f"  owner {t.owner}{tenant}, {made}")
    inline = " (plan text kept in the template)" if t.plan_yaml else ""
    print(f"  plan {t.plan_id}@{t.plan_version}{inline}, mode {t.default_mode or '-'}")
    print(f"  budget {_budget_text(t.budget)}, priority {t.priority}")
    print(f"  goal: {t.goal}")
    degrade = orjson.loads(t.degrade_json) if t.degrade_json else {}
    if degrade:
        print("  degrade: " + ", ".join(f"{node} -> {v}" for node, v in degrade.items()))
    print("  inputs:" if t.input_fields else "  inputs: none declared")
    for f in t.input_fields:
        flags = ", ".join(
            x
            for x in ("required" if f.required else "optional", "sensitive" if f.sensitive else "")
            if x
        )
        print(f"    {f.name} ({f.type}, {flags}){f': {f.description}' if f.description else ''}")


async def _template_create(client: ProductClient, args: argparse.Namespace) -> None:
    t = await client.create_template(args.task_id, name=args.name)
    if args.json:
        return _print_json(to_dict(t))
    _template_text(t)
    print(
        f"run it: agentledger template run {t.template_id}"
        + "".join(f" --input {f.name}=..." for f in t.input_fields if f.required)
    )


async def _template_list(client: ProductClient, args: argparse.Namespace) -> None:
    page = await client.list_templates(limit=args.limit, cursor=args.cursor)
    if args.json:
        return _print_json(to_dict(page))
    row = "{:<24} {:<30} {:<20} {:<36} {}"
    print(row.format("template", "name", "plan", "from task", "made (UTC)"))
    for t in page.templates:
        plan = f"{t.plan_id}@{t.plan_version}"
        made = _when(t.created_unix_nano)
        print(row.format(t.template_id, t.name[:30], plan, t.source_task_id, made))
    if page.next_cursor:
        print(f"-- more: --cursor {page.next_cursor}", file=sys.stderr)


async def _template_show(client: ProductClient, args: argparse.Namespace) -> None:
    t = await client.get_template(args.template_id)
    if args.json:
        return _print_json(to_dict(t))
    _template_text(t)


async def _template_delete(client: ProductClient, args: argparse.Namespace) -> None:
    await client.delete_template(args.template_id)
    if args.json:
        return _print_json({"template_id": args.template_id, "deleted": True})
    print(f"template {args.template_id} deleted")


def _new_budget(args: argparse.Namespace) -> epb.Budget | None:
    """The budget flags given, or None: the template's or the earlier task's budget then."""
    if args.budget_tokens is None and args.budget_usd is None and args.budget_seconds is None:
        return None
    return epb.Budget(tokens=args.budget_tokens, usd=args.budget_usd, seconds=args.budget_seconds)


async def _submitted(task: epb.Task, args: argparse.Namespace) -> int:
    if args.json:
        _print_json(to_dict(task))
    else:
        plan = f"{task.plan_id}@{task.plan_version} ({task.plan_rule})"
        print(f"task {task.task_id}: plan {plan}, {task.state}")
    if not args.follow:
        if not args.json:
            print(f"follow it: agentledger follow {task.task_id}")
        return 0
    async with EngineClient(args.engine, identity=cli_identity()) as engine:
        return await follow(engine, args.trace_store, task.task_id)


async def _template_run(client: ProductClient, args: argparse.Namespace) -> int:
    _no_json_follow(args)
    task = await client.run_template(
        args.template_id,
        parse_inputs(args.input, args.inputs_json),
        goal=args.goal,
        mode=args.mode,
        budget=_new_budget(args),
    )
    return await _submitted(task, args)


async def _rerun(client: ProductClient, args: argparse.Namespace) -> int:
    _no_json_follow(args)
    task = await client.rerun(
        args.task_id, parse_inputs(args.input, args.inputs_json), budget=_new_budget(args)
    )
    return await _submitted(task, args)


def _no_json_follow(args: argparse.Namespace) -> None:
    if args.json and args.follow:
        raise InvalidArgument("--follow prints the task's events as text; leave out --json")


# ---------------------------------------------------------------- 3.6 usage, quotas, billing


async def _usage(client: ProductClient, args: argparse.Namespace) -> None:
    m = await client.usage(args.task_id)
    if args.json:
        return _print_json(to_dict(m))
    tenant = f", tenant {m.tenant}" if m.tenant else ""
    print(f"task {m.task_id}: {m.state}, owner {m.owner}{tenant}, counts on {m.day}")
    print(f"  cost {_cost_text(m.cost)}")
    print(f"  events {m.events}, artifact bytes {m.blob_bytes}")
    print(f"  exports {m.exports}, compares {m.compares}")
    if m.cost_seqs:
        print(f"  cost from events {_seqs(m.cost_seqs)}")


def _quota_table(quotas: list[pb.QuotaStatus]) -> None:
    row = "{:<17} {:<7} {:<20} {:>10} {:>10}  {:<19}  {}"
    print(row.format("quota", "scope", "subject", "usage", "limit", "resets (UTC)", "source"))
    for q in quotas:
        limit = f"{q.limit:g}" if q.limit else "unlimited"
        resets = _when(q.resets_unix_nano)
        print(row.format(q.quota, q.scope, q.subject[:20], f"{q.usage:g}", limit, resets, q.source))


async def _quota_show(client: ProductClient, args: argparse.Namespace) -> None:
    quotas = await client.quota_status(args.owner)
    if args.json:
        return _print_json({"quotas": [to_dict(q) for q in quotas]})
    _quota_table(quotas)


async def _quota_set(client: ProductClient, args: argparse.Namespace) -> None:
    reset = args.quota_command == "reset"
    q = await client.set_quota(
        scope=args.scope,
        subject=args.subject,
        quota=args.quota,
        limit=0.0 if reset else args.limit,
        reset=reset,
    )
    if args.json:
        return _print_json(to_dict(q))
    _quota_table([q])


async def _billing(client: ProductClient, args: argparse.Namespace) -> None:
    b = await client.billing(owner=args.owner, from_day=args.from_day, to_day=args.to_day)
    if args.json:
        return _print_json(to_dict(b))
    print(f"bill of {b.owner}, {b.from_day} to {b.to_day}")
    row = "{:<10}  {:<36} {:<10} {:>9} {:>9} {:>7} {:>7} {:>8}"
    print(row.format("day", "task", "state", "cost $", "tokens", "events", "exports", "compares"))
    for x in b.lines:
        tokens = x.cost.tokens_in + x.cost.tokens_out
        usd = f"{x.cost.usd:.4f}"
        print(row.format(x.day, x.task_id, x.state, usd, tokens, x.events, x.exports, x.compares))
    t, tasks = b.total, f"{len(b.lines)} task(s)"
    tokens = t.tokens_in + t.tokens_out
    print(row.format("total", tasks, "", f"{t.usd:.4f}", tokens, b.events, b.exports, b.compares))
    for sentence in b.explanation:
        print(f"  {sentence}")
