"""Templates, metering and quotas (SPEC 3.3, 3.6): what the product service keeps per person.

A `Caller` is who asks, as the signed identity says; templates and bills are theirs (an
administrator's `sees_all` / `manages_quotas` reach everyone's). Another person's template is
"not found", like a missing one, so ids cannot be probed. The store is blocking SQL, run on the
offloader's threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from agentledger.core.clock import Clock
from agentledger.core.errors import InvalidArgument, NotFound, PermissionDenied
from agentledger.core.ids import new_uuid7
from agentledger.core.offload import Offloader
from services.engine.domain.plan import Plan
from services.product.domain import billing, templates
from services.product.domain.evidence import RunTrace
from services.product.domain.ports import Submission, Tasks, Traces
from services.product.domain.quotas import (
    QuotaDefaults,
    QuotaState,
    Usage,
    check,
    check_limit,
    day_of,
    evaluate,
    resets_at,
)
from services.product.domain.records import (
    QUOTAS,
    SCOPES,
    ExportRecord,
    MeteringRecord,
    QuotaSetting,
    TemplateRecord,
)
from services.product.domain.store import ProductStore


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    tenant: str = ""
    sees_all: bool = False  # task.any: every template
    manages_quotas: bool = False  # quota.manage: anyone's quotas, usage and bills


class Accounts:
    def __init__(
        self,
        store: ProductStore,
        offload: Offloader,
        tasks: Tasks,
        traces: Traces,
        clock: Clock,
        defaults: QuotaDefaults,
        plan_of: Callable[[str, str], Plan],  # (text, source) -> Plan: the service's cache
    ) -> None:
        self.store = store
        self._offload = offload
        self._tasks = tasks
        self._traces = traces
        self._clock = clock
        self.defaults = defaults
        self._plan_of = plan_of

    # ------------------------------------------------------------------ 3.3 templates

    async def create_template(self, caller: Caller, task_id: str, name: str = "") -> TemplateRecord:
        view = await self._tasks.get(task_id)
        plan = await self._plan(view.plan_text, view.task)
        now = self._clock.now_ns()
        record = templates.from_task(
            template_id=f"tpl-{new_uuid7(now).hex[:20]}",
            name=name,
            owner=caller.subject,
            tenant=caller.tenant,
            task=view.task,
            plan=plan,
            plan_yaml="" if view.plan_in_catalog else view.plan_text,
            nodes=view.nodes,
            now_ns=now,
        )
        return await self._offload.write(self.store.add_template, record)

    async def get_template(self, caller: Caller, template_id: str) -> TemplateRecord:
        try:
            record = await self._offload.read(self.store.get_template, template_id)
        except NotFound:
            record = None
        if record is None or not (caller.sees_all or record.owner == caller.subject):
            raise NotFound(f"template {template_id!r} does not exist")
        return record

    async def list_templates(
        self, caller: Caller, *, limit: int = 50, cursor: str = ""
    ) -> tuple[list[TemplateRecord], str]:
        if not 1 <= limit <= 500:
            raise InvalidArgument(f"limit must be 1..500, got {limit}")
        owner = None if caller.sees_all else caller.subject
        return await self._offload.read(
            self.store.list_templates, owner, limit=limit, cursor=cursor
        )

    async def delete_template(self, caller: Caller, template_id: str) -> None:
        await self.get_template(caller, template_id)
        await self._offload.write(self.store.delete_template, template_id)

    async def run_template(
        self,
        caller: Caller,
        template_id: str,
        inputs: Mapping[str, Any],
        *,
        goal: str = "",
        mode: str = "",
        budget: Mapping[str, Any] | None = None,
    ) -> object:
        t = await self.get_template(caller, template_id)
        checked = templates.inputs_for_run(t.input_fields, inputs, what=f"template {template_id}")
        default = {"tokens": t.budget_tokens, "usd": t.budget_usd, "seconds": t.budget_seconds}
        return await self._tasks.submit(
            Submission(
                owner=caller.subject,
                tenant=caller.tenant,
                goal=goal or t.goal,
                mode=mode or t.default_mode,
                inputs=checked,
                budget=budget if budget else default,
                plan_id=t.plan_id,
                plan_version=t.plan_version,
                plan_yaml=t.plan_yaml,
                priority=t.priority,
            )
        )

    async def rerun(
        self,
        caller: Caller,
        task_id: str,
        inputs: Mapping[str, Any],
        *,
        budget: Mapping[str, Any] | None = None,
    ) -> object:
        """A new task of the caller's with the earlier one's plan, goal, mode and budget, and
        its inputs overlaid with `inputs` (sensitive ones must be given again)."""
        view = await self._tasks.get(task_id)
        plan = await self._plan(view.plan_text, view.task)
        fields = templates.input_fields(plan)
        earlier = view.task.get("inputs") or {}
        checked = templates.rerun_inputs(fields, earlier, inputs, what=f"task {task_id}")
        task = view.task
        return await self._tasks.submit(
            Submission(
                owner=caller.subject,
                tenant=caller.tenant,
                goal=str(task.get("goal") or ""),
                mode=str(task.get("mode") or ""),
                inputs=checked,
                budget=budget if budget else dict(task.get("budget") or {}),
                plan_id=plan.id,
                plan_version=plan.version,
                plan_yaml="" if view.plan_in_catalog else view.plan_text,
                priority=int(task.get("priority") or 0),
            )
        )

    async def _plan(self, text: str, task: Mapping[str, Any]) -> Plan:
        source = f"{task.get('plan_id')}@{task.get('plan_version')} (task {task.get('task_id')})"
        plan: Plan = await asyncio.to_thread(self._plan_of, text, source)
        return plan

    # ------------------------------------------------------------------ 3.6 metering

    async def refresh(
        self, task_id: str, summary: Mapping[str, Any] | None = None, trace: RunTrace | None = None
    ) -> MeteringRecord:
        """The task's metering record from its trace summary now; with its whole trace (at its
        end) also the events behind its cost and the bytes of its artifacts."""
        s = summary if summary is not None else await self._traces.summary(task_id)
        cost = s.get("cost") or {}
        record = MeteringRecord(
            task_id=task_id,
            owner=str(s.get("owner") or ""),
            tenant=str(s.get("tenant") or ""),
            day=day_of(int(s.get("created_unix_nano") or self._clock.now_ns())),
            state=str(s.get("state") or ""),
            tokens_in=int(cost.get("tokens_in") or 0),
            tokens_out=int(cost.get("tokens_out") or 0),
            usd=float(cost.get("usd") or 0.0),
            tool_ms=int(cost.get("tool_ms") or 0),
            events=int(s.get("last_seq") or 0),
            updated_ns=self._clock.now_ns(),
        )
        if trace is not None:
            record = replace(
                record,
                cost_seqs=cost_seqs(trace),
                blob_bytes=artifact_bytes(trace),
                ended=True,
            )
        return await self._offload.write(self.store.upsert_metering, record)

    async def stored(self, task_id: str) -> MeteringRecord | None:
        return await self._offload.read(self.store.get_metering, task_id)

    async def usage(self, task_id: str) -> MeteringRecord:
        """The record, refreshed from the live summary unless the task has ended."""
        kept = await self._offload.read(self.store.get_metering, task_id)
        if kept is not None and kept.ended:
            return kept
        return await self.refresh(task_id)

    async def count_compared(self, a: str, b: str) -> None:
        """A comparison counts once for each task in it (once for a task compared with itself)."""
        for task_id in dict.fromkeys((a, b)):
            await self.count(task_id, compares=1)

    async def count(self, task_id: str, *, exports: int = 0, compares: int = 0) -> None:
        try:
            await self._offload.write(
                self.store.count_usage, task_id, exports=exports, compares=compares
            )
        except NotFound:  # not metered yet: make its record, then count
            await self.refresh(task_id)
            await self._offload.write(
                self.store.count_usage, task_id, exports=exports, compares=compares
            )

    # ------------------------------------------------------------------ 3.6 quotas

    async def states(
        self,
        action: str,
        owner: str,
        tenant: str,
        *,
        active_owner: int = 0,
        active_tenant: int = 0,
    ) -> list[QuotaState]:
        now = self._clock.now_ns()
        today = day_of(now)

        def measure() -> tuple[Usage, dict[tuple[str, str], dict[str, QuotaSetting]]]:
            tokens_o, usd_o = self.store.usage_on("owner", owner, today)
            tokens_t, usd_t = self.store.usage_on("tenant", tenant, today) if tenant else (0, 0)
            usage = Usage(
                active_owner=active_owner,
                active_tenant=active_tenant,
                tokens_owner=tokens_o,
                tokens_tenant=tokens_t,
                usd_owner=usd_o,
                usd_tenant=usd_t,
                exports_owner=self.store.exports_on("owner", owner, today),
                exports_tenant=self.store.exports_on("tenant", tenant, today) if tenant else 0,
            )
            settings = {("owner", owner): self.store.quotas_for("owner", owner)}
            if tenant:
                settings[("tenant", tenant)] = self.store.quotas_for("tenant", tenant)
            return usage, settings

        usage, settings = await self._offload.read(measure)
        return evaluate(action, owner, tenant, usage, settings, self.defaults, now)

    async def check_submit(
        self, owner: str, tenant: str, active_owner: int, active_tenant: int
    ) -> list[QuotaState]:
        states = await self.states(
            "submit", owner, tenant, active_owner=active_owner, active_tenant=active_tenant
        )
        check("submit", states)
        return states

    async def check_export(self, owner: str, tenant: str) -> list[QuotaState]:
        states = await self.states("export", owner, tenant)
        check("export", states)
        return states

    async def admit_export(self, caller: Caller, task_id: str) -> None:
        """Checks the caller's daily exports again (another export may have been admitted
        meanwhile), then counts this one, before its first byte: a download cut short still
        counts, as the work of making it was done."""
        await self.check_export(caller.subject, caller.tenant)
        now = self._clock.now_ns()
        await self._offload.write(
            self.store.record_export,
            ExportRecord(task_id, caller.subject, caller.tenant, day_of(now), now, 0),
        )
        await self.count(task_id, exports=1)

    async def quota_status(self, caller: Caller, owner: str = "") -> list[QuotaState]:
        owner = owner or caller.subject
        self._may_see(caller, owner, "quotas")
        if owner == caller.subject:
            tenant = caller.tenant
        else:  # an administrator asking: the tenant the owner's tasks were metered under
            tenant = await self._offload.read(self.store.tenant_of, owner)
        active = await self._traces.active(owner=owner)
        active_tenant = await self._traces.active(tenant=tenant) if tenant else 0
        return await self.states(
            "", owner, tenant, active_owner=active, active_tenant=active_tenant
        )

    async def set_quota(
        self,
        caller: Caller,
        *,
        scope: str,
        subject: str,
        quota: str,
        limit: float,
        reset: bool = False,
    ) -> QuotaState:
        if not caller.manages_quotas:
            raise PermissionDenied(f"{caller.subject} may not change quotas")
        if scope not in SCOPES:
            raise InvalidArgument(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        if quota not in QUOTAS:
            raise InvalidArgument(f"quota {quota!r} is not one of {', '.join(QUOTAS)}")
        if not subject:
            raise InvalidArgument(f"subject is required: the {scope} the quota applies to")
        if not reset:
            check_limit(quota, limit, f"{scope} {subject!r} quota {quota}")
        if reset:
            await self._offload.write(self.store.clear_quota, scope, subject, quota)
        else:
            setting = QuotaSetting(
                scope, subject, quota, limit, caller.subject, self._clock.now_ns()
            )
            await self._offload.write(self.store.set_quota, setting)
        return await self._one(scope, subject, quota)

    async def _one(self, scope: str, subject: str, quota: str) -> QuotaState:
        """One subject's quota as it stands now (a tenant's even when it is unlimited)."""
        active = await self._traces.active(**{scope: subject})
        if scope == "owner":
            states = await self.states("", subject, "", active_owner=active)
        else:
            states = await self.states("", "-", subject, active_tenant=active)
        for state in states:
            if state.scope == scope and state.quota == quota:
                return state
        now = self._clock.now_ns()
        return QuotaState(quota, scope, subject, 0.0, 0.0, resets_at(quota, now), "default")

    # ------------------------------------------------------------------ 3.6 billing

    async def bill(
        self, caller: Caller, owner: str = "", from_day: str = "", to_day: str = ""
    ) -> billing.Bill:
        owner = owner or caller.subject
        self._may_see(caller, owner, "bill")
        today = day_of(self._clock.now_ns())
        to_day = to_day or today
        from_day = from_day or billing.parse_day(to_day, what="to_day").replace(day=1).isoformat()
        records = await self._offload.read(self.store.metering_for, owner, from_day, to_day)
        return billing.bill(owner, from_day, to_day, records)

    @staticmethod
    def _may_see(caller: Caller, owner: str, what: str) -> None:
        if owner != caller.subject and not caller.manages_quotas:
            raise PermissionDenied(f"{caller.subject} may see only their own {what}")


def cost_seqs(trace: RunTrace) -> tuple[int, ...]:
    """The node outcomes that reported usage: the events a task's cost adds up from."""
    out = []
    for seqs in trace.outcomes.values():
        for seq in seqs:
            usage = trace.payload(seq).get("usage")
            if isinstance(usage, Mapping) and any(usage.values()):
                out.append(seq)
    return tuple(sorted(out))


def artifact_bytes(trace: RunTrace) -> int:
    """The bytes of the task's artifacts, each distinct blob once."""
    sizes: dict[str, int] = {}
    for blob, seq in trace.artifacts.items():
        size = trace.payload(seq).get("size")
        sizes[blob] = int(size) if isinstance(size, int) and size > 0 else 0
    return sum(sizes.values())
