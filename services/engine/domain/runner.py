"""Runs one claimed task through its plan: starts ready nodes, asks governance after each node
and at budget checkpoints, checkpoints nodes, and moves the task's state through the
StateManager. Every step is one fenced transaction (checkpoints, usage, outbox events, maybe a
transition) followed by one send to trace_store, so a node's events are durable before any
node that depends on it starts, and a resumed task never re-runs a completed node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentledger.core.clock import Clock
from agentledger.core.offload import Offloader
from agentledger.security.redaction import DEFAULT_POLICY, RedactionPolicy
from services.engine.domain.advice import Advisor
from services.engine.domain.agents.base import Agent, RateLimits, RemainingBudget, Usage
from services.engine.domain.decisions import BudgetState, Checkpoint, NodeOutcome
from services.engine.domain.feed import RunFeed
from services.engine.domain.governance import GovernanceEngine
from services.engine.domain.inputs import sensitive_fields
from services.engine.domain.model import (
    SEVERITY_NOTICE,
    SEVERITY_WARNING,
    Fence,
    LeaseLost,
    NodeRecord,
    OutboxEvent,
    TaskRecord,
)
from services.engine.domain.node_exec import EventBuffer, NodeRun, execute_node, input_digest
from services.engine.domain.plan import Plan, PlanNode
from services.engine.domain.protect import InputSealer, RunRedactor
from services.engine.domain.queue import Claim
from services.engine.domain.relay import Relay
from services.engine.domain.run_advice import RunAdvice
from services.engine.domain.run_events import DecisionLog, Events, node_record
from services.engine.domain.state_manager import StateManager
from services.engine.domain.states import State
from services.engine.domain.store import Control, EngineStore, dumps
from services.engine.domain.summary import summary_of
from services.engine.domain.system_trace import SystemTraceWriter

log = logging.getLogger("agentledger.engine.runner")
LEFTOVERS_AT_ONCE = 500  # outbox rows a run takes over in one go; more are drained first


class PlanSource(Protocol):
    async def get(self, plan_id: str, version: int) -> Plan: ...


class AgentSource(Protocol):
    def get(self, kind: str) -> Agent: ...


@dataclass
class RunnerDeps:
    store: EngineStore
    states: StateManager
    plans: PlanSource
    agents: AgentSource
    governance: GovernanceEngine
    relay: Relay
    offload: Offloader
    clock: Clock
    limits: RateLimits
    tasks_dir: Path
    system_trace: SystemTraceWriter
    sealer: InputSealer
    redaction: RedactionPolicy = DEFAULT_POLICY
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    advisor: Advisor | None = None
    summary_every_s: float = 1.0
    relay_close_s: float = 30.0  # how long a run's end waits for trace_store to take its trace


@dataclass
class Stop:
    kind: str  # cancel | pause | wait_input | fail
    actor: str
    reason: str
    failure_type: str = ""
    pending: Mapping[str, Any] = field(default_factory=dict)
    source: str = "governance"  # or "user": a control request


class TaskRun:
    """One worker's run of one task, from its claim until it ends, pauses or is lost."""

    def __init__(self, deps: RunnerDeps, claim: Claim) -> None:
        self.d = deps
        self.task_id = claim.task_id
        self.fence: Fence = claim.fence
        self._wake = asyncio.Event()
        self._control = Control("", "", "")
        self.lost = False
        self._running: dict[str, asyncio.Task[NodeOutcome]] = {}
        self._buffer = EventBuffer(deps.clock)
        self._ev = Events(deps.clock)
        self._decision_log = DecisionLog()
        self._last_summary_ns = 0
        self._advice: RunAdvice | None = None
        self._feed: RunFeed | None = None

    # Called by the worker pool's heartbeat.
    def on_control(self, control: Control) -> None:
        if control != self._control:
            self._control = control
            self._wake.set()

    def on_lease_lost(self) -> None:
        self.lost = True
        self._wake.set()
        for t in self._running.values():
            t.cancel()

    async def run(self) -> None:
        try:
            await self._run()
        except LeaseLost as exc:
            log.warning("stopped running %s: %s", self.task_id, exc)
        finally:
            if self._feed is not None and not self._feed.done:
                await self._feed.aborted()
            if self._advice is not None:
                self._advice.cancel()
            for t in self._running.values():
                t.cancel()
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self) -> None:
        d = self.d
        task, records, leftovers = await d.offload.read(self._load)
        plan = await d.plans.get(task.plan_id, task.plan_version)
        self.task, self.plan = task, plan
        self.records = records
        self.completed = {k: r for k, r in records.items() if r.status == "completed"}
        # Indexes kept as nodes finish, so a step costs what changed, not the plan's size.
        self._nodes = {n.id: n for n in plan.nodes}
        self._order = {n.id: i for i, n in enumerate(plan.nodes)}
        self._dependents: dict[str, list[str]] = {n.id: [] for n in plan.nodes}
        for n in plan.nodes:
            for dep in n.depends_on:
                self._dependents[dep].append(n.id)
        self._claims = {k: r.claims for k, r in self.completed.items()}
        self._ready = {
            n.id
            for n in plan.nodes
            if n.id not in self.completed and all(d in self.completed for d in n.depends_on)
        }
        self.usage, self.degrades, self.pauses = task.usage, task.degrade_count, task.pause_count
        self.started_ns = d.clock.now_ns()
        # Sealed (sensitive) inputs are opened for the agents only, in memory; whatever the
        # agents hand back is redacted, their echoes of those values included.
        self.inputs: dict[str, Any] = d.sealer.unseal(task.inputs)
        self._redactor = RunRedactor.for_inputs(self.inputs, sensitive_fields(plan), d.redaction)
        self.retry_at: dict[str, int] = {}
        self.variants = {k: r.variant for k, r in records.items()}
        self.attempts = {k: r.attempt for k, r in records.items() if r.status != "completed"}
        self.tried = {k: list(r.tried_variants) for k, r in records.items()}
        self.on_control(Control(task.control, task.control_actor, task.control_reason))
        # The task's working folder, shared by its nodes: made once per run, not per node.
        await asyncio.to_thread(
            (d.tasks_dir / self.task_id / "work").mkdir, parents=True, exist_ok=True
        )
        if d.advisor is not None:
            self._advice = RunAdvice(d.advisor, self._ev, task, plan)
            self._advice.start(list(self.completed))
        self._feed = RunFeed(d.relay, self.task_id, self._decision_log.note)
        # What earlier holders and user-side changes left unsent, with the claim's own event,
        # go first, with the RUNNING summary (the feed merges it with the next, if it can).
        if len(leftovers) > LEFTOVERS_AT_ONCE:
            await d.relay.drain(self.task_id)
            leftovers = []
        first, last = (leftovers[0][0], leftovers[-1][0]) if leftovers else (0, 0)
        self._feed.push([e for _, e in leftovers], first, last, self._summary(State.RUNNING))
        self._last_summary_ns = d.clock.now_ns()
        outcomes: list[tuple[PlanNode, NodeOutcome]] = []
        stop: Stop | None = None
        while True:
            if self.lost:
                return
            recovery = (
                await self._advice.recovery(outcomes, self.completed, self.inputs, self.tried)
                if self._advice is not None
                else {}
            )
            events, writes, usage, degrades, stop = self._absorb(outcomes, stop, recovery)
            if self._advice is not None:
                events[:0] = self._advice.ready()
            stop = self._apply_control(stop, events)
            launch: list[NodeRun] = []
            if stop is None:
                launch, degrades_now, stop = self._starts(events, usage)
                degrades += degrades_now
            if stop is not None and stop.kind in ("cancel", "fail") and self._running:
                await self._cancel_running(events)
            target = self._target(stop, launch)
            if target is not None and self._advice is not None:
                seconds = self._budget_state().seconds_used
                events += await self._advice.finish(target, self.usage.tokens, seconds)
            events += self._buffer.take()
            trace_events = events
            if target is not None:
                trace_events = [*events, *await self._prepare_end(target, stop)]
            rec, transition_event = await d.offload.write(
                self._write,
                trace_events,
                writes,
                usage,
                degrades,
                target,
                stop,
                self._feed.confirmed(),
            )
            if transition_event is not None:
                trace_events = [*trace_events, transition_event]
            self.on_control(rec.control)
            # Durable now (the outbox); trace_store gets them in order, off this path.
            self._feed.push(trace_events, rec.first, rec.last, self._maybe_summary(target))
            if target is not None:
                confirmed = await self._feed.close(d.relay_close_s)
                await d.offload.write(self._forget, confirmed)
                return
            for nr in launch:
                self._launch(nr)
            outcomes = await self._wait()

    # ------------------------------------------------------------------ steps

    def _load(
        self,
    ) -> tuple[TaskRecord, dict[str, NodeRecord], list[tuple[int, OutboxEvent]]]:
        store = self.d.store
        with store.read() as tx:
            return (
                store.load_task(tx, self.task_id),
                store.load_nodes(tx, self.task_id),
                store.load_pending(tx, self.task_id, LEFTOVERS_AT_ONCE + 1),
            )

    def _absorb(
        self,
        outcomes: list[tuple[PlanNode, NodeOutcome]],
        stop: Stop | None,
        recovery: Mapping[str, Mapping[str, Any]],
    ) -> tuple[list[OutboxEvent], list[NodeRecord], Usage, int, Stop | None]:
        """Governance on each finished node; the checkpoints and events that follow."""
        events: list[OutboxEvent] = []
        writes: list[NodeRecord] = []
        usage, degrades = Usage(), 0
        for node, out in outcomes:
            usage += out.usage
            self.usage += out.usage
            cp = Checkpoint(
                "after_node",
                self._budget_state(),
                self.plan.governance,
                self.task.mode,
                node=node,
                outcome=out,
                claims_by_node=self._claims,
                tried_variants=tuple(self.tried.get(node.id, ())),
                proposals=self._proposals(recovery.get(node.id)),
            )
            decision = self.d.governance.evaluate(cp)
            events.append(self._ev.outcome(node, out))
            if node.id in recovery:
                events.append(
                    self._ev.event(
                        "optimizer.recovery", dict(recovery[node.id]), "optimizer", node=node
                    )
                )
            events.append(self._ev.decision(node, decision))
            if decision.conflict is not None:
                events.append(
                    self._ev.event(
                        "governance.conflict",
                        decision.as_payload()["conflict"],
                        node=node,
                        severity=SEVERITY_WARNING,
                    )
                )
            rec = node_record(
                node,
                out,
                decision,
                tried=self.tried.get(node.id, ()),
                epoch=self.fence.epoch,
                now_ns=self.d.clock.now_ns(),
            )
            writes.append(rec)
            self.records[node.id] = rec
            action = decision.action
            if action == "continue" and out.status == "completed":
                self.completed[node.id] = rec
                self._claims[node.id] = rec.claims
                self.attempts.pop(node.id, None)
                for child in self._dependents[node.id]:
                    if all(d in self.completed for d in self._nodes[child].depends_on):
                        self._ready.add(child)
            elif action == "retry":
                self.retry_at[node.id] = self.d.clock.now_ns() + int(decision.retry_delay_s * 1e9)
                self._ready.add(node.id)
            elif action == "degrade":
                self.variants[node.id] = decision.variant
                self.tried.setdefault(node.id, []).append(out.variant)
                self.attempts[node.id] = 0
                self._ready.add(node.id)
                degrades += 1
            elif action == "pause":
                if stop is not None:
                    # One question at a time: this node asks again when the task resumes.
                    continue
                pending = {
                    "node_id": node.id,
                    "question": decision.question or decision.reason,
                    # A human node names its fields; a data failure may name the inputs.
                    "fields": list(
                        out.output.get("fields")
                        or (out.failure.signals.get("fields", []) if out.failure else [])
                    ),
                    "rule": decision.rule,
                    "evidence": dict(decision.conditions_evidence),
                }
                stop = Stop("wait_input", "governance", decision.reason, pending=pending)
            elif stop is None or stop.kind != "fail":
                # fail, or continue on a node that did not complete: the task cannot go on.
                failure_type = decision.failure_type or (
                    out.failure.kind if out.failure else "execution_issue"
                )
                stop = Stop("fail", "governance", decision.reason, failure_type=failure_type)
        self.degrades += degrades
        return events, writes, usage, degrades, stop

    def _proposals(self, recovery: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._advice.proposals(recovery) if self._advice is not None else {}

    def _apply_control(self, stop: Stop | None, events: list[OutboxEvent]) -> Stop | None:
        """A user's pause or cancel request becomes the run's stop; cancel overrides a pause
        in progress, and a resume that withdrew a pending pause lets the run go on."""
        c = self._control
        if c.action == "cancel" and (stop is None or stop.kind in ("pause", "wait_input")):
            events.append(self._ev.event("task.control_applied", {"action": "cancel"}, c.actor))
            return Stop("cancel", c.actor, c.reason or "cancel requested", source="user")
        if c.action == "pause" and stop is None:
            events.append(self._ev.event("task.control_applied", {"action": "pause"}, c.actor))
            return Stop("pause", c.actor, c.reason or "pause requested", source="user")
        if not c.action and stop is not None and stop.kind == "pause" and stop.source == "user":
            events.append(self._ev.event("task.control_withdrawn", {"action": "pause"}, c.actor))
            return None
        return stop

    def _starts(
        self, events: list[OutboxEvent], usage: Usage
    ) -> tuple[list[NodeRun], int, Stop | None]:
        """Nodes whose dependencies completed, each past a budget checkpoint."""
        now = self.d.clock.now_ns()
        launch: list[NodeRun] = []
        degrades = 0
        for node_id in sorted(self._ready, key=self._order.__getitem__):
            node = self._nodes[node_id]
            if self.retry_at.get(node_id, 0) > now:
                continue
            cp = Checkpoint(
                "budget",
                self._budget_state(),
                self.plan.governance,
                self.task.mode,
                node=node,
                tried_variants=tuple(self.tried.get(node.id, ())),
                proposals=self._proposals(None),
            )
            decision = self.d.governance.evaluate(cp)
            if decision.action != "continue":
                # Only checkpoints that change something are worth an event.
                events.append(self._ev.decision(node, decision, "budget"))
            if decision.action == "fail":
                return (
                    launch,
                    degrades,
                    Stop("fail", "governance", decision.reason, failure_type=decision.failure_type),
                )
            if decision.action == "pause":
                return launch, degrades, Stop("pause", "governance", decision.reason)
            if decision.action == "degrade" and decision.variant:
                self.tried.setdefault(node.id, []).append(self.variants.get(node.id, "primary"))
                self.variants[node.id] = decision.variant
                self.attempts[node.id] = 0
                degrades += 1
            attempt = self.attempts.get(node.id, 0) + 1
            self.attempts[node.id] = attempt
            variant = node.variant(self.variants.get(node.id, "primary"))
            upstream = {dep: self.completed[dep].output for dep in node.depends_on}
            budget = self._budget_state()
            remaining_s = (
                None if budget.seconds_limit is None else budget.seconds_limit - budget.seconds_used
            )
            timeout = node.timeout_s if remaining_s is None else min(node.timeout_s, remaining_s)
            nr = NodeRun(
                task_id=self.task_id,
                node=node,
                variant=variant,
                attempt=attempt,
                inputs=self.inputs,
                upstream=upstream,
                budget=RemainingBudget(
                    None
                    if budget.tokens_limit is None
                    else budget.tokens_limit - budget.tokens_used,
                    None if budget.usd_limit is None else budget.usd_limit - budget.usd_used,
                    remaining_s,
                ),
                work_dir=self.d.tasks_dir / self.task_id / "work",
                artifacts_dir=self.d.tasks_dir / self.task_id / "artifacts",
                human_input=self.task.human_input.get(node.id),
                timeout_s=max(timeout, 0.001),
            )
            digest = input_digest({"inputs": self.inputs, "up": upstream})
            if self._advice is not None:
                self._advice.digests[node.id] = digest
            events.append(
                self._ev.event(
                    "node.started",
                    {
                        "attempt": attempt,
                        "variant": variant.name,
                        "agent": variant.agent,
                        "input_digest": digest,
                    },
                    node=node,
                )
            )
            launch.append(nr)
            self._ready.discard(node_id)
        return launch, degrades, None

    def _target(self, stop: Stop | None, launch: list[NodeRun]) -> State | None:
        if stop is None:
            if self._running or launch:
                return None
            if len(self.completed) == len(self.plan.nodes):
                return State.COMPLETED
            if self.retry_at:
                return None  # a retry waits for its backoff
            return None
        if stop.kind == "cancel":
            return State.CANCELLED
        if self._running:
            return None  # let nodes in flight finish and checkpoint first
        return {"fail": State.FAILED, "pause": State.PAUSED, "wait_input": State.WAITING_INPUT}[
            stop.kind
        ]

    async def _prepare_end(self, target: State, stop: Stop | None) -> list[OutboxEvent]:
        """The system trace of the run as it ends, stored before the final transition."""
        blob_id = await self.d.system_trace.write(
            task=self.task,
            plan=self.plan,
            records=self.records,
            final_state=target,
            reason=stop.reason if stop else "every node completed",
            usage=self.usage,
            now_ns=self.d.clock.now_ns(),
        )
        return [
            self._ev.event(
                "task.system_trace_written",
                {"blob_id": blob_id, "schema": self.d.system_trace.schema_id},
                blob_ids=(blob_id,),
            )
        ]

    def _end_columns(self, target: State, stop: Stop | None) -> dict[str, Any]:
        now = self.d.clock.now_ns()
        cols: dict[str, Any] = {
            "lease_owner": "",
            "lease_expires_ns": 0,
            "control": "",
            "control_actor": "",
            "control_reason": "",
            "run_seconds": self.task.run_seconds + (now - self.started_ns) / 1e9,
        }
        if target in (State.COMPLETED, State.FAILED, State.CANCELLED):
            cols["ended_ns"] = now
        if target is State.COMPLETED:
            sinks = {n.id for n in self.plan.nodes} - {
                dep for n in self.plan.nodes for dep in n.depends_on
            }
            cols["result_json"] = dumps(
                {k: dict(self.completed[k].output) for k in sorted(sinks) if k in self.completed}
            )
        if target is State.FAILED and stop is not None:
            cols["failure_type"] = stop.failure_type or "execution_issue"
            cols["failure_message"] = stop.reason
        if target in (State.PAUSED, State.WAITING_INPUT):
            cols["pause_count"] = self.pauses + 1
        if target is State.WAITING_INPUT and stop is not None:
            cols["pending_json"] = dumps(dict(stop.pending))
        return cols

    def _write(
        self,
        events: list[OutboxEvent],
        writes: list[NodeRecord],
        usage: Usage,
        degrades: int,
        target: State | None,
        stop: Stop | None,
        relayed: list[tuple[int, int]],
    ) -> tuple[Any, OutboxEvent | None]:
        d, now = self.d, self.d.clock.now_ns()
        with d.store.write() as tx:
            for first, last in relayed:
                d.store.forget_relayed(tx, self.task_id, first, last)
            d.store.save_nodes(tx, self.task_id, writes)
            advice = self._advice
            if advice is not None and advice.forecast_dirty:
                d.store.save_forecast(tx, self.task_id, advice.forecast)
                advice.forecast_dirty = False
            transition_event = None
            fence: Fence | None = self.fence
            if target is not None:
                actor = stop.actor if stop else "engine"
                reason = stop.reason if stop else f"all {len(self.plan.nodes)} nodes completed"
                _, transition_event = d.states.transition(
                    tx,
                    self.task_id,
                    State.RUNNING,
                    target,
                    actor=actor,
                    reason=reason,
                    now_ns=now,
                    fence=self.fence,
                    set_columns=self._end_columns(target, stop),
                    payload={"failure_type": stop.failure_type}
                    if stop and stop.failure_type
                    else None,
                )
                fence = None  # the transition checked the fence and released the lease
            all_events = events if transition_event is None else [*events, transition_event]
            rec = d.store.record(
                tx, self.task_id, fence, all_events, now, usage=usage, degrades=degrades
            )
        return rec, transition_event

    def _forget(self, relayed: list[tuple[int, int]]) -> None:
        if relayed:
            with self.d.store.write() as tx:
                for first, last in relayed:
                    self.d.store.forget_relayed(tx, self.task_id, first, last)

    def _launch(self, nr: NodeRun) -> None:
        agent: Agent | None = None
        error: Exception | None = None
        try:
            agent = self.d.agents.get(nr.variant.agent)
        except Exception as exc:  # an unknown kind becomes a classified spec failure
            error = exc
        self._running[nr.node.id] = asyncio.create_task(
            execute_node(
                nr,
                agent,
                error,
                sink=self.d.relay.sink,
                limits=self.d.limits,
                buffer=self._buffer,
                clock=self.d.clock,
                redactor=self._redactor,
            ),
            name=f"{self.task_id}/{nr.node.id}",
        )

    async def _wait(self) -> list[tuple[PlanNode, NodeOutcome]]:
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            if self._running:
                await asyncio.wait(
                    [*self._running.values(), waiter], return_when=asyncio.FIRST_COMPLETED
                )
            elif self.retry_at:
                delay = (min(self.retry_at.values()) - self.d.clock.now_ns()) / 1e9
                sleeper = asyncio.ensure_future(self.d.sleep(max(delay, 0.0)))
                await asyncio.wait([sleeper, waiter], return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
            elif len(self.completed) < len(self.plan.nodes) and not self._control.action:
                # Nothing runs and nothing can start: say so rather than hang.
                raise RuntimeError(f"task {self.task_id}: no node can start")
        finally:
            waiter.cancel()
            self._wake.clear()
        now = self.d.clock.now_ns()
        self.retry_at = {k: v for k, v in self.retry_at.items() if v > now}
        done: list[tuple[PlanNode, NodeOutcome]] = []
        for node_id, t in list(self._running.items()):
            if t.done():
                del self._running[node_id]
                if not t.cancelled():
                    done.append((self._nodes[node_id], t.result()))
        return done

    async def _cancel_running(self, events: list[OutboxEvent]) -> None:
        tasks = dict(self._running)
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        self._running.clear()
        for node_id in sorted(tasks):
            events.append(
                self._ev.event(
                    "node.cancelled", {}, node=self._nodes[node_id], severity=SEVERITY_NOTICE
                )
            )

    # ------------------------------------------------------------------ helpers

    def _budget_state(self) -> BudgetState:
        b = self.task.budget
        elapsed = (self.d.clock.now_ns() - self.started_ns) / 1e9
        return BudgetState(
            tokens_used=self.usage.tokens,
            usd_used=self.usage.usd,
            seconds_used=self.task.run_seconds + elapsed,
            tokens_limit=b.tokens,
            usd_limit=b.usd,
            seconds_limit=b.seconds,
        )

    def _summary(self, state: State) -> Any:
        running = sorted(self._running)
        return summary_of(
            self.task,
            state=state,
            now_ns=self.d.clock.now_ns(),
            usage=self.usage,
            current_node=",".join(running)[:200],
            decisions=self._decision_log.points,
            degrade_count=self.degrades,
            pause_count=self.pauses + (1 if state in (State.PAUSED, State.WAITING_INPUT) else 0),
            failure_type=None,
            extra={"nodes_completed": len(self.completed), "nodes_total": len(self.plan.nodes)},
            forecast=self._advice.forecast if self._advice is not None else None,
        )

    def _maybe_summary(self, target: State | None) -> Any:
        now = self.d.clock.now_ns()
        if target is None and now - self._last_summary_ns < self.d.summary_every_s * 1e9:
            return None
        self._last_summary_ns = now
        return self._summary(target or State.RUNNING)
