"""The product service's view of the engine and trace_store (`domain.ports`) over gRPC.

Calls are made with the product's own service identity: the gateway has already checked the
caller against the task, and the engine takes the owner of a task the product submits from the
request because a service may name the person it acts for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from agentledger.common.v1 import common_pb2
from agentledger.core.clock import Clock
from agentledger.core.errors import Conflict
from agentledger.core.protojson import event_dict, event_json, to_dict
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from services.engine.client import EngineClient, budget
from services.product.domain.ports import ChangedTask, Submission, TaskView
from services.product.domain.records import ACTIVE, ENDED
from services.trace_store.client import TraceStoreClient

PAGE = 1000
_VERSION_RETRIES = 8
# The part of a goal report the summary keeps (the event holds the whole report).
_SUMMARY_ACTIONS = 20


class EngineTasks:
    def __init__(self, client: EngineClient) -> None:
        self._client = client

    async def get(self, task_id: str) -> TaskView:
        got = await self._client.get(task_id, include_plan=True)
        return TaskView(
            task=to_dict(got.task),
            nodes=[to_dict(n) for n in got.nodes],
            plan_text=got.plan_text,
            plan_in_catalog=got.plan_from_file,
        )

    async def submit(self, s: Submission) -> epb.Task:
        b = s.budget
        task = await self._client.submit(
            owner=s.owner,
            tenant=s.tenant,
            goal=s.goal,
            mode=s.mode,
            inputs=s.inputs,
            budget=_budget(b),
            plan_id=s.plan_id if not s.plan_yaml else "",
            plan_version=s.plan_version if not s.plan_yaml else 0,
            plan_yaml=s.plan_yaml,
            priority=s.priority,
        )
        return task


def _budget(b: Mapping[str, Any]) -> epb.Budget:
    return budget(tokens=b.get("tokens"), usd=b.get("usd"), seconds=b.get("seconds"))


class StoreTraces:
    def __init__(self, client: TraceStoreClient, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    async def summary(self, task_id: str) -> Mapping[str, Any]:
        return to_dict(await self._client.get_summary(task_id))

    async def _pages(
        self, task_id: str, types: Sequence[str] = ()
    ) -> AsyncIterator[Sequence[tpb.TraceEvent]]:
        """Pages in order, the next one asked for while the caller works on this one."""
        flt = tpb.EventFilter(types=list(types)) if types else None

        def ask(cursor: str) -> asyncio.Task[tpb.ListEventsResponse]:
            return asyncio.ensure_future(
                self._client.list_events(task_id, cursor=cursor, limit=PAGE, filter=flt)
            )

        pending = ask("")
        try:
            while True:
                page = await pending
                more = page.has_more and bool(page.next_cursor)
                if more:
                    pending = ask(page.next_cursor)
                if page.events:
                    yield page.events
                if not more:
                    return
        finally:
            if not pending.done():
                pending.cancel()

    async def _streamed(self, task_id: str, upto: int) -> AsyncIterator[Sequence[tpb.TraceEvent]]:
        """Every event up to seq `upto` in one server stream: a 10,000-event trace in about a
        third of the time pages take (no round trip per page). It stops at `upto`, or when the
        stream goes idle (a heartbeat), so it never waits on a task that runs again."""
        stream = self._client.stream_events(task_id, batch_size=PAGE)
        try:
            async for msg in stream:
                if msg.WhichOneof("item") != "batch":
                    return
                events = msg.batch.events
                if events:
                    yield events
                    if events[-1].seq >= upto:
                        return
        finally:
            await stream.aclose()

    def _events(
        self, task_id: str, types: Sequence[str], upto: int
    ) -> AsyncIterator[Sequence[tpb.TraceEvent]]:
        return (
            self._streamed(task_id, upto) if upto > 0 and not types else self._pages(task_id, types)
        )

    async def pages(
        self, task_id: str, *, types: Sequence[str] = (), upto: int = 0
    ) -> AsyncIterator[list[Any]]:
        async for events in self._events(task_id, types, upto):
            yield [event_dict(e) for e in events if not upto or e.seq <= upto]

    async def raw_pages(self, task_id: str, *, upto: int = 0) -> AsyncIterator[list[bytes]]:
        async for events in self._events(task_id, (), upto):
            yield [event_json(e) for e in events if not upto or e.seq <= upto]

    async def blob(self, task_id: str, blob_id: str) -> AsyncIterator[bytes]:
        async for msg in self._client.stream_blob(task_id, blob_id):
            if not msg.HasField("header"):
                yield msg.chunk

    async def record_goal(
        self, task_id: str, *, event_id: str, payload: Mapping[str, Any], goal_status: str
    ) -> int:
        event = tpb.EventInput(
            event_id=event_id,
            type="goal.evaluated",
            phase="govern",
            severity=common_pb2.SEVERITY_NOTICE,
            actor="product",
            time_unix_nano=self._clock.now_ns(),
            payload_json=orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS),
        )
        appended = await self._client.append(task_id, [event])
        seq = int(appended.seqs[0])
        brief = {
            "status": goal_status,
            "seq": seq,
            "end_seq": payload.get("end_seq"),
            "subgoals": {s["subgoal"]: s["status"] for s in payload.get("subgoals", ())},
            "next_actions": [
                {k: a[k] for k in ("kind", "field", "why")}
                for a in list(payload.get("next_actions", ()))[:_SUMMARY_ACTIONS]
            ],
        }
        for _ in range(_VERSION_RETRIES):  # the engine may write the summary at the same time
            summary = await self._client.get_summary(task_id)
            extra = orjson.loads(summary.extra_json) if summary.extra_json else {}
            if summary.goal_status == goal_status and extra.get("goal") == brief:
                return seq
            if summary.state not in ENDED:  # it runs again: this ending's status is past
                return seq
            summary.goal_status = goal_status
            summary.extra_json = orjson.dumps(extra | {"goal": brief})
            try:
                await self._client.put_summary(summary, expected_version=summary.version)
                return seq
            except Conflict:
                continue
        raise Conflict(
            f"task {task_id}: the summary kept changing; its goal status is in seq {seq}"
        )

    async def active(self, *, owner: str = "", tenant: str = "") -> int:
        flt = tpb.TaskFilter(
            owners=[owner] if owner else [],
            tenants=[tenant] if tenant else [],
            states=list(ACTIVE),
        )
        return int((await self._client.get_stats(flt)).task_count)

    async def changed(self, since_ns: int, limit: int) -> list[ChangedTask]:
        out: list[ChangedTask] = []
        cursor = ""
        while len(out) < limit:
            page = await self._client.query_tasks(
                sort=tpb.TASK_SORT_UPDATED, limit=min(PAGE, limit), cursor=cursor
            )
            for row in page.tasks:
                if row.updated_unix_nano < since_ns:
                    return out
                out.append(
                    ChangedTask(
                        row.task_id,
                        row.state,
                        row.goal_status,
                        row.updated_unix_nano,
                        row.ended_unix_nano,
                    )
                )
            if not page.next_cursor:
                return out
            cursor = page.next_cursor
        return out
