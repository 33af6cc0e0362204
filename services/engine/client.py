"""Typed asyncio client of the Engine, for the gateway, the CLI, other services and tests.

Deadlines on every call. Reads are retried on UNAVAILABLE/RESOURCE_EXHAUSTED; submissions and
state changes are not (a retried SubmitTask would create a second task). Failures arrive as
``agentledger.core.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from grpc import aio

from agentledger.core.client import (
    Identity,
    call_metadata,
    open_channel,
    to_domain_error,
    with_retries,
)
from agentledger.engine.v1 import engine_pb2 as pb
from agentledger.engine.v1 import engine_pb2_grpc as pb_grpc

T = TypeVar("T")


def budget(
    *, tokens: int | None = None, usd: float | None = None, seconds: float | None = None
) -> pb.Budget:
    return pb.Budget(tokens=tokens, usd=usd, seconds=seconds)


def json_of(raw: bytes) -> dict[str, Any]:
    return orjson.loads(raw) if raw else {}


class EngineClient:
    def __init__(self, target: str, *, timeout_s: float = 10.0, identity: Identity = "") -> None:
        self._channel = open_channel(target)
        self._stub = pb_grpc.EngineStub(self._channel)
        self._timeout = timeout_s
        self._identity = identity

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._identity)

    async def _once(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except aio.AioRpcError as err:
            raise to_domain_error(err) from None

    async def submit(
        self,
        *,
        owner: str,
        goal: str,
        budget: pb.Budget,
        inputs: Mapping[str, Any] | None = None,
        plan_id: str = "",
        plan_version: int = 0,
        plan_yaml: str = "",
        mode: str = "",
        tenant: str = "",
        priority: int = 0,
    ) -> pb.Task:
        request = pb.SubmitTaskRequest(
            owner=owner,
            tenant=tenant,
            goal=goal,
            mode=mode,
            inputs_json=orjson.dumps(dict(inputs or {})),
            budget=budget,
            plan_id=plan_id,
            plan_version=plan_version,
            plan_yaml=plan_yaml,
            priority=priority,
        )
        response: pb.SubmitTaskResponse = await self._once(
            lambda: self._stub.SubmitTask(request, timeout=self._timeout, metadata=self._md())
        )
        return response.task

    async def get(self, task_id: str, *, include_plan: bool = False) -> pb.GetTaskResponse:
        request = pb.GetTaskRequest(task_id=task_id, include_plan=include_plan)
        return await with_retries(
            lambda: self._stub.GetTask(request, timeout=self._timeout, metadata=self._md())
        )

    async def list_tasks(
        self, *, owner: str = "", states: list[str] | None = None, limit: int = 50, cursor: str = ""
    ) -> pb.ListTasksResponse:
        request = pb.ListTasksRequest(owner=owner, states=states or [], limit=limit, cursor=cursor)
        return await with_retries(
            lambda: self._stub.ListTasks(request, timeout=self._timeout, metadata=self._md())
        )

    async def cancel(self, task_id: str, *, actor: str = "", reason: str = "") -> pb.Task:
        request = pb.CancelTaskRequest(task_id=task_id, actor=actor, reason=reason)
        response: pb.CancelTaskResponse = await self._once(
            lambda: self._stub.CancelTask(request, timeout=self._timeout, metadata=self._md())
        )
        return response.task

    async def pause(self, task_id: str, *, actor: str = "", reason: str = "") -> pb.Task:
        request = pb.PauseTaskRequest(task_id=task_id, actor=actor, reason=reason)
        response: pb.PauseTaskResponse = await self._once(
            lambda: self._stub.PauseTask(request, timeout=self._timeout, metadata=self._md())
        )
        return response.task

    async def resume(
        self,
        task_id: str,
        *,
        actor: str = "",
        reason: str = "",
        input: Mapping[str, Any] | None = None,
    ) -> pb.Task:
        request = pb.ResumeTaskRequest(
            task_id=task_id,
            actor=actor,
            reason=reason,
            input_json=orjson.dumps(dict(input)) if input else b"",
        )
        response: pb.ResumeTaskResponse = await self._once(
            lambda: self._stub.ResumeTask(request, timeout=self._timeout, metadata=self._md())
        )
        return response.task

    async def retry(self, task_id: str, *, actor: str = "", reason: str = "") -> pb.Task:
        request = pb.RetryTaskRequest(task_id=task_id, actor=actor, reason=reason)
        response: pb.RetryTaskResponse = await self._once(
            lambda: self._stub.RetryTask(request, timeout=self._timeout, metadata=self._md())
        )
        return response.task

    async def list_plans(self) -> list[pb.PlanInfo]:
        response: pb.ListPlansResponse = await with_retries(
            lambda: self._stub.ListPlans(
                pb.ListPlansRequest(), timeout=self._timeout, metadata=self._md()
            )
        )
        return list(response.plans)

    async def get_plan(self, plan_id: str, version: int = 0) -> pb.GetPlanResponse:
        request = pb.GetPlanRequest(plan_id=plan_id, version=version)
        return await with_retries(
            lambda: self._stub.GetPlan(request, timeout=self._timeout, metadata=self._md())
        )

    async def validate_plan(self, text: str, source: str = "") -> pb.PlanInfo:
        request = pb.ValidatePlanRequest(text=text, source=source)
        response: pb.ValidatePlanResponse = await with_retries(
            lambda: self._stub.ValidatePlan(request, timeout=self._timeout, metadata=self._md())
        )
        return response.plan
