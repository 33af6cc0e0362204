"""Engine records <-> protobuf messages."""

from __future__ import annotations

from typing import Any

import orjson

from agentledger.common.v1 import common_pb2
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine.domain.agents.base import Usage
from services.engine.domain.model import Budget, NodeRecord, TaskRecord
from services.engine.domain.plan import Plan
from services.engine.domain.protect import public_inputs


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def cost_pb(u: Usage) -> common_pb2.Cost:
    return common_pb2.Cost(
        tokens_in=u.tokens_in,
        tokens_out=u.tokens_out,
        usd=u.usd,
        tool_ms=int(u.tool_seconds * 1000),
    )


def budget_from_pb(b: pb.Budget) -> Budget:
    return Budget(
        tokens=b.tokens if b.HasField("tokens") else None,
        usd=b.usd if b.HasField("usd") else None,
        seconds=b.seconds if b.HasField("seconds") else None,
    )


def budget_pb(b: Budget) -> pb.Budget:
    return pb.Budget(tokens=b.tokens, usd=b.usd, seconds=b.seconds)


def task_pb(t: TaskRecord) -> pb.Task:
    return pb.Task(
        task_id=t.task_id,
        owner=t.owner,
        tenant=t.tenant,
        goal=t.goal,
        mode=t.mode,
        inputs_json=dumps(public_inputs(t.inputs)),
        budget=budget_pb(t.budget),
        plan_id=t.plan_id,
        plan_version=t.plan_version,
        plan_rule=t.plan_rule,
        plan_evidence_json=dumps(dict(t.plan_evidence)),
        state=t.state.value,
        control=t.control,
        created_unix_nano=t.created_ns,
        updated_unix_nano=t.updated_ns,
        ended_unix_nano=t.ended_ns,
        run_seconds=t.run_seconds,
        cost=cost_pb(t.usage),
        degrade_count=t.degrade_count,
        pause_count=t.pause_count,
        failure_type=t.failure_type,
        failure_message=t.failure_message,
        result_json=dumps(dict(t.result)),
        pending_json=dumps(dict(t.pending)) if t.pending else b"",
        lease_epoch=t.lease_epoch,
    )


def node_pb(n: NodeRecord) -> pb.NodeState:
    return pb.NodeState(
        node_id=n.node_id,
        status=n.status,
        attempt=n.attempt,
        variant=n.variant,
        tried_variants=list(n.tried_variants),
        output_json=dumps(dict(n.output)),
        failure_kind=str((n.failure or {}).get("kind", "")),
        failure_message=str((n.failure or {}).get("message", "")),
        cost=cost_pb(n.usage),
        started_unix_nano=n.started_ns,
        ended_unix_nano=n.ended_ns,
    )


def plan_pb(p: Plan, versions: list[int] | None = None) -> pb.PlanInfo:
    return pb.PlanInfo(
        plan_id=p.id,
        version=p.version,
        description=p.description,
        digest=p.digest,
        default_mode=p.default_mode,
        inputs=[
            pb.InputField(
                name=f.name,
                type=f.type,
                required=f.required,
                sensitive=f.sensitive,
                description=f.description,
            )
            for f in p.inputs
        ],
        nodes=[
            pb.PlanNodeInfo(
                id=n.id,
                phase=n.phase,
                agent=n.agent,
                depends_on=list(n.depends_on),
                variants=[v.name for v in n.variants],
                subgoal=n.subgoal,
                latency_s=n.estimates.latency_s,
                tokens=n.estimates.tokens,
                usd=n.estimates.usd,
            )
            for n in p.nodes
        ],
        versions=versions or [p.version],
    )
