"""Product domain values to and from their protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from agentledger.common.v1 import common_pb2
from agentledger.engine.v1 import engine_pb2 as epb
from agentledger.product.v1 import product_pb2 as pb
from services.product.domain.billing import Bill
from services.product.domain.evidence import Evidence
from services.product.domain.quotas import QuotaState
from services.product.domain.records import MeteringRecord, TemplateRecord
from services.product.domain.sentences import Checked
from services.product.domain.service import GoalOutcome


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)


def budget_of(b: epb.Budget) -> dict[str, Any]:
    """The limits set in `b`; {} when none is (the caller then takes the earlier ones)."""
    out: dict[str, Any] = {}
    for name in ("tokens", "usd", "seconds"):
        if b.HasField(name):
            out[name] = getattr(b, name)
    return out


def _evidence(items: Iterable[Evidence]) -> list[pb.Evidence]:
    return [
        pb.Evidence(seq=e.seq, kind=e.kind, text=e.text, blob_ids=list(e.blob_ids)) for e in items
    ]


def goal_report(g: GoalOutcome) -> pb.GoalReport:
    r = g.report
    return pb.GoalReport(
        task_id=g.task_id,
        goal_status=r.status.value,
        task_state=r.task_state,
        completion_breakdown=[
            pb.SubgoalResult(
                subgoal=s.subgoal,
                description=s.description,
                status=s.status.value,
                requirements=[
                    pb.Requirement(
                        what=q.what,
                        passed=q.passed,
                        observed=q.observed,
                        evidence=_evidence(q.evidence),
                        fix_with=q.fix_with,
                    )
                    for q in s.requirements
                ],
            )
            for s in r.breakdown
        ],
        missing_requirements=list(r.missing_requirements),
        user_next_actions=[
            pb.NextAction(kind=a.kind, field=a.field, why=a.why, evidence=_evidence(a.evidence))
            for a in r.next_actions
        ],
        last_seq=g.last_seq,
        final=g.final,
        recorded_seq=g.recorded_seq,
    )


def sentences(checked: Checked) -> tuple[list[pb.Sentence], list[pb.RefusedSentence]]:
    told = [
        pb.Sentence(section=s.section, text=s.text, seqs=list(s.seqs), blob_ids=list(s.blob_ids))
        for s in checked.sentences
    ]
    refused = [pb.RefusedSentence(text=r.sentence.text, reason=r.reason) for r in checked.refused]
    return told, refused


def template(t: TemplateRecord) -> pb.Template:
    return pb.Template(
        template_id=t.template_id,
        name=t.name,
        owner=t.owner,
        tenant=t.tenant,
        source_task_id=t.source_task_id,
        goal=t.goal,
        plan_id=t.plan_id,
        plan_version=t.plan_version,
        plan_yaml=t.plan_yaml,
        default_mode=t.default_mode,
        budget=epb.Budget(tokens=t.budget_tokens, usd=t.budget_usd, seconds=t.budget_seconds),
        priority=t.priority,
        input_fields=[
            epb.InputField(
                name=f.name,
                type=f.type,
                required=f.required,
                sensitive=f.sensitive,
                description=f.description,
            )
            for f in t.input_fields
        ],
        degrade_json=orjson.dumps(t.degrade),
        created_unix_nano=t.created_ns,
    )


def _cost(tokens_in: int, tokens_out: int, usd: float, tool_ms: int) -> common_pb2.Cost:
    return common_pb2.Cost(tokens_in=tokens_in, tokens_out=tokens_out, usd=usd, tool_ms=tool_ms)


def metering(m: MeteringRecord) -> pb.Metering:
    return pb.Metering(
        task_id=m.task_id,
        owner=m.owner,
        tenant=m.tenant,
        day=m.day,
        state=m.state,
        cost=_cost(m.tokens_in, m.tokens_out, m.usd, m.tool_ms),
        events=m.events,
        blob_bytes=m.blob_bytes,
        exports=m.exports,
        compares=m.compares,
        updated_unix_nano=m.updated_ns,
        cost_seqs=list(m.cost_seqs),
    )


def quota(s: QuotaState) -> pb.QuotaStatus:
    return pb.QuotaStatus(
        quota=s.quota,
        scope=s.scope,
        subject=s.subject,
        usage=s.usage,
        limit=s.limit,
        resets_unix_nano=s.resets_ns,
        source=s.source,
    )


def bill(b: Bill) -> pb.GetBillingResponse:
    t = b.totals
    return pb.GetBillingResponse(
        owner=b.owner,
        from_day=b.from_day,
        to_day=b.to_day,
        lines=[
            pb.BillingLine(
                task_id=x.task_id,
                day=x.day,
                state=x.state,
                cost=_cost(x.tokens_in, x.tokens_out, x.usd, x.tool_ms),
                events=x.events,
                blob_bytes=x.blob_bytes,
                exports=x.exports,
                compares=x.compares,
                cost_seqs=list(x.cost_seqs),
                explanation=x.explanation,
            )
            for x in b.lines
        ],
        total=_cost(t.tokens_in, t.tokens_out, t.usd, t.tool_ms),
        events=t.events,
        blob_bytes=t.blob_bytes,
        exports=t.exports,
        compares=t.compares,
        explanation=list(b.explanation),
    )
