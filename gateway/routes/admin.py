"""Who am I, API tokens, task shares and the audit log. Every change here is audited."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from agentledger.core.errors import NotFound
from gateway.access import Caller
from gateway.routes.common import TASK_ID, answers, json_response
from gateway.state import Gateway, caller, gateway

router = APIRouter(prefix="/api", tags=["access"])
Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]
SUBJECT = Path(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._@:/-]+$")
TOKEN_ID = Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")

WHOAMI = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "role": {"type": "string"},
        "tenant": {"type": "string"},
        "permissions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["subject", "role", "tenant", "permissions"],
}
TOKEN = {
    "type": "object",
    "properties": {
        "token_id": {"type": "string"},
        "name": {"type": "string"},
        "subject": {"type": "string"},
        "role": {"type": "string"},
        "tenant": {"type": "string"},
        "created_unix_nano": {"type": "integer"},
        "created_by": {"type": "string"},
        "expires_unix_nano": {"type": ["integer", "null"]},
        "revoked_unix_nano": {"type": ["integer", "null"]},
    },
    "required": ["token_id", "name", "subject", "role"],
}
NEW_TOKEN = {
    "type": "object",
    "properties": {"token": {"type": "string"}, "info": TOKEN},
    "required": ["token", "info"],
}
TOKENS = {"type": "object", "properties": {"tokens": {"type": "array", "items": TOKEN}}}
SHARES = {
    "type": "object",
    "properties": {
        "task_id": {"type": "string"},
        "subjects": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["task_id", "subjects"],
}
AUDIT_PAGE = {
    "type": "object",
    "properties": {
        "records": {"type": "array", "items": {"type": "object"}},
        "next_after": {"type": ["integer", "null"]},
    },
    "required": ["records", "next_after"],
}


@router.get("/whoami", responses=answers(WHOAMI))
async def whoami(who: Who, gw: Gw) -> Response:
    """The caller's identity, role and what the role allows."""
    p = who.principal
    return json_response(
        {
            "subject": p.subject,
            "role": p.role,
            "tenant": p.tenant,
            "permissions": sorted(gw.access.policy.permissions_of(p.role)),
        }
    )


# ---------------------------------------------------------------- tokens


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Literal["viewer", "operator", "owner", "admin"]
    subject: str = Field(default="", max_length=256, pattern=r"^[A-Za-z0-9._@:/-]*$")
    tenant: str = Field(default="", max_length=256, pattern=r"^[A-Za-z0-9._@:/-]*$")
    expires_days: float | None = Field(default=None, gt=0, le=3650)


def _token(info: Any) -> dict[str, Any]:
    return {
        "token_id": info.token_id,
        "name": info.name,
        "subject": info.subject,
        "role": info.role,
        "tenant": info.tenant,
        "created_unix_nano": info.created_unix_nano,
        "created_by": info.created_by,
        "expires_unix_nano": info.expires_unix_nano,
        "revoked_unix_nano": info.revoked_unix_nano,
    }


@router.post("/tokens", status_code=201, responses=answers(NEW_TOKEN, 403, status=201))
async def create_token(body: TokenBody, who: Who, gw: Gw) -> Response:
    """Creates an API token (admins). The token is in this answer only; it is stored as a hash."""
    await gw.access.check(who, "token.manage", action="token.create")
    entry = gw.access.entry(
        who,
        "token.create",
        object_type="token",
        object_id=body.name,
        details={"role": body.role, "subject": body.subject or body.name},
    )
    await gw.access.audited(entry)
    info, token = await asyncio.to_thread(
        lambda: gw.tokens.create(
            name=body.name,
            role=body.role,
            subject=body.subject,
            tenant=body.tenant,
            created_by=who.principal.subject,
            expires_in_s=body.expires_days * 86400 if body.expires_days else None,
            policy=gw.access.policy,
        )
    )
    return json_response({"token": token, "info": _token(info)}, 201)


@router.get("/tokens", responses=answers(TOKENS, 403))
async def list_tokens(who: Who, gw: Gw) -> Response:
    """Every token (admins), or the caller's own."""
    p = who.principal
    if gw.access.policy.allows(p.role, "token.manage"):
        subject = None
    else:
        await gw.access.check(who, "token.self", action="token.list")
        subject = p.subject
    infos = await asyncio.to_thread(lambda: gw.tokens.list(subject=subject))
    return json_response({"tokens": [_token(i) for i in infos]})


@router.delete("/tokens/{token_id}", responses=answers(TOKEN, 403, 404))
async def revoke_token(token_id: Annotated[str, TOKEN_ID], who: Who, gw: Gw) -> Response:
    """Revokes a token: an admin any, anyone their own (others' answer 404)."""
    p = who.principal
    if not gw.access.policy.allows(p.role, "token.manage"):
        await gw.access.check(who, "token.self", action="token.revoke")
        own = await asyncio.to_thread(lambda: gw.tokens.list(subject=p.subject))
        if token_id not in {i.token_id for i in own}:
            raise NotFound(f"token {token_id} not found")
    entry = gw.access.entry(who, "token.revoke", object_type="token", object_id=token_id)
    await gw.access.audited(entry)
    info = await asyncio.to_thread(lambda: gw.tokens.revoke(token_id, by=p.subject))
    return json_response(_token(info))


# ---------------------------------------------------------------- shares


@router.get("/tasks/{task_id}/shares", responses=answers(SHARES, 403, 404))
async def list_shares(task_id: Annotated[str, TASK_ID], who: Who, gw: Gw) -> Response:
    """Who else may reach the task (its owner only)."""
    await gw.access.check(who, "task.share", task_id, action="task.shares")
    subjects = await asyncio.to_thread(gw.shares.subjects, task_id)
    return json_response({"task_id": task_id, "subjects": sorted(subjects)})


@router.put("/tasks/{task_id}/shares/{subject}", responses=answers(SHARES, 403, 404))
async def share_task(
    task_id: Annotated[str, TASK_ID], subject: Annotated[str, SUBJECT], who: Who, gw: Gw
) -> Response:
    """Shares the task with ``subject``: what they may do with it is what their role allows."""
    acl = await gw.access.check(who, "task.share", task_id, action="task.share")
    entry = gw.access.entry(who, "task.share", task_id=task_id, acl=acl, details={"with": subject})
    await gw.access.audited(entry)
    await asyncio.to_thread(lambda: gw.shares.grant(task_id, subject, by=who.principal.subject))
    gw.access.forget_shares(task_id)
    subjects = await asyncio.to_thread(gw.shares.subjects, task_id)
    return json_response({"task_id": task_id, "subjects": sorted(subjects)})


@router.delete("/tasks/{task_id}/shares/{subject}", responses=answers(SHARES, 403, 404))
async def unshare_task(
    task_id: Annotated[str, TASK_ID], subject: Annotated[str, SUBJECT], who: Who, gw: Gw
) -> Response:
    acl = await gw.access.check(who, "task.share", task_id, action="task.unshare")
    entry = gw.access.entry(
        who, "task.unshare", task_id=task_id, acl=acl, details={"with": subject}
    )
    await gw.access.audited(entry)
    await asyncio.to_thread(gw.shares.revoke, task_id, subject)
    gw.access.forget_shares(task_id)
    subjects = await asyncio.to_thread(gw.shares.subjects, task_id)
    return json_response({"task_id": task_id, "subjects": sorted(subjects)})


# ---------------------------------------------------------------- audit


@router.get("/audit", responses=answers(AUDIT_PAGE, 403, 404))
async def audit_log(
    who: Who,
    gw: Gw,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="the next_after of the previous page")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    task_id: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """Audit records in order: an admin's are everyone's; an owner's are those about their
    tasks and their own actions (``task_id`` narrows to one of their tasks)."""
    p = who.principal
    everything = gw.access.policy.allows(p.role, "audit.read_all")
    if task_id:
        await gw.access.check(
            who, "task.any" if everything else "task.audit", task_id, action="audit.read"
        )
    elif not everything:
        await gw.access.require(who, "task.audit", action="audit.read")
    owner = None if everything else p.subject
    entry = gw.access.entry(
        who, "audit.read", object_type="audit", object_id=task_id or "*", details={"after": after}
    )
    await gw.access.audited(entry)
    records, next_after = await asyncio.to_thread(
        lambda: gw.audit_log.page(
            owner=owner if not task_id else None,
            actor=actor or None,
            object_id=task_id or None,
            after_seq=after,
            limit=limit,
        )
    )
    return json_response({"records": [r.to_dict() for r in records], "next_after": next_after})
