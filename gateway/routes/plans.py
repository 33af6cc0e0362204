"""Plans: the catalog, one plan with its source, and validation of a plan's YAML."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Caller
from gateway.convert import to_dict
from gateway.routes.common import answers, json_response, ref
from gateway.state import Gateway, caller, gateway

router = APIRouter(prefix="/api/plans", tags=["plans"])
Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=1_000_000, description="the plan's YAML")
    source: str = Field(default="", max_length=256, description="a name for messages")


@router.get("", responses=answers(ref("PlanList"), 403))
async def list_plans(who: Who, gw: Gw) -> Response:
    """The latest version of every plan in the catalog."""
    await gw.access.check(who, "plan.read", action="plan.list")
    with gw.access.forwarding(who):
        plans = await gw.engine.list_plans()
    return json_response({"plans": [to_dict(p) for p in plans]})


@router.post("/validate", responses=answers(ref("PlanInfo"), 403))
async def validate_plan(body: ValidateBody, who: Who, gw: Gw) -> Response:
    """Checks a plan without storing it; a 400 names the line and field of each problem."""
    await gw.access.check(who, "plan.validate", action="plan.validate")
    with gw.access.forwarding(who):
        plan = await gw.engine.validate_plan(body.text, body.source)
    return json_response(to_dict(plan))


@router.get("/{plan_id}", responses=answers(ref("GetPlanResponse"), 403, 404))
async def get_plan(
    plan_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")],
    who: Who,
    gw: Gw,
    version: Annotated[int, Query(ge=0, le=2**31 - 1, description="0: the latest")] = 0,
) -> Response:
    """One plan version with its source text."""
    await gw.access.check(who, "plan.read", action="plan.get")
    with gw.access.forwarding(who):
        got = await gw.engine.get_plan(plan_id, version)
    return json_response(to_dict(got))
