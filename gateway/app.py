"""The FastAPI application: routers, the error mapping, health, and the OpenAPI document whose
schemas come from the protobuf contracts (what the routes answer is ``convert.to_dict``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentledger.core.errors import AgentLedgerError
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.product.v1 import product_pb2 as ppb
from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from gateway import errors
from gateway.convert import schema_of
from gateway.routes import admin, plans, product, tasks, trace
from gateway.routes.common import json_response, ref
from gateway.state import Gateway

DESCRIPTION = """\
The REST and Server-Sent Events API of AgentLedger.

Authenticate every call with `Authorization: Bearer <token>`: an API token
(`agentledger token create --name NAME --role owner|operator|viewer|admin`) or a JWT from the
configured identity provider. What a role may do is in `agentledger/security/policy.yaml`; a task
the caller may not reach answers 404. Errors are JSON: `{"error": {"code", "message", "status"}}`.
"""


def create_app(gw: Gateway) -> FastAPI:
    app = FastAPI(
        title="AgentLedger",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.gateway = gw
    app.add_exception_handler(AgentLedgerError, errors.on_domain_error)
    app.add_exception_handler(StarletteHTTPException, errors.on_http_error)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    # The product's routes first: /api/tasks/{task_id} would take /api/tasks/compare (and the
    # retry, cancel... of tasks.py /api/tasks/from_template/retry) for a task's id.
    routers = (product.router, tasks.router, trace.router, trace.alias, plans.router, admin.router)
    for router in routers:
        app.include_router(router)

    @app.get(
        "/healthz",
        tags=["health"],
        responses={200: {"description": "serving"}},
        openapi_extra={"security": []},  # no credentials needed
    )
    async def healthz() -> Response:
        """Liveness: answers while the process serves (no credentials needed)."""
        return json_response({"status": "ok"})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            _proto_schemas(components)
            for path in doc.get("paths", {}).values():
                for operation in path.values():
                    # Validation errors answer 400 (gateway.errors), never FastAPI's 422.
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            doc["security"] = [{"bearer": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _proto_schemas(components: dict[str, Any]) -> None:
    for descriptor in (
        epb.Task.DESCRIPTOR,
        epb.PlanInfo.DESCRIPTOR,
        epb.GetPlanResponse.DESCRIPTOR,
        tpb.TraceSummary.DESCRIPTOR,
        tpb.TraceEvent.DESCRIPTOR,
        tpb.TaskRow.DESCRIPTOR,
        ppb.GoalReport.DESCRIPTOR,
        ppb.ExplainResponse.DESCRIPTOR,
        ppb.Metering.DESCRIPTOR,
        ppb.CompareTasksResponse.DESCRIPTOR,
        ppb.Template.DESCRIPTOR,
        ppb.QuotaStatus.DESCRIPTOR,
        ppb.GetBillingResponse.DESCRIPTOR,
    ):
        schema_of(descriptor, components)
    schema_of(epb.NodeState.DESCRIPTOR, components)
    components["TaskDetail"] = _object(
        task=ref("Task"), nodes={"type": "array", "items": ref("NodeState")}
    )
    components["TaskPage"] = _object(
        tasks={"type": "array", "items": ref("TaskRow")}, next_cursor={"type": "string"}
    )
    components["EventPage"] = _object(
        events={"type": "array", "items": ref("TraceEvent")},
        next_cursor={"type": "string"},
        has_more={"type": "boolean"},
    )
    components["PlanList"] = _object(plans={"type": "array", "items": ref("PlanInfo")})
    components["TemplatePage"] = _object(
        templates={"type": "array", "items": ref("Template")}, next_cursor={"type": "string"}
    )
    components["QuotaList"] = _object(quotas={"type": "array", "items": ref("QuotaStatus")})
    components["OptimizerOutputs"] = _object(
        task_id={"type": "string"}, events={"type": "array", "items": ref("TraceEvent")}
    )


def _object(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": sorted(props)}
