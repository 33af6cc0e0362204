"""SPEC 3.1 goal satisfaction: hand-built traces in the engine's event conventions, and the
data-cleanup example run for real through an in-process engine (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.core.errors import InvalidArgument
from gateway.convert import event_json, to_dict
from services.engine.domain.plan import Plan
from services.engine.domain.plan_loader import load_plan
from services.product.domain.evidence import RunTrace
from services.product.domain.goals import GoalReport, GoalStatus, evaluate
from services.product.domain.narrative import explain
from services.product.domain.sentences import to_markdown
from tests.conftest import Database, Store
from tests.engine.harness import TERMINAL, EngineUnderTest, start_engine

CONTINUE = ("DefaultContinue", "continue")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plan_of(text: str) -> Plan:
    return load_plan(textwrap.dedent(text), source="<test>", known_agents=None)


class Trace:
    """A task's events as the gateway hands them out, written the way the engine writes them."""

    def __init__(self, plan: str = "p", *, budget: dict[str, Any] | None = None, nodes: int = 3):
        self.task_id, self.plan = "t1", plan
        self.events: list[dict[str, Any]] = []
        self.state, self.failure_type = "RUNNING", ""
        self.add(
            "task.created",
            goal="tidy the orders",
            mode="balanced",
            plan={"id": plan, "version": 1},
            budget=budget or {"tokens": None, "usd": None, "seconds": 60.0},
            input_fields=[],
            nodes=nodes,
        )
        self.state_to("QUEUED", "submitted")
        self.state_to("RUNNING", "claimed by w1")

    def add(
        self,
        type: str,
        node: str = "",
        phase: str = "",
        blobs: tuple[str, ...] = (),
        **payload: Any,
    ) -> int:
        seq = len(self.events) + 1
        self.events.append(
            {
                "task_id": self.task_id,
                "seq": seq,
                "cursor": f"c{seq}",
                "event_id": f"e{seq}",
                "type": type,
                "phase": phase,
                "node_id": node,
                "severity": "SEVERITY_INFO",
                "actor": "engine",
                "time_unix_nano": seq,
                "blob_ids": list(blobs),
                "payload": payload,
            }
        )
        return seq

    def state_to(self, state: str, reason: str, failure_type: str = "", **extra: Any) -> int:
        self.state, self.failure_type = state, failure_type or self.failure_type
        if failure_type:
            extra["failure_type"] = failure_type
        return self.add(
            "task.state_changed", **{"from": "?", "to": state, "reason": reason}, **extra
        )

    def decide(
        self,
        node: str,
        phase: str,
        rule: str,
        action: str,
        checkpoint: str = "after_node",
        **kw: Any,
    ) -> int:
        return self.add(
            "governance.decision",
            node,
            phase,
            rule=rule,
            rule_version=1,
            action=action,
            reason=kw.pop("reason", f"{rule} says {action}."),
            conditions_evidence=kw.pop("evidence", {"checkpoint": checkpoint}),
            alternatives_rejected=[],
            checkpoint=checkpoint,
            **kw,
        )

    def run(
        self,
        node: str,
        phase: str = "build",
        *,
        kind: str = "node.completed",
        tokens: int = 100,
        usd: float = 0.01,
        attempt: int = 1,
        decision: tuple[str, str] | None = CONTINUE,
        artifact: str = "",
        **outcome: Any,
    ) -> tuple[int, int]:
        """node.started, an artifact if named, the outcome and its decision: (outcome, decision)."""
        self.add("node.started", node, phase, attempt=attempt, variant="primary")
        output = dict(outcome.pop("output", {}))
        if artifact:
            sha = f"{node}-{artifact}".ljust(64, "0")
            self.add("node.artifact_written", node, phase, (sha,), name=artifact, sha256=sha)
            output["artifacts"] = [{"name": artifact, "sha256": sha}]
        usage = {"tokens_in": tokens, "tokens_out": tokens // 10, "usd": usd, "tool_seconds": 0.5}
        seq = self.add(
            kind,
            node,
            phase,
            attempt=attempt,
            variant="primary",
            duration_s=0.1,
            usage=usage,
            output=output,
            **outcome,
        )
        return seq, (self.decide(node, phase, *decision) if decision else 0)

    def summary(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "plan_id": self.plan,
            "plan_version": "1",
            "state": self.state,
            "failure_type": self.failure_type,
            "cost": {"tokens_in": 0, "tokens_out": 0, "usd": 0.0, "tool_ms": 0},
        }

    def trace(self) -> RunTrace:
        return RunTrace.from_trace(self.summary(), self.events)


ORDERS = """\
id: p
version: 1
inputs:
  csv_path: {type: file, required: false}
  drop_invalid: {type: boolean, default: false}
subgoals:
  - {id: valid, description: Rows are valid., nodes: [validate]}
  - id: complete
    description: No order was dropped.
    nodes: [clean]
    checks: [{node: clean, output: rows_dropped, equals: 0, fix_with: csv_path}]
  - id: checked
    description: Totals re-checked.
    checks: [{node: verify, verified: true}, {node: verify, claim: total, equals: 12.5}]
nodes:
  - {id: validate, phase: spec, agent: python}
  - {id: clean, phase: build, agent: python, depends_on: [validate]}
  - {id: verify, phase: verify, agent: python, depends_on: [clean]}
"""


def actions(report: GoalReport) -> list[tuple[str, str]]:
    return [(a.kind, a.field) for a in report.next_actions]


def test_a_completed_task_is_partial_when_a_check_fails() -> None:
    t = Trace()
    t.run("validate", "spec")
    dropped, _ = t.run("clean", output={"rows_dropped": 3}, artifact="clean.csv")
    t.run("verify", "verify", verified=True, claims={"total": 12.5})
    t.state_to("COMPLETED", "all 3 nodes completed")
    report = evaluate(plan_of(ORDERS), t.trace())

    assert (report.status, report.task_state) == (GoalStatus.PARTIAL, "COMPLETED")
    statuses = [(s.subgoal, s.status) for s in report.breakdown]
    assert statuses == [("valid", "DONE"), ("complete", "PARTIAL"), ("checked", "DONE")]
    node_done, rows = report.breakdown[1].requirements
    assert node_done.passed and node_done.observed == "it completed"
    assert (rows.passed, rows.observed, rows.fix_with) == (False, "it is 3", "csv_path")
    assert rows.figures == {"output.rows_dropped": 3.0}
    assert rows.evidence[0].seq == dropped and rows.evidence[0].kind == "node.completed"
    [artifact] = [e for e in rows.evidence if e.kind == "node.artifact_written"]
    assert artifact.blob_ids == ("clean-clean.csv".ljust(64, "0"),)
    assert report.missing_requirements == (
        "complete: node 'clean' output 'rows_dropped' equals 0 (it is 3)",
    )
    [fix] = report.next_actions
    assert (fix.kind, fix.field) == ("change_input", "csv_path")
    assert fix.why == (
        "sub-goal complete needs node 'clean' output 'rows_dropped' equals 0, but it is 3"
    )
    json.dumps(report.as_dict())


def test_a_failed_task_is_partial_when_a_subgoal_was_met() -> None:
    t = Trace()
    t.run("validate", "spec")
    failure = {"kind": "tool_issue", "message": "disk full", "signals": {}}
    _, fail = t.run("clean", kind="node.failed", failure=failure, decision=("ToolError", "fail"))
    t.state_to("FAILED", "Node 'clean' failed", "tool_issue")
    report = evaluate(plan_of(ORDERS), t.trace())

    assert (report.status, report.task_state) == (GoalStatus.PARTIAL, "FAILED")
    assert [s.status for s in report.breakdown] == ["DONE", "NOT_DONE", "NOT_DONE"]
    clean = report.breakdown[1].requirements[0]
    assert clean.observed == "it is failed: tool_issue: disk full"
    never = report.breakdown[2].requirements[0]
    assert never.observed == "node 'verify' never ran"
    assert [e.kind for e in never.evidence] == ["task.state_changed"]  # the end shows it
    assert "no outcome of node 'verify' by seq" in never.evidence[0].text
    [retry] = report.next_actions
    assert (retry.kind, retry.field) == ("retry", "")
    assert fail in [e.seq for e in retry.evidence]


def test_waiting_for_a_human_names_the_fields_to_supply() -> None:
    plan = plan_of("""\
        id: p
        version: 1
        nodes:
          - {id: prepare, phase: spec, agent: python}
          - {id: approve, phase: govern, agent: human, depends_on: [prepare]}
        """)
    t = Trace(nodes=2)
    t.run("prepare", "spec")
    output = {"question": "Ship it?", "fields": ["approved", "comment"], "evidence": {}}
    asked, pause = t.run("approve", "govern", kind="node.needs_input", output=output, decision=None)
    pause = t.decide(
        "approve",
        "govern",
        "NeedsInput",
        "pause",
        question="Ship it?",
        evidence={"node_id": "approve", "fields": ["approved", "comment"]},
    )
    t.state_to("WAITING_INPUT", "Node 'approve' asks the user for input")
    report = evaluate(plan, t.trace())

    assert report.status is GoalStatus.PARTIAL  # the implicit sub-goal: 1 of 2 nodes
    [implicit] = report.breakdown
    assert implicit.subgoal == "plan" and implicit.status is GoalStatus.PARTIAL
    assert actions(report) == [("supply_input", "approved"), ("supply_input", "comment")]
    assert report.next_actions[0].why == "Ship it?"
    assert {asked, pause} <= {e.seq for e in report.next_actions[0].evidence}


def test_a_data_question_offers_the_inputs_it_names() -> None:
    t = Trace()
    question = (
        "Node 'validate' could not use its data (2 of 9 rows are invalid; resume with "
        "drop_invalid=true or csv_path=<a corrected file>): please supply corrected input."
    )
    failure = {
        "kind": "data_issue",
        "message": "2 of 9 rows are invalid",
        "signals": {"csv_path": "/data/orders.csv", "rows_total": 9},
    }
    t.run("validate", "spec", kind="node.failed", failure=failure, decision=None)
    t.decide("validate", "spec", "DataIssue", "pause", question=question)
    t.state_to("WAITING_INPUT", "Node 'validate' failed on its data")
    report = evaluate(plan_of(ORDERS), t.trace())

    assert report.status is GoalStatus.NOT_DONE
    assert actions(report) == [("fix_data", "csv_path"), ("fix_data", "drop_invalid")]
    assert report.next_actions[0].why == question


def test_an_exceeded_budget_asks_for_a_larger_one() -> None:
    t = Trace(budget={"tokens": 1000, "usd": None, "seconds": None})
    t.run("validate", "spec", tokens=900)
    evidence = {"exceeded": ["tokens"], "tokens_used": 1090, "tokens_limit": 1000}
    fail = t.decide(
        "clean",
        "build",
        "BudgetExceeded",
        "fail",
        "budget",
        evidence=evidence,
        reason="The task's budget is exceeded (tokens 1090 of 1000).",
    )
    t.state_to("FAILED", "The task's budget is exceeded", "cost_issue")
    report = evaluate(plan_of(ORDERS), t.trace())

    [more] = report.next_actions
    assert (more.kind, more.field) == ("raise_budget", "budget.tokens")
    assert more.why == "The task's budget is exceeded (tokens 1090 of 1000)."
    assert fail in [e.seq for e in more.evidence]


def test_a_conflict_asks_which_side_is_right() -> None:
    t = Trace()
    t.run("validate", "spec", claims={"total": 12.5})
    t.run("clean", claims={"total": 13.0}, decision=None)
    conflict = {
        "claim": "total",
        "left_node": "validate",
        "left_value": 12.5,
        "right_node": "clean",
        "right_value": 13.0,
        "on_conflict": "pause",
    }
    t.decide(
        "clean",
        "build",
        "ConflictBetweenAgents",
        "pause",
        evidence=conflict,
        question="The agents disagree. Which is right?",
    )
    t.add(
        "governance.conflict",
        "clean",
        "build",
        claim="total",
        left={"node_id": "validate", "value": 12.5},
        right={"node_id": "clean", "value": 13.0},
    )
    t.state_to("WAITING_INPUT", "Agents disagree")
    report = evaluate(plan_of(ORDERS), t.trace())

    assert actions(report) == [("review_conflict", "total")]
    assert report.next_actions[0].why == "The agents disagree. Which is right?"
    clean = report.breakdown[1].requirements[0]
    assert (clean.passed, clean.observed) == (False, "it is waiting")


@pytest.mark.parametrize(
    ("outcome", "observed", "passed"),
    [
        ({"verified": True, "claims": {"total": 12.5}}, ["it is verified", "it is 12.5"], True),
        ({"verified": False, "claims": {"total": 12}}, ["not verified", "it is 12"], False),
        ({"claims": {"total": "12.5"}}, ["no verdict recorded", "it is '12.5'"], False),
        ({"claims": {}}, ["no verdict recorded", "no claim 'total' recorded"], False),
    ],
    ids=["pass", "unverified-int-equals-float", "string-is-not-a-number", "missing"],
)
def test_checks_read_the_last_outcome_as_recorded(
    outcome: dict[str, Any], observed: list[str], passed: bool
) -> None:
    t = Trace()
    t.run("validate", "spec")
    t.run("clean", output={"rows_dropped": 0})
    t.run(
        "verify",
        "verify",
        kind="node.failed",
        decision=("ToolError", "retry"),
        failure={"kind": "tool_issue", "message": "x", "signals": {}},
        verified=True,
    )
    t.run("verify", "verify", attempt=2, **outcome)
    checked = evaluate(plan_of(ORDERS), t.trace()).breakdown[2]
    assert [r.observed for r in checked.requirements] == observed
    assert (checked.status is GoalStatus.DONE) is passed


def test_json_equality_and_unrecorded_outputs() -> None:
    plan = plan_of("""\
        id: p
        version: 1
        subgoals:
          - id: g
            checks:
              - {node: a, output: ok, equals: 1}
              - {node: a, output: rows, equals: [1, {x: true}]}
              - {node: a, output: big}
        nodes: [{id: a, phase: build, agent: python}]
        """)
    t = Trace(nodes=1)
    t.run("a", output={"ok": True, "rows": [1.0, {"x": True}]})
    first = [(r.passed, r.observed) for r in evaluate(plan, t.trace()).breakdown[0].requirements]
    assert first == [
        (False, "it is True"),
        (True, "it is [1.0, {'x': True}]"),
        (False, "no output 'big' recorded"),
    ]
    t = Trace(nodes=1)
    t.run("a", output={"truncated": True})
    [*_, big] = evaluate(plan, t.trace()).breakdown[0].requirements
    assert (
        big.observed
        == "the output was too large to be recorded in the event, so it cannot be checked"
    )


def test_a_subgoal_nothing_shows_is_not_done() -> None:
    plan = plan_of("""\
        id: p
        version: 1
        subgoals: [{id: run, nodes: [a]}, {id: vague, description: Somehow better.}]
        nodes: [{id: a, phase: build, agent: python}]
        """)
    t = Trace(nodes=1)
    t.run("a")
    t.state_to("COMPLETED", "all 1 nodes completed")
    report = evaluate(plan, t.trace())
    assert [s.status for s in report.breakdown] == ["DONE", "NOT_DONE"]
    assert report.status is GoalStatus.PARTIAL
    assert report.missing_requirements == ("vague: no node or check shows it is done",)
    assert actions(report) == [("review_result", "")]


def test_a_user_pause_asks_to_resume() -> None:
    t = Trace()
    t.run("validate", "spec")
    t.add("task.control_applied", action="pause")
    paused = t.state_to("PAUSED", "paused by the user")
    [resume] = evaluate(plan_of(ORDERS), t.trace()).next_actions
    assert (resume.kind, resume.why, resume.evidence[0].seq) == (
        "resume",
        "the task is paused: paused by the user",
        paused,
    )


def test_the_state_is_the_one_the_events_show_when_the_summary_lags() -> None:
    t = Trace()
    t.run("validate", "spec", kind="node.needs_input", decision=("NeedsInput", "pause"),
          output={"question": "Which file?", "fields": ["csv_path"]})  # fmt: skip
    summary = t.summary()  # sent before the transition reached it
    t.state_to("WAITING_INPUT", "Node 'validate' asks the user for input")
    report = evaluate(plan_of(ORDERS), RunTrace.from_trace(summary, t.events))
    assert summary["state"] == "RUNNING" and report.task_state == "WAITING_INPUT"
    assert actions(report) == [("supply_input", "csv_path")]


def test_the_plan_must_be_the_one_the_task_ran() -> None:
    other = plan_of(ORDERS.replace("id: p\n", "id: q\n"))
    with pytest.raises(InvalidArgument, match=r"task t1 ran plan p@1, not q@1"):
        evaluate(other, Trace().trace())


# ---------------------------------------------------------------- end to end, a real engine


@pytest.fixture
async def engine(
    database: Database, tmp_path: Path, store: Store
) -> AsyncIterator[EngineUnderTest]:
    # Command agents find python3 (and gcc) as under `agentledger up` from the venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    e = await start_engine(
        database, tmp_path, store, AGENTLEDGER_ENGINE_PLAN_DIRS=str(EXAMPLES), PATH=path
    )
    try:
        yield e
    finally:
        await e.close()


async def recorded(engine: EngineUnderTest, task_id: str) -> tuple[Plan, RunTrace]:
    """The task as the product sees it: the plan's text from GetPlan, the summary and the
    events as the gateway hands them out."""
    summary = to_dict(await engine.store.client.get_summary(task_id))
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await engine.store.client.list_events(task_id, cursor=cursor, limit=1000)
        events += [orjson.loads(event_json(e)) for e in page.events]
        if not page.has_more:
            break
        cursor = page.next_cursor
    got = await engine.client.get_plan(summary["plan_id"], int(summary["plan_version"]))
    plan = load_plan(got.text, source=f"GetPlan {got.plan.plan_id}", known_agents=None)
    return plan, RunTrace.from_trace(summary, events)


async def test_data_cleanup_for_real_asks_then_completes_partially(engine: EngineUnderTest) -> None:
    task = await engine.submit("data-cleanup", {}, seconds=60)
    async with asyncio.timeout(10):
        await engine.wait_state(task.task_id, {"WAITING_INPUT", *TERMINAL})
    plan, trace = await recorded(engine, task.task_id)
    waiting = evaluate(plan, trace)
    assert (waiting.task_state, waiting.status) == ("WAITING_INPUT", GoalStatus.NOT_DONE)
    assert actions(waiting) == [("fix_data", "csv_path"), ("fix_data", "drop_invalid")]
    assert "line 9: amount '12.O0' is not a number" in waiting.next_actions[0].why
    told = explain(trace, waiting)
    assert told.refused == ()
    assert any("Supply corrected data as 'csv_path'" in s.text for s in told.sentences)

    await engine.client.resume(task.task_id, input={"drop_invalid": True})
    async with asyncio.timeout(10):
        await engine.wait_state(task.task_id, TERMINAL)
    plan, trace = await recorded(engine, task.task_id)
    done = evaluate(plan, trace)
    assert (done.task_state, done.status) == ("COMPLETED", GoalStatus.PARTIAL)
    by_id = {s.subgoal: s for s in done.breakdown}
    assert by_id["all-orders"].status is GoalStatus.NOT_DONE
    assert [s for s, r in by_id.items() if r.status is GoalStatus.DONE] == [
        "valid-input",
        "clean-data",
        "insights",
        "verified-output",
    ]
    [rows] = by_id["all-orders"].missing
    assert rows.figures == {"output.rows_dropped": 3.0}
    assert actions(done) == [("change_input", "csv_path")]

    told = explain(trace, done)
    assert told.refused == ()
    text = to_markdown(told.sentences)
    assert "So the goal is PARTIAL although the task COMPLETED" in text
    assert "output.rows_dropped is 3" in text
    assert "The nodes wrote 3 artifacts" in text  # clean, aggregate and report
    assert "Run the task again with another 'csv_path'" in text
    waits = [s for s in told.sentences if "stopped in WAITING_INPUT" in s.text]
    assert len(waits) == 1 and "resumed by the user" in waits[0].text


@pytest.mark.skipif(shutil.which("gcc") is None, reason="build-verify needs gcc")
async def test_build_verify_for_real_fails_yet_one_subgoal_is_done(engine: EngineUnderTest) -> None:
    patch = "examples/build_verify/patches/swap-subtraction.patch"
    task = await engine.submit("build-verify", {"patch": patch}, seconds=60)
    async with asyncio.timeout(20):
        await engine.wait_state(task.task_id, TERMINAL)
    plan, trace = await recorded(engine, task.task_id)
    report = evaluate(plan, trace)

    assert (report.task_state, report.status) == ("FAILED", GoalStatus.PARTIAL)
    buildable, correct = report.breakdown
    assert (buildable.status, correct.status) == (GoalStatus.DONE, GoalStatus.NOT_DONE)
    assert [r.what for r in buildable.requirements] == [
        "node 'stage' completed",
        "node 'compile' completed",
        "node 'compile' output 'exit_code' equals 0",
    ]
    assert [r.observed for r in correct.requirements][1:] == [
        "it never ran",
        "node 'acceptance' never ran",
    ]
    [action] = report.next_actions
    assert action.kind == "review_failure" and "'unit-tests'" in action.why
    told = explain(trace, report)
    assert told.refused == ()
    assert (
        "So the goal is PARTIAL although the task FAILED: done: buildable; not done: correct."
        in [s.text for s in told.sentences]
    )
