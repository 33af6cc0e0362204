"""The Product gRPC servicer: validate and convert, one domain call, convert back.

Who asks comes from the signed identity (`current_principal`); what they may reach beyond
their own templates, quotas and bills is the policy's answer for their role (`task.any`,
`quota.manage`), never a role name written here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from agentledger.core.errors import InvalidArgument
from agentledger.core.protojson import json_object
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.product.v1 import product_pb2 as pb
from agentledger.product.v1 import product_pb2_grpc as pb_grpc
from agentledger.security.identity import current_principal
from agentledger.security.rbac import Policy
from services.product import convert
from services.product.domain.accounts import Accounts, Caller
from services.product.domain.finisher import Finisher
from services.product.domain.rephrase import Rephraser
from services.product.domain.service import Insights

EXPORT_CHUNK = 256 * 1024  # bytes per stream message: well under gRPC's 4 MiB default


def _id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    return value


class ProductServicer(pb_grpc.ProductServicer):  # type: ignore[misc]  # no stubs for *_grpc
    def __init__(
        self,
        insights: Insights,
        accounts: Accounts,
        policy: Policy,
        finisher: Finisher,
        rephraser: Rephraser | None = None,
    ) -> None:
        self._finisher = finisher
        self._insights = insights
        self._accounts = accounts
        self._policy = policy
        self._rephraser = rephraser

    def _caller(self) -> Caller:
        p = current_principal()
        if p is None:  # a server without authentication (tests of the service alone)
            return Caller("local", "", sees_all=True, manages_quotas=True)
        return Caller(
            p.subject,
            p.tenant,
            sees_all=self._policy.allows(p.role, "task.any"),
            manages_quotas=self._policy.allows(p.role, "quota.manage"),
        )

    # ------------------------------------------------------------------ 3.1, 3.2

    async def GetGoalStatus(
        self, request: pb.GetGoalStatusRequest, context: aio.ServicerContext
    ) -> pb.GetGoalStatusResponse:
        outcome = await self._insights.goal_status(_id(request.task_id, "task_id"))
        return pb.GetGoalStatusResponse(report=convert.goal_report(outcome))

    async def Explain(
        self, request: pb.ExplainRequest, context: aio.ServicerContext
    ) -> pb.ExplainResponse:
        rephraser = self._rephraser if request.rephrase else None
        got = await self._insights.explain(_id(request.task_id, "task_id"), rephraser=rephraser)
        told, refused = convert.sentences(got.checked)
        return pb.ExplainResponse(
            goal=convert.goal_report(got.goal),
            sentences=told,
            markdown=got.markdown,
            refused=refused,
            written_by=got.written_by,
        )

    # ------------------------------------------------------------------ 3.3 templates

    async def CreateTemplate(
        self, request: pb.CreateTemplateRequest, context: aio.ServicerContext
    ) -> pb.CreateTemplateResponse:
        t = await self._accounts.create_template(
            self._caller(), _id(request.task_id, "task_id"), request.name
        )
        return pb.CreateTemplateResponse(template=convert.template(t))

    async def GetTemplate(
        self, request: pb.GetTemplateRequest, context: aio.ServicerContext
    ) -> pb.GetTemplateResponse:
        t = await self._accounts.get_template(
            self._caller(), _id(request.template_id, "template_id")
        )
        return pb.GetTemplateResponse(template=convert.template(t))

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: aio.ServicerContext
    ) -> pb.ListTemplatesResponse:
        found, cursor = await self._accounts.list_templates(
            self._caller(), limit=request.limit or 50, cursor=request.cursor
        )
        return pb.ListTemplatesResponse(
            templates=[convert.template(t) for t in found], next_cursor=cursor
        )

    async def DeleteTemplate(
        self, request: pb.DeleteTemplateRequest, context: aio.ServicerContext
    ) -> pb.DeleteTemplateResponse:
        await self._accounts.delete_template(
            self._caller(), _id(request.template_id, "template_id")
        )
        return pb.DeleteTemplateResponse()

    async def RunTemplate(
        self, request: pb.RunTemplateRequest, context: aio.ServicerContext
    ) -> pb.RunTemplateResponse:
        task = await self._accounts.run_template(
            self._caller(),
            _id(request.template_id, "template_id"),
            json_object(request.inputs_json, "inputs_json"),
            goal=request.goal,
            mode=request.mode,
            budget=convert.budget_of(request.budget),
        )
        assert isinstance(task, epb.Task)
        return pb.RunTemplateResponse(task=task)

    async def RerunTask(
        self, request: pb.RerunTaskRequest, context: aio.ServicerContext
    ) -> pb.RerunTaskResponse:
        task = await self._accounts.rerun(
            self._caller(),
            _id(request.task_id, "task_id"),
            json_object(request.inputs_json, "inputs_json"),
            budget=convert.budget_of(request.budget),
        )
        assert isinstance(task, epb.Task)
        return pb.RerunTaskResponse(task=task)

    # ------------------------------------------------------------------ 3.4, 3.5

    async def CompareTasks(
        self, request: pb.CompareTasksRequest, context: aio.ServicerContext
    ) -> pb.CompareTasksResponse:
        a, b = _id(request.task_a, "task_a"), _id(request.task_b, "task_b")
        got = await self._insights.compare(a, b)
        await self._accounts.count_compared(a, b)
        return pb.CompareTasksResponse(
            identical=got.comparison.identical,
            headline=got.comparison.headline,
            comparison_json=convert.dumps(got.document),
            markdown=got.markdown,
        )

    async def ExportTask(
        self, request: pb.ExportTaskRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.ExportTaskResponse]:
        task_id = _id(request.task_id, "task_id")
        caller = self._caller()
        # The quota first (cheap), then the export's cap, known before its first byte; only an
        # export that passed both is counted.
        await self._accounts.check_export(caller.subject, caller.tenant)
        export = await self._insights.export(task_id)
        await self._accounts.admit_export(caller, task_id)
        yield pb.ExportTaskResponse(
            header=pb.ExportHeader(
                filename=export.filename,
                content_type="application/zip",
                max_bytes=export.max_bytes,
            )
        )
        buf = bytearray()
        async for chunk in export.chunks:
            buf += chunk
            if len(buf) >= EXPORT_CHUNK:
                yield pb.ExportTaskResponse(chunk=bytes(buf))
                buf.clear()
        if buf:
            yield pb.ExportTaskResponse(chunk=bytes(buf))

    # ------------------------------------------------------------------ 3.6

    async def GetUsage(
        self, request: pb.GetUsageRequest, context: aio.ServicerContext
    ) -> pb.GetUsageResponse:
        m = await self._finisher.usage(_id(request.task_id, "task_id"))
        return pb.GetUsageResponse(metering=convert.metering(m))

    async def CheckQuota(
        self, request: pb.CheckQuotaRequest, context: aio.ServicerContext
    ) -> pb.CheckQuotaResponse:
        owner = _id(request.owner, "owner")
        if request.action == "submit":
            states = await self._accounts.check_submit(
                owner, request.tenant, request.active_owner, request.active_tenant
            )
        elif request.action == "export":
            states = await self._accounts.check_export(owner, request.tenant)
        else:
            raise InvalidArgument(f"action {request.action!r} is not one of submit, export")
        return pb.CheckQuotaResponse(quotas=[convert.quota(s) for s in states])

    async def GetQuotaStatus(
        self, request: pb.GetQuotaStatusRequest, context: aio.ServicerContext
    ) -> pb.GetQuotaStatusResponse:
        states = await self._accounts.quota_status(self._caller(), request.owner)
        return pb.GetQuotaStatusResponse(quotas=[convert.quota(s) for s in states])

    async def SetQuota(
        self, request: pb.SetQuotaRequest, context: aio.ServicerContext
    ) -> pb.SetQuotaResponse:
        state = await self._accounts.set_quota(
            self._caller(),
            scope=request.scope,
            subject=request.subject,
            quota=request.quota,
            limit=request.limit,
            reset=request.reset,
        )
        return pb.SetQuotaResponse(quota=convert.quota(state))

    async def GetBilling(
        self, request: pb.GetBillingRequest, context: aio.ServicerContext
    ) -> pb.GetBillingResponse:
        got = await self._accounts.bill(
            self._caller(), request.owner, request.from_day, request.to_day
        )
        return convert.bill(got)
