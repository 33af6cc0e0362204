"""Typed asyncio client of the Product service, for the gateway, the CLI, the engine and tests.

Deadlines on every call. Reads are retried on UNAVAILABLE/RESOURCE_EXHAUSTED; calls that create
something (a template, a task) or count usage (export, compare) are not, since a retry would do
it twice. Failures arrive as ``agentledger.core.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from agentledger.core.errors import Internal
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.product.v1 import product_pb2 as pb
from agentledger.product.v1 import product_pb2_grpc as pb_grpc

T = TypeVar("T")


class ProductClient:
    def __init__(self, target: str, *, timeout_s: float = 30.0, identity: Identity = "") -> None:
        self._channel = open_channel(target)
        self._stub = pb_grpc.ProductStub(self._channel)
        self._timeout = timeout_s
        self._identity = identity

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> ProductClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._identity)

    async def _read(self, rpc: Callable[..., Awaitable[T]], request: Any) -> T:
        return await with_retries(lambda: rpc(request, timeout=self._timeout, metadata=self._md()))

    async def _once(self, rpc: Callable[..., Awaitable[T]], request: Any) -> T:
        try:
            return await rpc(request, timeout=self._timeout, metadata=self._md())
        except aio.AioRpcError as err:
            raise to_domain_error(err) from None

    # ------------------------------------------------------------------ 3.1, 3.2

    async def goal_status(self, task_id: str) -> pb.GoalReport:
        got: pb.GetGoalStatusResponse = await self._read(
            self._stub.GetGoalStatus, pb.GetGoalStatusRequest(task_id=task_id)
        )
        return got.report

    async def explain(self, task_id: str, *, rephrase: bool = False) -> pb.ExplainResponse:
        return await self._read(
            self._stub.Explain, pb.ExplainRequest(task_id=task_id, rephrase=rephrase)
        )

    # ------------------------------------------------------------------ 3.3 templates

    async def create_template(self, task_id: str, *, name: str = "") -> pb.Template:
        got: pb.CreateTemplateResponse = await self._once(
            self._stub.CreateTemplate, pb.CreateTemplateRequest(task_id=task_id, name=name)
        )
        return got.template

    async def get_template(self, template_id: str) -> pb.Template:
        got: pb.GetTemplateResponse = await self._read(
            self._stub.GetTemplate, pb.GetTemplateRequest(template_id=template_id)
        )
        return got.template

    async def list_templates(
        self, *, limit: int = 50, cursor: str = ""
    ) -> pb.ListTemplatesResponse:
        return await self._read(
            self._stub.ListTemplates, pb.ListTemplatesRequest(limit=limit, cursor=cursor)
        )

    async def delete_template(self, template_id: str) -> None:
        await self._once(
            self._stub.DeleteTemplate, pb.DeleteTemplateRequest(template_id=template_id)
        )

    async def run_template(
        self,
        template_id: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        goal: str = "",
        mode: str = "",
        budget: epb.Budget | None = None,
    ) -> epb.Task:
        request = pb.RunTemplateRequest(
            template_id=template_id,
            inputs_json=orjson.dumps(dict(inputs or {})),
            goal=goal,
            mode=mode,
            budget=budget,
        )
        got: pb.RunTemplateResponse = await self._once(self._stub.RunTemplate, request)
        return got.task

    async def rerun(
        self,
        task_id: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        budget: epb.Budget | None = None,
    ) -> epb.Task:
        request = pb.RerunTaskRequest(
            task_id=task_id, inputs_json=orjson.dumps(dict(inputs or {})), budget=budget
        )
        got: pb.RerunTaskResponse = await self._once(self._stub.RerunTask, request)
        return got.task

    # ------------------------------------------------------------------ 3.4, 3.5

    async def compare(self, task_a: str, task_b: str) -> pb.CompareTasksResponse:
        return await self._once(
            self._stub.CompareTasks, pb.CompareTasksRequest(task_a=task_a, task_b=task_b)
        )

    async def export(self, task_id: str) -> tuple[pb.ExportHeader, AsyncIterator[bytes]]:
        """The export's header, once the service has accepted it (quota and cap checked), and
        its bytes. A refusal raises here, before anything is returned."""
        call = self._stub.ExportTask(
            pb.ExportTaskRequest(task_id=task_id), timeout=None, metadata=self._md()
        )
        try:
            first = await call.read()
        except aio.AioRpcError as err:
            raise to_domain_error(err) from None
        if first is aio.EOF or first.WhichOneof("item") != "header":
            call.cancel()
            raise Internal("the export stream did not start with its header")

        async def chunks() -> AsyncIterator[bytes]:
            try:  # read(), as for the header: gRPC refuses mixing it with `async for`
                while (message := await call.read()) is not aio.EOF:
                    yield message.chunk
            except aio.AioRpcError as err:
                raise to_domain_error(err) from None
            finally:
                call.cancel()

        return first.header, chunks()

    # ------------------------------------------------------------------ 3.6

    async def usage(self, task_id: str) -> pb.Metering:
        got: pb.GetUsageResponse = await self._read(
            self._stub.GetUsage, pb.GetUsageRequest(task_id=task_id)
        )
        return got.metering

    async def check_quota(
        self,
        *,
        owner: str,
        tenant: str,
        action: str,
        active_owner: int = 0,
        active_tenant: int = 0,
    ) -> list[pb.QuotaStatus]:
        request = pb.CheckQuotaRequest(
            owner=owner,
            tenant=tenant,
            action=action,
            active_owner=active_owner,
            active_tenant=active_tenant,
        )
        got: pb.CheckQuotaResponse = await self._once(self._stub.CheckQuota, request)
        return list(got.quotas)

    async def quota_status(self, owner: str = "") -> list[pb.QuotaStatus]:
        got: pb.GetQuotaStatusResponse = await self._read(
            self._stub.GetQuotaStatus, pb.GetQuotaStatusRequest(owner=owner)
        )
        return list(got.quotas)

    async def set_quota(
        self, *, scope: str, subject: str, quota: str, limit: float = 0.0, reset: bool = False
    ) -> pb.QuotaStatus:
        request = pb.SetQuotaRequest(
            scope=scope, subject=subject, quota=quota, limit=limit, reset=reset
        )
        got: pb.SetQuotaResponse = await self._once(self._stub.SetQuota, request)
        return got.quota

    async def billing(
        self, *, owner: str = "", from_day: str = "", to_day: str = ""
    ) -> pb.GetBillingResponse:
        return await self._read(
            self._stub.GetBilling,
            pb.GetBillingRequest(owner=owner, from_day=from_day, to_day=to_day),
        )
