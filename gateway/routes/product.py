"""What makes a finished task useful (the Product service, SPEC 3.1-3.6): its goal status, the
narrative, usage, comparison of two runs and the export; templates and runs made from them;
quotas and billing. Task-scoped routes check the task here, as the trace routes do; templates,
quotas and bills are checked by the service against the caller's forwarded identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway.access import Caller
from gateway.convert import to_dict
from gateway.errors import ERROR_RESPONSES
from gateway.routes.common import TASK_ID, BudgetBody, answers, json_response, ref, storable
from gateway.state import Gateway, caller, gateway
from services.engine.client import budget as make_budget

router = APIRouter(prefix="/api", tags=["product"])

Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]
TaskId = Annotated[str, TASK_ID]
TemplateId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="a template id"),
]
Inputs = Annotated[dict[str, Any], AfterValidator(storable)]
Format = Literal["json", "markdown"]
# Who a quota, a usage or a bill is about: empty is the caller.
OWNER = Query(max_length=256, pattern=r"^[A-Za-z0-9._@:/-]*$", description="empty: the caller")
DAY = Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="YYYY-MM-DD, UTC, inclusive")
COMPARED = Query(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="a task id"
)


def _with_markdown(schema: dict[str, Any], *errors: int) -> dict[int | str, Any]:
    """The answers of a route whose 200 is JSON, or its Markdown text with ``format=markdown``."""
    out = answers(schema, *errors)
    out[200]["content"]["text/markdown"] = {"schema": {"type": "string"}}
    return out


def _markdown(text: str) -> Response:
    return Response(text, media_type="text/markdown; charset=utf-8")


# ---------------------------------------------------------------- 3.1, 3.2, 3.6 of one task


@router.get("/tasks/{task_id}/goal", responses=answers(ref("GoalReport"), 403, 404))
async def get_goal(task_id: TaskId, who: Who, gw: Gw) -> Response:
    """The goal status: DONE, PARTIAL or NOT_DONE, each sub-goal's evidence and what to do
    next. Of an ended task it is the one recorded in its trace (``final``)."""
    acl = await gw.access.check(who, "task.view", task_id, action="task.goal")
    entry = gw.access.entry(who, "task.goal", task_id=task_id, acl=acl)
    with gw.access.forwarding(who):
        report = await gw.access.audited(entry, gw.product.goal_status(task_id))
    assert report is not None
    return json_response(to_dict(report))


@router.get("/tasks/{task_id}/explain", responses=_with_markdown(ref("ExplainResponse"), 403, 404))
async def explain_task(
    task_id: TaskId,
    who: Who,
    gw: Gw,
    rephrase: Annotated[bool, Query(description="let the configured rephraser reword it")] = False,
    format: Format = "json",
) -> Response:
    """What happened, why this result, what it cost and what to do next: every sentence with
    the event seqs and blob ids it rests on (``format=markdown``: the narrative as Markdown)."""
    acl = await gw.access.check(who, "task.view", task_id, action="task.explain")
    entry = gw.access.entry(
        who, "task.explain", task_id=task_id, acl=acl, details={"rephrase": rephrase}
    )
    with gw.access.forwarding(who):
        got = await gw.access.audited(entry, gw.product.explain(task_id, rephrase=rephrase))
    assert got is not None
    return _markdown(got.markdown) if format == "markdown" else json_response(to_dict(got))


@router.get("/tasks/{task_id}/usage", responses=answers(ref("Metering"), 403, 404))
async def task_usage(task_id: TaskId, who: Who, gw: Gw) -> Response:
    """What the task used: tokens, USD, tool time, events, artifact bytes, exports, compares,
    and (once it has ended) the events its cost adds up from."""
    acl = await gw.access.check(who, "task.view", task_id, action="task.usage")
    entry = gw.access.entry(who, "task.usage", task_id=task_id, acl=acl)
    with gw.access.forwarding(who):
        metering = await gw.access.audited(entry, gw.product.usage(task_id))
    assert metering is not None
    return json_response(to_dict(metering))


@router.get("/tasks/compare", responses=_with_markdown(ref("CompareTasksResponse"), 403, 404))
async def compare_tasks(
    who: Who,
    gw: Gw,
    a: Annotated[str, COMPARED],
    b: Annotated[str, COMPARED],
    format: Format = "json",
) -> Response:
    """Two runs side by side: path, cost per phase, failure type, key decisions and the first
    point where they diverged, with its evidence. The caller must reach both tasks."""
    acl_a = await gw.access.check(who, "task.view", a, action="task.compare")
    acl_b = await gw.access.check(who, "task.view", b, action="task.compare")
    if b != a:  # each task's audit records show it was compared, and with what
        await gw.access.audited(
            gw.access.entry(who, "task.compare", task_id=b, acl=acl_b, details={"with": a})
        )
    entry = gw.access.entry(who, "task.compare", task_id=a, acl=acl_a, details={"with": b})
    with gw.access.forwarding(who):
        got = await gw.access.audited(entry, gw.product.compare(a, b))
    assert got is not None
    return _markdown(got.markdown) if format == "markdown" else json_response(to_dict(got))


# ---------------------------------------------------------------- 3.5 export

EXPORT_DOC: dict[int | str, Any] = {
    **answers({}, 403, 404, 429),
    200: {
        "description": "the task's export, a zip (MANIFEST.json lists every file's sha256)",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.get("/tasks/{task_id}/export", responses=EXPORT_DOC, response_class=StreamingResponse)
async def export_task(task_id: TaskId, who: Who, gw: Gw) -> Response:
    """The task as a zip: summary, events, artifacts, a README with the goal status and the
    narrative. Refused (429) before the first byte over the daily_exports quota or the size cap;
    a download cut short by the cap once it has begun aborts rather than ends cleanly."""
    acl = await gw.access.check(who, "task.export", task_id, action="task.export")
    await gw.access.audited(gw.access.entry(who, "task.export", task_id=task_id, acl=acl))
    with gw.access.forwarding(who):
        _, chunks = await gw.product.export(task_id)  # 404 or 429 here, as JSON

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{task_id}.zip"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---------------------------------------------------------------- 3.3 templates and runs


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200, description="empty: '<plan> from <task>'")


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Inputs = Field(default_factory=dict, description="every required input of it")
    goal: str = Field(default="", max_length=10_000, description="empty: the template's")
    mode: Literal["", "fast", "balanced", "thorough"] = ""
    budget: BudgetBody | None = Field(default=None, description="unset: the template's")


class RerunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Inputs = Field(
        default_factory=dict, description="laid over the earlier inputs; give sensitive ones again"
    )
    budget: BudgetBody | None = Field(default=None, description="unset: the earlier task's")


def _budget(b: BudgetBody | None) -> Any:
    return None if b is None else make_budget(tokens=b.tokens, usd=b.usd, seconds=b.seconds)


@router.post(
    "/templates/from_task/{task_id}",
    status_code=201,
    responses=answers(ref("Template"), 403, 404, 409, status=201),
)
async def create_template(
    task_id: TaskId, who: Who, gw: Gw, body: TemplateBody | None = None
) -> Response:
    """A template of an ended task of the caller's: its plan, mode, budget and the inputs a run
    must supply (never their values). A task still running answers 409."""
    name = body.name if body else ""
    acl = await gw.access.check(who, "task.template", task_id, action="template.create")
    entry = gw.access.entry(
        who, "template.create", task_id=task_id, acl=acl, details={"name": name}
    )
    await gw.access.audited(entry)
    with gw.access.forwarding(who):
        template = await gw.product.create_template(task_id, name=name)
    return json_response(to_dict(template), 201)


@router.get("/templates", responses=answers(ref("TemplatePage"), 403))
async def list_templates(
    who: Who,
    gw: Gw,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """The caller's templates, newest first (an admin's: everyone's)."""
    await gw.access.check(who, "template.use", action="template.list")
    with gw.access.forwarding(who):
        page = await gw.product.list_templates(limit=limit, cursor=cursor)
    return json_response(
        {"templates": [to_dict(t) for t in page.templates], "next_cursor": page.next_cursor}
    )


@router.get("/templates/{template_id}", responses=answers(ref("Template"), 403, 404))
async def get_template(template_id: TemplateId, who: Who, gw: Gw) -> Response:
    """One of the caller's templates; another person's answers 404, as a missing one does."""
    await gw.access.check(who, "template.use", action="template.get")
    with gw.access.forwarding(who):
        template = await gw.product.get_template(template_id)
    return json_response(to_dict(template))


NO_CONTENT: dict[int | str, Any] = {
    204: {"description": "deleted"},
    **{code: ERROR_RESPONSES[code] for code in (400, 401, 403, 404, 503)},
}


@router.delete("/templates/{template_id}", status_code=204, responses=NO_CONTENT)
async def delete_template(template_id: TemplateId, who: Who, gw: Gw) -> Response:
    """Deletes one of the caller's templates (the tasks run from it stay)."""
    await gw.access.check(who, "template.use", action="template.delete")
    with gw.access.forwarding(who):
        template = await gw.product.get_template(template_id)  # 404 before anything is recorded
        entry = gw.access.entry(
            who, "template.delete", object_type="template", object_id=template_id
        )
        await gw.access.audited(replace(entry, object_owner=template.owner))
        await gw.product.delete_template(template_id)
    return Response(status_code=204)


RUN = answers(ref("Task"), 403, 404, 409, 429, status=201)


@router.post("/tasks/from_template/{template_id}", status_code=201, responses=RUN)
async def run_template(
    template_id: TemplateId, who: Who, gw: Gw, body: RunBody | None = None
) -> Response:
    """A new task of the caller's from a template; a missing required input answers 400 and
    names it."""
    body = body or RunBody()
    await gw.access.check(who, "task.submit", action="task.submit")
    details = {"template_id": template_id, "mode": body.mode}
    await gw.access.audited(gw.access.entry(who, "task.submit", details=details))
    with gw.access.forwarding(who):
        task = await gw.product.run_template(
            template_id, body.inputs, goal=body.goal, mode=body.mode, budget=_budget(body.budget)
        )
    return json_response(to_dict(task), 201)


@router.post("/tasks/{task_id}/rerun", status_code=201, responses=RUN)
async def rerun_task(task_id: TaskId, who: Who, gw: Gw, body: RerunBody | None = None) -> Response:
    """Runs the task again as a new task of the caller's: its plan, goal, mode and budget, its
    inputs overlaid with ``inputs``."""
    body = body or RerunBody()
    acl = await gw.access.check(who, "task.retry", task_id, action="task.rerun")
    await gw.access.audited(gw.access.entry(who, "task.rerun", task_id=task_id, acl=acl))
    with gw.access.forwarding(who):
        task = await gw.product.rerun(task_id, body.inputs, budget=_budget(body.budget))
    return json_response(to_dict(task), 201)


# ---------------------------------------------------------------- 3.6 quotas and billing

Scope = Annotated[Literal["owner", "tenant"], Path(description="whom the quota limits")]
Subject = Annotated[
    str, Path(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._@:/-]+$", description="who")
]
QuotaName = Annotated[
    Literal["concurrent_tasks", "daily_tokens", "daily_usd", "daily_exports"], Path()
]


class QuotaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: float = Field(ge=0, allow_inf_nan=False, description="0: unlimited")


async def _about(gw: Gateway, who: Caller, owner: str, action: str) -> None:
    """Reading someone else's quotas or bill takes quota.manage; the service decides the same,
    and this records the refusal."""
    await gw.access.check(who, "usage.read", action=action)
    if owner and owner != who.principal.subject:
        await gw.access.require(who, "quota.manage", action=action)
        await gw.access.audited(gw.access.entry(who, action, object_type="owner", object_id=owner))


@router.get("/quotas", responses=answers(ref("QuotaList"), 403))
async def quota_status(who: Who, gw: Gw, owner: Annotated[str, OWNER] = "") -> Response:
    """Where the owner (and their tenant) stands against each quota, and when each resets."""
    await _about(gw, who, owner, "quota.read")
    with gw.access.forwarding(who):
        states = await gw.product.quota_status(owner)
    return json_response({"quotas": [to_dict(s) for s in states]})


async def _set_quota(
    gw: Gateway, who: Caller, scope: str, subject: str, quota: str, limit: float | None
) -> Response:
    action = "quota.reset" if limit is None else "quota.set"
    await gw.access.check(who, "quota.manage", action=action)
    entry = gw.access.entry(
        who,
        action,
        object_type="quota",
        object_id=f"{scope}/{subject}/{quota}",
        details={} if limit is None else {"limit": limit},
    )
    await gw.access.audited(entry)
    with gw.access.forwarding(who):
        state = await gw.product.set_quota(
            scope=scope, subject=subject, quota=quota, limit=limit or 0.0, reset=limit is None
        )
    return json_response(to_dict(state))


QUOTA = "/quotas/{scope}/{subject}/{quota}"


@router.put(QUOTA, responses=answers(ref("QuotaStatus"), 403))
async def set_quota(
    scope: Scope, subject: Subject, quota: QuotaName, body: QuotaBody, who: Who, gw: Gw
) -> Response:
    """Sets a quota of an owner or a tenant (admins); 0 is unlimited."""
    return await _set_quota(gw, who, scope, subject, quota, body.limit)


@router.delete(QUOTA, responses=answers(ref("QuotaStatus"), 403))
async def reset_quota(
    scope: Scope, subject: Subject, quota: QuotaName, who: Who, gw: Gw
) -> Response:
    """Puts a quota back to its configured default (admins)."""
    return await _set_quota(gw, who, scope, subject, quota, None)


@router.get("/billing", responses=answers(ref("GetBillingResponse"), 403))
async def billing(
    who: Who,
    gw: Gw,
    owner: Annotated[str, OWNER] = "",
    from_day: Annotated[str, DAY] = "",
    to_day: Annotated[str, DAY] = "",
) -> Response:
    """The owner's usage by task over the days (default: this month so far), with the total and
    how it is made, in sentences."""
    await _about(gw, who, owner, "billing.read")
    with gw.access.forwarding(who):
        bill = await gw.product.billing(owner=owner, from_day=from_day, to_day=to_day)
    return json_response(to_dict(bill))
