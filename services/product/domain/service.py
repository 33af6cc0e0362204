"""The product service's use cases over a finished (or running) task (SPEC 3.1, 3.2, 3.4, 3.5):
its goal status, recorded in its trace once it has ended; the narrative; a comparison of two
runs; the export. Templates, metering and quotas are `accounts.Accounts`.

Everything is read from the engine (the task, the plan it ran) and trace_store (summary, events,
blobs) through `ports`; the CPU-bound parts (a 10,000-event trace is ~100 ms of Python) run in
a worker thread so that one big task does not stall every other request.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from agentledger.core.clock import Clock
from agentledger.security.redaction import DEFAULT_POLICY, RedactionPolicy
from services.engine.domain.plan import Plan
from services.engine.domain.plan_loader import load_plan
from services.product.domain.compare import Comparison, compare, to_json
from services.product.domain.compare_markdown import to_markdown as comparison_markdown
from services.product.domain.evidence import RunTrace, is_map
from services.product.domain.export import ArtifactRef, ExportSources, export_zip
from services.product.domain.export_readme import user_readme
from services.product.domain.goals import GoalReport, evaluate
from services.product.domain.narrative import clip, explain
from services.product.domain.ports import Tasks, Traces
from services.product.domain.records import ENDED
from services.product.domain.rephrase import Rephraser, rephrase
from services.product.domain.runview import RunView
from services.product.domain.sentences import Checked, to_markdown

GOAL_EVENT = "goal.evaluated"
_ARTIFACT_TYPES = ("node.artifact_written", "task.system_trace_written")
_SYSTEM_TRACE_MAX = 32 << 20  # a system trace bigger than this is left out of the export
# What a goal.evaluated event keeps (at most ~70 KB, well under trace_store's event cap).
_RECORD_SUBGOALS, _RECORD_MISSING, _RECORD_ACTIONS, _RECORD_SEQS = 40, 3, 20, 20


@dataclass(frozen=True, slots=True)
class InsightConfig:
    export_max_bytes: int = 1 << 30
    # Above this many events an export's README leaves out the narrative (Explain has it):
    # the narrative reads the whole trace into memory, the export streams it.
    narrative_max_events: int = 50_000
    plan_cache_size: int = 64
    settled_cache_size: int = 256  # ended tasks whose goal report and narrative are kept


@dataclass(frozen=True, slots=True)
class GoalOutcome:
    task_id: str
    report: GoalReport
    last_seq: int
    final: bool  # the task has ended: this is the report recorded in its trace
    recorded_seq: int  # the goal.evaluated event (0 while the task runs)


@dataclass(frozen=True, slots=True)
class Explanation:
    goal: GoalOutcome
    checked: Checked
    markdown: str
    written_by: str


@dataclass(frozen=True, slots=True)
class ComparisonOutcome:
    comparison: Comparison
    document: dict[str, Any]
    markdown: str


@dataclass(frozen=True, slots=True)
class ExportStream:
    filename: str
    max_bytes: int
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A task's trace read whole, and the plan it ran."""

    summary: Mapping[str, Any]
    trace: RunTrace
    plan: Plan
    ended: bool  # by the summary: the engine has written its final state


@dataclass(frozen=True, slots=True)
class Settled:
    """An ended task's goal report and narrative, computed once: its trace no longer changes
    unless it runs again, and then it ends at another time (another cache key)."""

    report: GoalReport
    checked: Checked
    last_seq: int
    end_seq: int


class PlanCache:
    """Parsed plans by id, version and digest of their text: parsing a 2,000-node plan costs
    about a second, and every goal report and narrative of its tasks needs it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str], Plan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str, source: str) -> Plan:
        """Called from worker threads: the dict is touched under a lock, a parse outside it
        (two threads may parse the same plan once each; both get an equal plan)."""
        key = (source, hashlib.sha256(text.encode()).hexdigest())
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = load_plan(text, source=source, known_agents=None)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)
        return plan


class Insights:
    def __init__(
        self,
        tasks: Tasks,
        traces: Traces,
        clock: Clock,
        config: InsightConfig | None = None,
        *,
        policy: RedactionPolicy = DEFAULT_POLICY,
    ) -> None:
        self.tasks = tasks
        self.traces = traces
        self.clock = clock
        self.config = config or InsightConfig()
        self.policy = policy
        self.plans = PlanCache(self.config.plan_cache_size)
        self._settled: OrderedDict[tuple[str, int], Settled] = OrderedDict()

    # ------------------------------------------------------------------ reading a task

    async def events(self, task_id: str, upto: int = 0) -> list[Mapping[str, Any]]:
        """Every event (`upto`: those up to that seq, the summary's last one)."""
        return [e async for page in self.traces.pages(task_id, upto=upto) for e in page]

    async def load(self, task_id: str, summary: Mapping[str, Any] | None = None) -> Loaded:
        """The summary first: it names the last seq, so the events come in one stream."""
        if summary is None:
            summary = await self.traces.summary(task_id)
        upto = _last_seq(summary)
        events, view = await asyncio.gather(self.events(task_id, upto), self.tasks.get(task_id))
        source = f"{view.task.get('plan_id')}@{view.task.get('plan_version')} (task {task_id})"

        def build() -> tuple[RunTrace, Plan]:
            return RunTrace.from_trace(summary, events), self.plans.get(view.plan_text, source)

        trace, plan = await asyncio.to_thread(build)
        return Loaded(summary, trace, plan, str(summary.get("state")) in ENDED)

    # ------------------------------------------------------------------ 3.1 goal status

    async def goal_status(self, task_id: str) -> GoalOutcome:
        """The goal status now; once the task has ended, also recorded in its trace (an event
        and the summary), idempotently: every replica that records it records the same."""
        outcome, _ = await self._assess(task_id, narrate=False)
        return outcome

    async def _assess(self, task_id: str, *, narrate: bool) -> tuple[GoalOutcome, Checked | None]:
        """The goal report (and with `narrate` the narrative) of the task as its trace is now;
        an ended task's come from the cache after the first time."""
        summary = await self.traces.summary(task_id)
        key = _settled_key(task_id, summary)
        settled = self._settled.get(key) if key else None
        if key and settled is not None:
            self._settled.move_to_end(key)
            recorded = _recorded(summary, settled.end_seq) or await self.record(
                task_id, settled.report, settled.end_seq, settled.last_seq
            )
            outcome = GoalOutcome(task_id, settled.report, settled.last_seq, True, recorded)
            return outcome, settled.checked
        return await self.settle(task_id, await self.load(task_id, summary), narrate=narrate)

    async def settle(
        self, task_id: str, loaded: Loaded, *, narrate: bool = True
    ) -> tuple[GoalOutcome, Checked | None]:
        """Evaluates a loaded trace; an ended task's report is recorded (once) and kept with
        its narrative, so that asking again costs a summary read."""
        key = _settled_key(task_id, loaded.summary)
        view = loaded.trace.view
        ended = key is not None and view.end_seq > 0

        def build() -> tuple[GoalReport, Checked | None]:
            report = evaluate(loaded.plan, loaded.trace)
            return report, explain(loaded.trace, report) if narrate or ended else None

        report, checked = await asyncio.to_thread(build)
        recorded = 0
        if key is not None and ended and checked is not None:
            self._settled[key] = Settled(report, checked, view.last_seq, view.end_seq)
            while len(self._settled) > self.config.settled_cache_size:
                self._settled.popitem(last=False)
            recorded = _recorded(loaded.summary, view.end_seq) or await self.record(
                task_id, report, view.end_seq, view.last_seq
            )
        return GoalOutcome(task_id, report, view.last_seq, loaded.ended, recorded), checked

    async def record(self, task_id: str, report: GoalReport, end_seq: int, last_seq: int) -> int:
        payload = goal_record(report, end_seq=end_seq, last_seq=last_seq)
        return await self.traces.record_goal(
            task_id,
            event_id=f"goal-{end_seq}",  # one per ending: a retried task ends again
            payload=payload,
            goal_status=report.status.value,
        )

    # ------------------------------------------------------------------ 3.2 narrative

    async def explain(self, task_id: str, *, rephraser: Rephraser | None = None) -> Explanation:
        """The checked narrative; with a rephraser, its rewording of each sentence that keeps
        the sentence's figures (the checker decides), the rule-based text for the others."""
        goal, told = await self._assess(task_id, narrate=True)
        assert told is not None
        checked, written_by = told, "rules"
        if rephraser is not None:
            trace = (await self.load(task_id)).trace  # the checker needs the cited events
            checked, written_by = await rephrase(rephraser, checked, trace)
        return Explanation(goal, checked, to_markdown(checked.sentences), written_by)

    # ------------------------------------------------------------------ 3.4 compare

    async def compare(self, task_a: str, task_b: str) -> ComparisonOutcome:
        async def view(task_id: str) -> RunView:
            summary = await self.traces.summary(task_id)
            events = await self.events(task_id, _last_seq(summary))
            return await asyncio.to_thread(RunView.from_trace, summary, events)

        if task_a == task_b:
            a = b = await view(task_a)
        else:
            a, b = await asyncio.gather(view(task_a), view(task_b))

        def build() -> ComparisonOutcome:
            c = compare(a, b)
            return ComparisonOutcome(c, to_json(c), comparison_markdown(c))

        return await asyncio.to_thread(build)

    # ------------------------------------------------------------------ 3.5 export

    async def export(self, task_id: str) -> ExportStream:
        """The export, checked against the cap before the first byte where the sizes already
        tell (ExportTooLarge); the user README carries the goal status and the narrative."""
        summary = await self.traces.summary(task_id)
        refs: list[ArtifactRef] = []
        system_blob = ""
        async for page in self.traces.pages(task_id, types=_ARTIFACT_TYPES):
            for e in page:
                p = e.get("payload")
                if not is_map(p):
                    continue
                if e.get("type") == "task.system_trace_written":
                    system_blob = str(p.get("blob_id") or "")
                elif p.get("sha256"):
                    refs.append(
                        ArtifactRef(
                            str(e.get("node_id") or ""),
                            str(p.get("name") or p.get("sha256")),
                            str(p["sha256"]),
                            int(p.get("size") or 0),
                            str(p.get("content_type") or "application/octet-stream"),
                        )
                    )
        system_trace = await self._system_trace(task_id, system_blob) if system_blob else None
        readme = await self._user_readme(task_id, summary)
        sources = ExportSources(
            task_id=task_id,
            summary=summary,
            system_trace=system_trace,
            events=lambda: self.traces.raw_pages(task_id, upto=_last_seq(summary)),
            artifacts=refs,
            read_blob=lambda blob_id: self.traces.blob(task_id, blob_id),
            user_readme=readme,
        )
        chunks = export_zip(
            sources, max_bytes=self.config.export_max_bytes, policy=self.policy, clock=self.clock
        )
        return ExportStream(f"{task_id}.zip", self.config.export_max_bytes, chunks)

    async def _system_trace(self, task_id: str, blob_id: str) -> Mapping[str, Any] | None:
        data = bytearray()
        async for chunk in self.traces.blob(task_id, blob_id):
            data += chunk
            if len(data) > _SYSTEM_TRACE_MAX:
                return {"omitted": f"the system trace is over {_SYSTEM_TRACE_MAX} bytes"}
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {"omitted": "the system trace blob is not JSON"}
        return doc if is_map(doc) else {"omitted": "the system trace is not a JSON object"}

    async def _user_readme(self, task_id: str, summary: Mapping[str, Any]) -> str:
        events = int(summary.get("last_seq") or 0)
        if events > self.config.narrative_max_events:
            note = (
                f"\nThe task has {events:,} events, over the "
                f"{self.config.narrative_max_events:,} an export narrates; "
                "ask for its explanation (`agentledger explain`) instead.\n"
            )
            return user_readme(summary) + note
        explained = await self.explain(task_id)
        report = explained.goal.report
        shown = dict(summary) | {
            "goal_status": report.status.value,
            "next_actions": [_action_line(a.kind, a.field, a.why) for a in report.next_actions],
        }
        return (
            user_readme(shown)
            + "\n## The story of the run\n\n"
            + "Each sentence names the events (seq in events.jsonl) it rests on.\n\n"
            + explained.markdown
        )


def _last_seq(summary: Mapping[str, Any]) -> int:
    seq = summary.get("last_seq")
    return seq if type(seq) is int and seq > 0 else 0


def _settled_key(task_id: str, summary: Mapping[str, Any]) -> tuple[str, int] | None:
    """The cache key of an ended task: a retried task that ends again ends at another time."""
    ended_ns = summary.get("ended_unix_nano")
    if str(summary.get("state")) in ENDED and type(ended_ns) is int and ended_ns > 0:
        return task_id, ended_ns
    return None


def _recorded(summary: Mapping[str, Any], end_seq: int) -> int:
    """The seq of the goal.evaluated event of this ending, if the summary already shows it."""
    extra = summary.get("extra")
    brief = extra.get("goal") if is_map(extra) else None
    if summary.get("goal_status") and is_map(brief) and brief.get("end_seq") == end_seq:
        seq = brief.get("seq")
        return seq if type(seq) is int else 0
    return 0


def goal_record(report: GoalReport, *, end_seq: int, last_seq: int) -> dict[str, Any]:
    """The goal report as the `goal.evaluated` event keeps it: bounded (a 2,000-node plan's
    full report is over half a megabyte), with each item's evidence as event seqs. The whole
    report, with every requirement and its evidence, is `GetGoalStatus`'s answer."""

    def seqs(evidence: Any) -> list[int]:
        return sorted({e.seq for e in evidence})[:_RECORD_SEQS]

    return {
        "goal_status": report.status.value,
        "task_state": report.task_state,
        "end_seq": end_seq,
        "evaluated_at_seq": last_seq,
        "subgoal_count": len(report.breakdown),
        "subgoals": [
            {
                "subgoal": s.subgoal,
                "status": s.status.value,
                "requirements": len(s.requirements),
                "passed": sum(r.passed for r in s.requirements),
                "missing": [
                    {"what": clip(r.what), "observed": clip(r.observed), "seqs": seqs(r.evidence)}
                    for r in s.missing[:_RECORD_MISSING]
                ],
            }
            for s in report.breakdown[:_RECORD_SUBGOALS]
        ],
        "missing_count": len(report.missing_requirements),
        "next_actions": [
            {"kind": a.kind, "field": a.field, "why": clip(a.why), "seqs": seqs(a.evidence)}
            for a in report.next_actions[:_RECORD_ACTIONS]
        ],
        "next_action_count": len(report.next_actions),
    }


def _action_line(kind: str, field: str, why: str) -> str:
    return f"{kind}{f' ({field})' if field else ''}: {why}"
