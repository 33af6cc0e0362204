"""Tasks: submit, list (the trace index), get, and the state changes (cancel, pause, resume,
retry). Each forwards the caller's signed identity to the engine, which records them as the
actor of the change."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from gateway.access import Caller
from gateway.convert import to_dict
from gateway.routes.common import TASK_ID, BudgetBody, answers, json_response, ref, storable
from gateway.state import Gateway, caller, gateway
from services.engine.client import budget as make_budget

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

SORTS = {
    "created": tpb.TASK_SORT_CREATED,
    "updated": tpb.TASK_SORT_UPDATED,
    "cost": tpb.TASK_SORT_COST,
    "duration": tpb.TASK_SORT_DURATION,
}


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: str = Field(default="", max_length=10_000)
    plan_id: str = Field(default="", max_length=64, description="empty: the selection rules choose")
    plan_version: int = Field(default=0, ge=0, le=2**31 - 1, description="0: the latest")
    plan_yaml: str = Field(default="", max_length=1_000_000, description="a plan sent inline")
    mode: Literal["", "fast", "balanced", "thorough"] = ""
    inputs: Annotated[dict[str, Any], AfterValidator(storable)] = Field(default_factory=dict)
    budget: BudgetBody = Field(default_factory=lambda: BudgetBody(seconds=3600))
    priority: int = Field(default=0, ge=-1000, le=1000)


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class ResumeBody(ChangeBody):
    input: Annotated[dict[str, Any] | None, AfterValidator(storable)] = Field(
        default=None, description="WAITING_INPUT: the fields the task asked for"
    )


Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]


@router.post("", status_code=201, responses=answers(ref("Task"), 403, 404, 409, 429, status=201))
async def submit_task(body: SubmitBody, who: Who, gw: Gw) -> Response:
    """Creates a task owned by the caller and queues it."""
    await gw.access.check(who, "task.submit", action="task.submit")
    b = body.budget
    await gw.access.audited(
        gw.access.entry(who, "task.submit", details={"plan_id": body.plan_id, "mode": body.mode})
    )
    with gw.access.forwarding(who):
        task = await gw.engine.submit(
            owner=who.principal.subject,
            tenant=who.principal.tenant,
            goal=body.goal,
            budget=make_budget(tokens=b.tokens, usd=b.usd, seconds=b.seconds),
            inputs=body.inputs,
            plan_id=body.plan_id,
            plan_version=body.plan_version,
            plan_yaml=body.plan_yaml,
            mode=body.mode,
            priority=body.priority,
        )
    return json_response(to_dict(task), 201)


@router.get("", responses=answers(ref("TaskPage"), 403))
async def list_tasks(
    who: Who,
    gw: Gw,
    state: Annotated[list[str] | None, Query(max_length=16)] = None,
    plan_id: Annotated[str, Query(max_length=64)] = "",
    mode: Annotated[str, Query(max_length=16)] = "",
    failure_type: Annotated[str, Query(max_length=32)] = "",
    goal_status: Annotated[str, Query(max_length=16)] = "",
    owner: Annotated[str, Query(max_length=256, description="admins only")] = "",
    shared: Annotated[bool, Query(description="tasks shared with me")] = False,
    sort: Literal["created", "updated", "cost", "duration"] = "created",
    ascending: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """Tasks from the trace index, newest first: the caller's own, or those shared with them
    (``shared=true``); an admin sees everyone's and may filter by ``owner``."""
    await gw.access.check(who, "task.list", action="task.list")
    p = who.principal
    f = tpb.TaskFilter(
        states=state or [],
        plan_ids=[plan_id] if plan_id else [],
        modes=[mode] if mode else [],
        failure_types=[failure_type] if failure_type else [],
        goal_statuses=[goal_status] if goal_status else [],
    )
    if shared:
        ids = await asyncio.to_thread(gw.shares.shared_task_ids, p.subject)
        if not ids:
            return json_response({"tasks": [], "next_cursor": ""})
        f.task_ids.extend(ids)
    elif gw.access.policy.allows(p.role, "task.any"):
        if owner:
            f.owners.append(owner)
    else:
        f.owners.append(p.subject)
    with gw.access.forwarding(who):
        page = await gw.trace.query_tasks(
            f, sort=SORTS[sort], ascending=ascending, limit=limit, cursor=cursor
        )
    return json_response(
        {"tasks": [to_dict(t) for t in page.tasks], "next_cursor": page.next_cursor}
    )


@router.get("/{task_id}", responses=answers(ref("TaskDetail"), 403, 404))
async def get_task(task_id: Annotated[str, TASK_ID], who: Who, gw: Gw) -> Response:
    """One task with its node checkpoints (sensitive inputs masked)."""
    acl = await gw.access.check(who, "task.view", task_id, action="task.view")
    with gw.access.forwarding(who):
        got = await gw.access.audited(
            gw.access.entry(who, "task.view", task_id=task_id, acl=acl), gw.engine.get(task_id)
        )
    assert got is not None
    return json_response({"task": to_dict(got.task), "nodes": [to_dict(n) for n in got.nodes]})


async def _change(
    gw: Gateway, who: Caller, task_id: str, action: str, permission: str, call: Any
) -> Response:
    acl = await gw.access.check(who, permission, task_id, action=action)
    await gw.access.audited(gw.access.entry(who, action, task_id=task_id, acl=acl))
    with gw.access.forwarding(who):
        task = await call()
    return json_response(to_dict(task))


CHANGE = answers(ref("Task"), 403, 404, 409)


@router.post("/{task_id}/cancel", responses=CHANGE)
async def cancel_task(
    task_id: Annotated[str, TASK_ID], who: Who, gw: Gw, body: ChangeBody | None = None
) -> Response:
    """Cancels the task: at once when no worker runs it, else at the worker's next step."""
    reason = body.reason if body else ""
    call = partial(gw.engine.cancel, task_id, actor=who.principal.subject, reason=reason)
    return await _change(gw, who, task_id, "task.cancel", "task.control", call)


@router.post("/{task_id}/pause", responses=CHANGE)
async def pause_task(
    task_id: Annotated[str, TASK_ID], who: Who, gw: Gw, body: ChangeBody | None = None
) -> Response:
    """Pauses the task after the nodes in flight checkpoint."""
    reason = body.reason if body else ""
    call = partial(gw.engine.pause, task_id, actor=who.principal.subject, reason=reason)
    return await _change(gw, who, task_id, "task.pause", "task.control", call)


@router.post("/{task_id}/resume", responses=CHANGE)
async def resume_task(
    task_id: Annotated[str, TASK_ID], who: Who, gw: Gw, body: ResumeBody | None = None
) -> Response:
    """Resumes a PAUSED task, or a WAITING_INPUT one with the input it asked for."""
    reason, given = (body.reason, body.input) if body else ("", None)
    call = partial(
        gw.engine.resume, task_id, actor=who.principal.subject, reason=reason, input=given
    )
    return await _change(gw, who, task_id, "task.resume", "task.control", call)


@router.post("/{task_id}/retry", responses=CHANGE)
async def retry_task(
    task_id: Annotated[str, TASK_ID], who: Who, gw: Gw, body: ChangeBody | None = None
) -> Response:
    """Re-runs a FAILED task from its failure."""
    reason = body.reason if body else ""
    call = partial(gw.engine.retry, task_id, actor=who.principal.subject, reason=reason)
    return await _change(gw, who, task_id, "task.retry", "task.retry", call)
