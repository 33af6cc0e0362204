"""The Engine gRPC servicer: validate and convert, one domain call, convert back."""

from __future__ import annotations

from grpc import aio

from agentledger.core.errors import InvalidArgument
from agentledger.core.protojson import json_object
from agentledger.engine.v1 import engine_pb2 as pb
from agentledger.security.identity import current_principal
from agentledger.security.rbac import SERVICE_ROLE
from services.engine import convert
from services.engine.domain.service import EngineService, Submission


def _task_id(value: str) -> str:
    if not value:
        raise InvalidArgument("task_id is required")
    return value


def _acting(requested: str) -> str:
    """Who a change is made by: the authenticated caller. Only a service of the mesh (or a
    server without authentication, in tests) may act for someone it names."""
    p = current_principal()
    if p is None or (p.role == SERVICE_ROLE and requested):
        return requested
    return p.subject


def _tenant(requested: str) -> str:
    p = current_principal()
    if p is None or p.role == SERVICE_ROLE:
        return requested
    if p.role == "admin":
        return p.tenant or requested
    return p.tenant


def _listing_owner(requested: str) -> str:
    """Users list their own tasks; admins and services whichever owner they ask for."""
    p = current_principal()
    if p is None or p.role in (SERVICE_ROLE, "admin"):
        return requested
    return p.subject


class EngineServicer:
    def __init__(self, service: EngineService) -> None:
        self._svc = service

    async def SubmitTask(
        self, request: pb.SubmitTaskRequest, context: aio.ServicerContext
    ) -> pb.SubmitTaskResponse:
        task = await self._svc.submit(
            Submission(
                owner=_acting(request.owner),
                tenant=_tenant(request.tenant),
                goal=request.goal,
                mode=request.mode,
                inputs=json_object(request.inputs_json, "inputs_json"),
                budget=convert.budget_from_pb(request.budget),
                plan_id=request.plan_id,
                plan_version=request.plan_version,
                plan_yaml=request.plan_yaml,
                priority=request.priority,
            )
        )
        return pb.SubmitTaskResponse(task=convert.task_pb(task))

    async def GetTask(
        self, request: pb.GetTaskRequest, context: aio.ServicerContext
    ) -> pb.GetTaskResponse:
        task, nodes = await self._svc.get(_task_id(request.task_id))
        ordered = sorted(nodes.values(), key=lambda n: (n.started_ns, n.node_id))
        response = pb.GetTaskResponse(
            task=convert.task_pb(task), nodes=[convert.node_pb(n) for n in ordered]
        )
        if request.include_plan:
            response.plan_text, response.plan_from_file = await self._svc.task_plan_text(task)
        return response

    async def ListTasks(
        self, request: pb.ListTasksRequest, context: aio.ServicerContext
    ) -> pb.ListTasksResponse:
        limit = request.limit or 50
        tasks = await self._svc.list_tasks(
            owner=_listing_owner(request.owner),
            states=list(request.states),
            limit=limit,
            cursor=request.cursor,
        )
        return pb.ListTasksResponse(
            tasks=[convert.task_pb(t) for t in tasks],
            next_cursor=tasks[-1].task_id if len(tasks) == limit else "",
        )

    async def CancelTask(
        self, request: pb.CancelTaskRequest, context: aio.ServicerContext
    ) -> pb.CancelTaskResponse:
        task = await self._svc.cancel(
            _task_id(request.task_id), _acting(request.actor), request.reason
        )
        return pb.CancelTaskResponse(task=convert.task_pb(task))

    async def PauseTask(
        self, request: pb.PauseTaskRequest, context: aio.ServicerContext
    ) -> pb.PauseTaskResponse:
        task = await self._svc.pause(
            _task_id(request.task_id), _acting(request.actor), request.reason
        )
        return pb.PauseTaskResponse(task=convert.task_pb(task))

    async def ResumeTask(
        self, request: pb.ResumeTaskRequest, context: aio.ServicerContext
    ) -> pb.ResumeTaskResponse:
        task = await self._svc.resume(
            _task_id(request.task_id),
            _acting(request.actor),
            request.reason,
            json_object(request.input_json, "input_json"),
        )
        return pb.ResumeTaskResponse(task=convert.task_pb(task))

    async def RetryTask(
        self, request: pb.RetryTaskRequest, context: aio.ServicerContext
    ) -> pb.RetryTaskResponse:
        task = await self._svc.retry(
            _task_id(request.task_id), _acting(request.actor), request.reason
        )
        return pb.RetryTaskResponse(task=convert.task_pb(task))

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: aio.ServicerContext
    ) -> pb.ListPlansResponse:
        catalog = self._svc.catalog
        return pb.ListPlansResponse(
            plans=[convert.plan_pb(p, catalog.versions(p.id)) for p in self._svc.list_plans()]
        )

    async def GetPlan(
        self, request: pb.GetPlanRequest, context: aio.ServicerContext
    ) -> pb.GetPlanResponse:
        if not request.plan_id:
            raise InvalidArgument("plan_id is required")
        plan = self._svc.get_plan(request.plan_id, request.version)
        text = await self._svc.plan_text(plan)
        return pb.GetPlanResponse(
            plan=convert.plan_pb(plan, self._svc.catalog.versions(plan.id)), text=text
        )

    async def ValidatePlan(
        self, request: pb.ValidatePlanRequest, context: aio.ServicerContext
    ) -> pb.ValidatePlanResponse:
        plan = self._svc.validate_plan(request.text, request.source)
        return pb.ValidatePlanResponse(plan=convert.plan_pb(plan))
