"""Helpers the route modules share: JSON answers, schema references, shared parameters."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Path
from fastapi.responses import Response

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
