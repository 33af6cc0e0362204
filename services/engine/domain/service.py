"""The engine's use cases behind its RPCs: submit, get, list, cancel, pause, resume, retry,
and plans. User-side state changes go through the StateManager; changes to a task a worker is
running are requests the worker carries out at its next step."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentledger.core.clock import Clock
from agentledger.core.errors import (
    AgentLedgerError,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from agentledger.core.offload import Offloader
from agentledger.security.redaction import DEFAULT_POLICY
from services.engine.domain.agents.base import Usage
from services.engine.domain.ids import new_event_id, new_task_id
from services.engine.domain.inputs import check_inputs, sensitive_fields
from services.engine.domain.model import Budget, NodeRecord, OutboxEvent, TaskRecord
from services.engine.domain.plan import MODES, Plan
from services.engine.domain.plan_catalog import PlanCatalog
from services.engine.domain.plan_loader import load_plan
from services.engine.domain.plan_selection import (
    Selection,
    SelectionRules,
    TaskAttributes,
    explicit,
)
from services.engine.domain.protect import InputSealer, protect_inputs
from services.engine.domain.relay import Relay
from services.engine.domain.state_manager import StateManager
from services.engine.domain.states import TERMINAL, State
from services.engine.domain.store import Control, EngineStore, dumps, human_inputs_json
from services.engine.domain.summary import summary_of
from services.engine.domain.workers import WorkerPool

log = logging.getLogger("agentledger.engine")
MAX_GOAL_CHARS = 8192


@dataclass(frozen=True)
class Submission:
    owner: str
    goal: str
    budget: Budget
    inputs: Mapping[str, Any] = field(default_factory=dict)
    mode: str = ""  # "" = the plan's default mode
    tenant: str = ""
    plan_id: str = ""  # "" = chosen by the selection rules
    plan_version: int = 0  # 0 = latest
    plan_yaml: str = ""  # a plan submitted with the task instead of a catalog one
    priority: int = 0


class PlanResolver:
    """The plan a task runs: the snapshot stored when it was submitted, loaded once."""

    def __init__(self, store: EngineStore, offload: Offloader, agents: Collection[str]) -> None:
        self._store = store
        self._offload = offload
        self._agents = agents
        self._cache: dict[tuple[str, int], Plan] = {}

    async def get(self, plan_id: str, version: int) -> Plan:
        key = (plan_id, version)
        plan = self._cache.get(key)
        if plan is None:
            text, source = await self._offload.read(self._store.plan_text, plan_id, version)
            plan = self._cache[key] = load_plan(text, source=source, known_agents=self._agents)
        return plan


def check_budget(b: Budget) -> None:
    if b.tokens is None and b.usd is None and b.seconds is None:
        raise InvalidArgument(
            "a budget is required: set at least one of tokens, usd or seconds (e.g. seconds=600)"
        )
    for name, v in (("tokens", b.tokens), ("usd", b.usd), ("seconds", b.seconds)):
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise InvalidArgument(f"budget.{name} must be a positive number, got {v}")


class QuotaGate(Protocol):
    """Where a submission is checked against its owner's and tenant's quotas (the product
    service); raises ResourceExhausted naming the quota when one is used up."""

    async def check_submit(
        self, owner: str, tenant: str, active_owner: int, active_tenant: int
    ) -> None: ...


class EngineService:
    def __init__(
        self,
        *,
        store: EngineStore,
        states: StateManager,
        catalog: PlanCatalog,
        rules: SelectionRules,
        relay: Relay,
        offload: Offloader,
        clock: Clock,
        known_agents: Collection[str],
        pool: WorkerPool | None,
        plans: PlanResolver,
        sealer: InputSealer,
        quota: QuotaGate | None = None,
    ) -> None:
        self.store = store
        self._states = states
        self.catalog = catalog
        self._rules = rules
        self._relay = relay
        self._offload = offload
        self._clock = clock
        self.known_agents = known_agents
        self.pool = pool
        self._plans = plans
        self._sealer = sealer
        self._quota = quota

    # ------------------------------------------------------------------ tasks

    async def submit(self, s: Submission) -> TaskRecord:
        if not s.owner:
            raise InvalidArgument("owner is required")
        if len(s.goal) > MAX_GOAL_CHARS:
            raise InvalidArgument(
                f"goal is {len(s.goal)} characters; the limit is {MAX_GOAL_CHARS}"
            )
        if s.mode and s.mode not in MODES:
            raise InvalidArgument(f"mode {s.mode!r} is not one of {', '.join(MODES)}")
        check_budget(s.budget)
        plan, selection, text = self._resolve_plan(s)
        inputs = protect_inputs(check_inputs(plan, s.inputs), sensitive_fields(plan), self._sealer)
        if self._quota is not None:  # checked last: a refused request costs no quota lookup
            active = await self._offload.read(self.store.count_active, s.owner, s.tenant)
            await self._quota.check_submit(s.owner, s.tenant, *active)
        now = self._clock.now_ns()
        task = TaskRecord(
            task_id=new_task_id(now),
            owner=s.owner,
            tenant=s.tenant,
            goal=DEFAULT_POLICY.redact_text(s.goal),  # people paste keys into goals too
            mode=s.mode or plan.default_mode,
            inputs=inputs,
            budget=s.budget,
            plan_id=plan.id,
            plan_version=plan.version,
            plan_rule=selection.rule_name,
            plan_evidence=selection.evidence,
            state=State.CREATED,
            state_seq=0,
            control="",
            control_actor="",
            control_reason="",
            lease_owner="",
            lease_epoch=0,
            lease_expires_ns=0,
            priority=s.priority,
            available_ns=now,
            created_ns=now,
            updated_ns=now,
            started_ns=0,
            ended_ns=0,
            run_seconds=0.0,
            usage=Usage(),
            degrade_count=0,
            pause_count=0,
            failure_type="",
            failure_message="",
            result={},
            pending=None,
            human_input={},
        )
        await self._offload.write(self._insert, task, plan, text)
        self.catalog.add(plan)
        await self._publish(task.task_id, new_task=True)
        if self.pool is not None:
            self.pool.wake()
        return await self._offload.read(self.store.get_task, task.task_id)

    def _resolve_plan(self, s: Submission) -> tuple[Plan, Selection, str]:
        if s.plan_yaml:
            plan = load_plan(s.plan_yaml, source="<submitted plan>", known_agents=self.known_agents)
            # Registered only once its task is stored: a refused submission leaves nothing.
            plan = self.catalog.check(plan) or plan
            return plan, explicit(plan.id, plan.version), s.plan_yaml
        if s.plan_id:
            selection = explicit(s.plan_id, s.plan_version)
        else:
            selection = self._rules.select(
                TaskAttributes(s.goal, s.mode, s.inputs, s.owner, s.tenant)
            )
        plan = self.catalog.get(selection.plan_id, selection.version)
        return plan, selection, Path(plan.source).read_text(encoding="utf-8")

    def _insert(self, task: TaskRecord, plan: Plan, text: str) -> None:
        now = task.created_ns
        with self.store.write() as tx:
            stored = self.store.save_plan(
                tx, plan.id, plan.version, plan.digest, plan.source, text, now
            )
            if stored != plan.digest:
                raise Conflict(
                    f"plan {plan.ref} was stored earlier with different content (digest"
                    f" {stored[:12]}, now {plan.digest[:12]}); raise its version"
                )
            self._states.create(tx, task)
            created = OutboxEvent(
                new_event_id(),
                "task.created",
                {
                    "goal": task.goal,
                    "mode": task.mode,
                    "budget": task.budget.as_dict(),
                    "plan": {"id": plan.id, "version": plan.version, "digest": plan.digest},
                    "plan_rule": task.plan_rule,
                    "plan_rule_evidence": dict(task.plan_evidence),
                    "input_fields": sorted(task.inputs),
                    "nodes": len(plan.nodes),
                },
                actor=task.owner,
                time_ns=now,
            )
            _, queued = self._states.transition(
                tx,
                task.task_id,
                State.CREATED,
                State.QUEUED,
                actor=task.owner,
                reason="submitted",
                now_ns=now,
                fence=None,
            )
            self.store.record(tx, task.task_id, None, [created, queued], now)

    async def _publish(self, task_id: str, *, new_task: bool = False) -> None:
        """Relays what a user-side change wrote; if trace_store is down the worker that runs
        the task relays it later, so the change itself stands."""
        task = await self._offload.read(self.store.get_task, task_id)
        # A running task's summaries are its worker's to send, in order with its events: a
        # snapshot read here could land after the worker's final one and undo it (a task
        # cancelled by its worker would look RUNNING forever to trace_store and its followers).
        running = task.state is State.RUNNING and not new_task
        summary = None if running else summary_of(task, now_ns=self._clock.now_ns())
        try:
            await self._relay.drain(task_id, summary, new_task=new_task)
        except AgentLedgerError as exc:
            log.warning("could not relay events of %s to trace_store yet: %s", task_id, exc)

    async def get(self, task_id: str) -> tuple[TaskRecord, dict[str, NodeRecord]]:
        def read() -> tuple[TaskRecord, dict[str, NodeRecord]]:
            with self.store.read() as tx:
                return self.store.load_task(tx, task_id), self.store.load_nodes(tx, task_id)

        return await self._offload.read(read)

    async def list_tasks(
        self, *, owner: str, states: Sequence[str], limit: int, cursor: str
    ) -> list[TaskRecord]:
        for s in states:
            if s not in State.__members__:
                raise InvalidArgument(f"state {s!r} is not one of {', '.join(State.__members__)}")
        if not 1 <= limit <= 500:
            raise InvalidArgument(f"limit must be 1..500, got {limit}")
        return await self._offload.read(
            self.store.list_tasks, owner=owner, states=states, limit=limit, before=cursor
        )

    async def cancel(self, task_id: str, actor: str, reason: str) -> TaskRecord:
        return await self._change(task_id, actor, reason or "cancelled by the user", "cancel", {})

    async def pause(self, task_id: str, actor: str, reason: str) -> TaskRecord:
        return await self._change(task_id, actor, reason or "paused by the user", "pause", {})

    async def resume(
        self, task_id: str, actor: str, reason: str, values: Mapping[str, Any]
    ) -> TaskRecord:
        task = await self._offload.read(self.store.get_task, task_id)
        pending = task.pending or {}
        if task.state is State.WAITING_INPUT and values and pending.get("rule") != "NeedsInput":
            # Corrected inputs must still be what the plan takes; they are kept like the others.
            plan = await self._plans.get(task.plan_id, task.plan_version)
            check_inputs(plan, {**self._sealer.unseal(task.inputs), **values})
            values = protect_inputs(values, sensitive_fields(plan), self._sealer)
        elif values:
            values = DEFAULT_POLICY.redact_value(dict(values))
        return await self._change(task_id, actor, reason or "resumed by the user", "resume", values)

    async def retry(self, task_id: str, actor: str, reason: str) -> TaskRecord:
        return await self._change(task_id, actor, reason or "retried by the user", "retry", {})

    async def _change(
        self, task_id: str, actor: str, reason: str, action: str, values: Mapping[str, Any]
    ) -> TaskRecord:
        # A worker may claim the task between our read and our write: then try again, and the
        # request goes to the worker instead.
        for attempt in range(5):
            try:
                await self._offload.write(self._apply, task_id, actor, reason, action, values)
                break
            except FailedPrecondition:
                now = await self._offload.read(self.store.get_task, task_id)
                if attempt == 4 or not (now.state is State.RUNNING or now.lease_owner):
                    raise
        await self._publish(task_id)
        run = self.pool.control(task_id) if self.pool else None
        task = await self._offload.read(self.store.get_task, task_id)
        if run is not None and task.control:
            run.on_control(Control(task.control, task.control_actor, task.control_reason))
        if self.pool is not None and task.state is State.QUEUED:
            self.pool.wake()
        return task

    def _apply(
        self, task_id: str, actor: str, reason: str, action: str, values: Mapping[str, Any]
    ) -> None:
        now = self._clock.now_ns()
        with self.store.write() as tx:
            task = self.store.load_task(tx, task_id)
            state = task.state
            if action in ("cancel", "pause") and state is State.RUNNING:
                self.store.set_control(tx, task_id, action, actor, reason)
                return
            if action == "resume" and state is State.RUNNING and task.control == "pause":
                self.store.set_control(tx, task_id, "", actor, reason)
                return
            cols: dict[str, Any] = {}
            if action == "cancel":
                target = State.CANCELLED
                if state in TERMINAL:
                    raise FailedPrecondition(f"task {task_id} has already ended ({state})")
                cols = {"ended_ns": now}
            elif action == "pause":
                if state is not State.QUEUED:
                    raise FailedPrecondition(
                        f"task {task_id} is {state}: only QUEUED or RUNNING tasks can be paused"
                    )
                target = State.PAUSED
                cols = {"pause_count": task.pause_count + 1}
            elif action == "resume":
                if state not in (State.PAUSED, State.WAITING_INPUT):
                    raise FailedPrecondition(
                        f"task {task_id} is {state}: only PAUSED or WAITING_INPUT tasks resume"
                    )
                target = State.QUEUED
                cols = {"available_ns": now, "pending_json": ""}
                if state is State.WAITING_INPUT:
                    cols.update(self._supplied(task, values))
                elif values:
                    raise InvalidArgument(
                        f"task {task_id} is PAUSED, not waiting for input: resume it without input"
                    )
            elif action == "retry":
                if state is not State.FAILED:
                    raise FailedPrecondition(
                        f"task {task_id} is {state}: only FAILED tasks can be retried"
                    )
                target = State.QUEUED
                cols = {
                    "available_ns": now,
                    "ended_ns": 0,
                    "failure_type": "",
                    "failure_message": "",
                }
                self.store.forget_unfinished_nodes(tx, task_id)
            else:
                raise InvalidArgument(f"unknown action {action!r}")
            _, event = self._states.transition(
                tx,
                task_id,
                state,
                target,
                actor=actor,
                reason=reason,
                now_ns=now,
                fence=None,
                set_columns=cols,
            )
            self.store.record(tx, task_id, None, [event], now)

    @staticmethod
    def _supplied(task: TaskRecord, values: Mapping[str, Any]) -> dict[str, Any]:
        """Where ResumeTask's input goes: to the waiting human node, or into the task's
        inputs when governance asked for corrected data."""
        pending = task.pending or {}
        fields = [str(f) for f in pending.get("fields", [])]
        missing = [f for f in fields if f not in values]
        if missing:
            raise InvalidArgument(
                f"task {task.task_id} waits for {', '.join(fields)}; missing: {', '.join(missing)}"
                + (f" (question: {pending.get('question')})" if pending.get("question") else "")
            )
        node_id = str(pending.get("node_id", ""))
        if not values:
            if pending.get("rule") == "NeedsInput":
                raise InvalidArgument(
                    f"task {task.task_id} waits for input: {pending.get('question', '')}"
                )
            return {}  # e.g. the data was fixed where it lives: the node simply runs again
        if pending.get("rule") == "NeedsInput":
            return {"human_input_json": human_inputs_json(task.human_input, node_id, values)}
        return {"inputs_json": dumps({**task.inputs, **values})}

    # ------------------------------------------------------------------ plans

    def list_plans(self) -> list[Plan]:
        return self.catalog.list()

    def get_plan(self, plan_id: str, version: int) -> Plan:
        return self.catalog.get(plan_id, version)

    async def plan_text(self, plan: Plan) -> str:
        """The plan's source text: its file, or the snapshot stored when it was submitted."""
        path = Path(plan.source)
        if path.is_file():
            return path.read_text(encoding="utf-8")
        try:
            text, _ = await self._offload.read(self.store.plan_text, plan.id, plan.version)
        except NotFound:
            return ""
        return text

    async def task_plan_text(self, task: TaskRecord) -> tuple[str, bool]:
        """The snapshot of the plan a task runs, and whether that plan is a catalog file."""
        text, source = await self._offload.read(
            self.store.plan_text, task.plan_id, task.plan_version
        )
        return text, Path(source).is_file()

    def validate_plan(self, text: str, source: str) -> Plan:
        return load_plan(text, source=source or "<plan>", known_agents=self.known_agents)
