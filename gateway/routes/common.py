"""Helpers the route modules share: JSON answers, schema references, shared parameters."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import ERROR_RESPONSES

TASK_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="a task id")


def json_response(body: Any, status: int = 200) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(raw, status, media_type="application/json")


def answers(schema: dict[str, Any], *errors: int, status: int = 200) -> dict[int | str, Any]:
    """The ``responses`` of a route: its success schema and the errors it can answer."""
    out: dict[int | str, Any] = {
        status: {"description": "OK", "content": {"application/json": {"schema": schema}}}
    }
    for code in (400, 401, 503, *errors):
        out[code] = ERROR_RESPONSES[code]
    return out


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def storable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the engine can store: orjson's JSON, whose integers are at most 64 bits."""
    if value is not None:
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError as exc:
            raise ValueError(f"cannot be stored as JSON: {exc}") from None
    return value


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="most tokens the task may use"
    )  # an int64 in the engine's Budget
    usd: float | None = Field(default=None, gt=0, description="most US dollars it may spend")
    seconds: float | None = Field(default=None, gt=0, description="most wall-clock seconds")
