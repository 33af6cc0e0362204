"""SPEC 3.4 Compare: hand-built traces in the engine's event conventions, and two real runs of
one plan through an in-process engine that diverge at a budget-pressure degrade."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.core.errors import InvalidArgument
from agentledger.engine.v1 import engine_pb2 as pb
from gateway.convert import event_json, to_dict
from services.product.domain.compare import Comparison, compare, to_json
from services.product.domain.compare_markdown import to_markdown
from services.product.domain.runview import Cost, RunView
from tests.conftest import Database, Store
from tests.engine.harness import EngineUnderTest, start_engine

CONTINUE = ("DefaultContinue", "continue")


class Trace:
    """A task's events as the gateway hands them out, written the way the engine writes them."""

    def __init__(self, task_id: str, plan: str = "p", *, budget: int = 1000) -> None:
        self.task_id, self.plan = task_id, plan
        self.events: list[dict[str, Any]] = []
        self.state, self.failure_type = "RUNNING", ""
        self.add(
            "task.created",
            goal="g",
            mode="balanced",
            budget={"tokens": budget, "usd": None, "seconds": None},
            plan={"id": plan, "version": 1},
            input_fields=[],
        )
        self.add("task.state_changed", **{"from": "CREATED", "to": "QUEUED", "reason": "submitted"})
        self.add("task.state_changed", **{"from": "QUEUED", "to": "RUNNING", "reason": "claimed"})

    def add(self, type: str, node: str = "", phase: str = "", **payload: Any) -> int:
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
                "blob_ids": [],
                "payload": payload,
            }
        )
        return seq

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
        variant: str = "primary",
        attempt: int = 1,
        tokens: int = 100,
        usd: float = 0.01,
        failure: tuple[str, str] | None = None,
        decision: tuple[str, str] = CONTINUE,
        **kw: Any,
    ) -> tuple[int, int, int]:
        """node.started, its outcome and the governance decision on it: their seqs."""
        started = self.add("node.started", node, phase, attempt=attempt, variant=variant)
        payload: dict[str, Any] = {
            "attempt": attempt,
            "variant": variant,
            "duration_s": 0.01,
            "usage": {"tokens_in": tokens, "tokens_out": tokens // 10, "usd": usd,
                      "tool_seconds": 0.5},
            "output": {},
        }  # fmt: skip
        kind = "node.completed"
        if failure is not None:
            kind = "node.failed"
            payload["failure"] = {"kind": failure[0], "message": failure[1], "signals": {}}
        outcome = self.add(kind, node, phase, **payload)
        return started, outcome, self.decide(node, phase, *decision, **kw)

    def end(self, state: str, reason: str, failure_type: str = "") -> int:
        self.state, self.failure_type = state, failure_type
        extra = {"failure_type": failure_type} if failure_type else {}
        return self.add(
            "task.state_changed", **{"from": "RUNNING", "to": state, "reason": reason}, **extra
        )

    def summary(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "plan_id": self.plan,
            "plan_version": "1",
            "state": self.state,
            "failure_type": self.failure_type,
            "cost": {"tokens_in": 0, "tokens_out": 0, "usd": 0.0, "tool_ms": 0},
            "last_seq": len(self.events),
        }

    def view(self) -> RunView:
        return RunView.from_trace(self.summary(), self.events)


def chain(task_id: str, **kw: Any) -> Trace:
    """spec -> build -> verify, every node completing on its primary variant."""
    t = Trace(task_id, **kw)
    t.run("a", "spec")
    t.run("b", "build")
    t.run("c", "verify")
    t.end("COMPLETED", "all 3 nodes completed")
    return t


def test_a_task_compared_with_itself_is_a_clear_answer() -> None:
    view = chain("t1").view()
    c = compare(view, view)
    assert c.same_task and c.same_plan and c.identical
    assert c.divergence is None
    assert c.path.changes == () and c.path.only_in_a == c.path.only_in_b == ()
    assert c.path.path_a == ("a", "b", "c")
    assert all(k.delta == Cost() for k in c.costs)
    assert (
        c.headline == "A and B are the same task (t1): compared with itself, it has no differences."
    )
    assert c.headline in to_markdown(c)
    body = to_json(c)
    assert body["same_task"] is True and body["identical"] is True
    assert body["divergence"] is None
    json.dumps(body)  # plain JSON all the way down


def test_runs_that_diverge_at_a_budget_degrade() -> None:
    a, b = Trace("ta", budget=1000), Trace("tb", budget=100_000)
    for t in (a, b):
        t.run("think", tokens=850, usd=0.085)
    pressure = a.decide(
        "more",
        "build",
        "BudgetPressure",
        "degrade",
        "budget",
        variant="cheap",
        reason="Budget use (tokens 85%) is at or past 80%.",
        evidence={"fractions": {"tokens": 0.85}, "threshold": 0.8},
    )
    a.run("more", variant="cheap", tokens=100)
    started_b, _, _ = b.run("more", tokens=600)
    assert pressure == started_b == 7  # the same place in both traces
    a.end("FAILED", "The task's budget is exceeded.", "cost_issue")
    b.end("COMPLETED", "all 2 nodes completed")

    c = compare(a.view(), b.view())
    d = c.divergence
    assert d is not None
    assert (d.node_id, d.seq_a, d.seq_b, d.what) == ("more", 7, 7, "decision")
    assert [(e.run, e.seq, e.source) for e in d.evidence] == [
        ("a", 7, "decision"),
        ("b", 7, "start"),
    ]
    why = d.evidence[0].detail
    assert why["rule"] == "BudgetPressure" and why["action"] == "degrade"
    assert why["conditions_evidence"] == {"fractions": {"tokens": 0.85}, "threshold": 0.8}
    assert "rule BudgetPressure v1 decided degrade to variant 'cheap'" in d.sentence
    assert "in B the node started variant 'primary' (attempt 1)" in d.sentence
    assert [(x.node_id, x.field, x.a, x.b) for x in c.path.changes] == [
        ("more", "variant", "cheap", "primary")
    ]
    assert c.setup[0].field == "budget" and c.setup[0].seq_a == c.setup[0].seq_b == 1
    assert c.failure.differs and (c.failure.a, c.failure.b) == ("cost_issue", "")
    assert c.failure.seq_a == len(a.events) and c.failure.seq_b is None
    [dd] = c.decisions
    assert (dd.node_id, dd.differs, [x.seq for x in dd.a], dd.b) == ("more", True, [7], ())
    assert not c.identical


def test_runs_that_diverge_at_a_failure_with_retry() -> None:
    a, b = Trace("ta"), Trace("tb")
    failed = a.run(
        "call",
        failure=("tool_issue", "service unavailable (run 1)"),
        decision=("ToolError", "retry"),
    )
    a.run("call", attempt=2)
    first = b.run("call")
    for t in (a, b):
        t.run("after", "verify")
        t.end("COMPLETED", "all 2 nodes completed")

    c = compare(a.view(), b.view())
    d = c.divergence
    assert d is not None
    assert (d.node_id, d.seq_a, d.seq_b, d.what) == ("call", failed[1], first[1], "failure")
    fail = d.evidence[0]
    assert (fail.run, fail.seq, fail.source) == ("a", 5, "failure")
    assert fail.detail["failure_kind"] == "tool_issue"
    assert fail.detail["message"] == "service unavailable (run 1)"
    assert "in A the node failed with tool_issue: service unavailable (run 1)" in d.sentence
    assert "in B the node completed" in d.sentence
    changes = {(x.node_id, x.field): (x.a, x.b) for x in c.path.changes}
    assert changes == {("call", "attempts"): ("2", "1")}  # both completed in the end
    assert c.a.state == c.b.state == "COMPLETED" and not c.failure.differs
    [dd] = c.decisions
    assert [x.rule for x in dd.a] == ["ToolError"] and dd.b == () and dd.differs


def test_different_variants_without_a_recorded_choice() -> None:
    a, b = Trace("ta"), Trace("tb")
    a.run("n", variant="fast")
    b.run("n", variant="thorough")
    c = compare(a.view(), b.view())
    assert c.divergence is not None and c.divergence.what == "variant"
    assert (c.divergence.seq_a, c.divergence.seq_b) == (4, 4)
    assert [(x.field, x.a, x.b) for x in c.path.changes] == [("variant", "fast", "thorough")]


def test_a_node_skipped_in_one_run_is_a_consequence_not_the_cause() -> None:
    a, b = Trace("ta"), Trace("tb")
    for t in (a, b):
        t.run("a", "spec")
    a.run("b", failure=("data_issue", "rows [2] are not integers"), decision=("DataIssue", "fail"))
    a.end("FAILED", "Node 'b' failed with a data issue.", "data_issue")
    b.run("b")
    b.run("c", "verify")
    b.end("COMPLETED", "all 3 nodes completed")

    c = compare(a.view(), b.view())
    assert c.path.only_in_b == ("c",) and c.path.only_in_a == ()
    assert c.path.path_a == ("a", "b") and c.path.path_b == ("a", "b", "c")
    statuses = {
        x.node_id: (x.a, x.b, x.seq_a, x.seq_b) for x in c.path.changes if x.field == "status"
    }
    assert statuses == {"b": ("failed", "completed", 9, 9), "c": ("not_run", "completed", None, 12)}
    assert c.divergence is not None and c.divergence.node_id == "b"
    assert c.divergence.what == "failure"
    assert (c.failure.a, c.failure.b, c.failure.seq_a) == ("data_issue", "", 10)
    # A run seen alone: the node that never ran is not part of it.
    assert "c" not in a.view().nodes


def test_node_status_follows_the_engines_checkpoint_rule() -> None:
    """An outcome stands only if governance let it (services/engine/domain/run_events.py)."""
    t = Trace("ta")
    t.run("spent", decision=("BudgetExceeded", "fail"))  # completed, then failed by governance
    t.run("again", decision=("LowSuccessProxy", "degrade"), variant="primary")
    t.run("cont", failure=("tool_issue", "down"), decision=CONTINUE)  # failed, let continue
    t.add("node.needs_input", "ask", "build", attempt=1, variant="primary", usage={})
    t.decide("ask", "build", "NeedsInput", "pause")
    t.add("node.started", "busy", "build", attempt=1, variant="primary")
    t.decide("later", "verify", "BudgetExceeded", "fail", "budget")  # never started
    nodes = t.view().nodes
    status = {k: n.status for k, n in nodes.items()}
    assert status == {
        "spent": "failed", "again": "pending", "cont": "failed", "ask": "waiting",
        "busy": "running", "later": "not_run",
    }  # fmt: skip
    assert t.view().path == ("spent", "cont", "ask")
    assert (nodes["cont"].failure_kind, nodes["cont"].failure_message) == ("tool_issue", "down")


def test_costs_per_phase_and_in_total() -> None:
    a, b = Trace("ta"), Trace("tb")
    a.run("s", "spec", tokens=100, usd=0.01)
    a.run("x", "build", tokens=300, usd=0.03)
    b.run("s", "spec", tokens=100, usd=0.01)
    b.run("x", "build", tokens=600, usd=0.06)
    b.run("v", "verify", tokens=50, usd=0.005)
    c = compare(a.view(), b.view())
    costs = {k.scope: k for k in c.costs}
    assert list(costs) == ["total", "build", "spec", "verify"]
    build = costs["build"]
    assert build.a == Cost(300, 30, 0.03, 500) and build.b == Cost(600, 60, 0.06, 500)
    assert build.delta == Cost(300, 30, 0.03, 0)
    assert build.ratio == {"tokens_in": 2.0, "tokens_out": 2.0, "usd": 2.0, "tool_ms": 1.0}
    assert (build.seqs_a, build.seqs_b) == ((8,), (8,))
    assert costs["verify"].ratio["usd"] is None  # nothing in A to divide by
    assert costs["spec"].delta == Cost()
    # The summaries hold no cost here, so the total is the events' sum.
    total = costs["total"]
    assert total.a == Cost(400, 40, 0.04, 1000) and total.b == Cost(750, 75, 0.075, 1500)
    assert c.a.cost_source == "events" and total.seqs_b == (5, 8, 11)
    summary = {**a.summary(), "cost": {"tokens_in": 999, "tokens_out": 1, "usd": 0.5, "tool_ms": 7}}
    assert RunView.from_trace(summary, a.events).cost == Cost(999, 1, 0.5, 7)


def test_tasks_of_different_plans_are_compared_by_node_id() -> None:
    a, b = Trace("ta", plan="one"), Trace("tb", plan="two")
    a.run("shared")
    a.run("mine")
    b.run("shared")
    b.run("yours")
    c = compare(a.view(), b.view())
    assert not c.same_plan and not c.same_task
    assert "The tasks ran different plans (one v1 in A, two v1 in B)" in c.headline
    assert c.path.only_in_a == ("mine",) and c.path.only_in_b == ("yours",)
    assert c.divergence is not None and c.divergence.node_id == "mine"
    assert c.divergence.seq_a == 7 and c.divergence.seq_b is None
    assert "in B the node never ran" in c.divergence.sentence
    assert [s.field for s in c.setup] == ["plan"]


def test_parallel_nodes_that_interleave_differently_do_not_diverge() -> None:
    a, b = Trace("ta"), Trace("tb")
    for t, order in ((a, ("x", "y")), (b, ("y", "x"))):
        for n in order:
            t.add("node.started", n, "build", attempt=1, variant="primary")
        for n in order:
            t.add("node.completed", n, "build", attempt=1, variant="primary", usage={})
            t.decide(n, "build", *CONTINUE)
    c = compare(a.view(), b.view())
    assert c.divergence is None and c.identical and not c.path.same_order
    assert "The runs took the same path" in c.headline


def test_a_users_cancel_is_where_the_task_diverged() -> None:
    a, b = Trace("ta"), Trace("tb")
    for t in (a, b):
        t.add("node.started", "long", "build", attempt=1, variant="primary")
    control = a.add("task.control_applied", action="cancel")
    a.add("node.cancelled", "long", "build")
    a.end("CANCELLED", "cancel requested")
    b.add("node.completed", "long", "build", attempt=1, variant="primary", usage={})
    c = compare(a.view(), b.view())
    d = c.divergence
    assert d is not None and (d.node_id, d.seq_a, d.what) == ("", control, "state")
    assert [x.field for x in c.path.changes] == ["status", "attempts"]


def test_markdown_reads_as_a_report() -> None:
    a, b = Trace("ta"), Trace("tb")
    a.run("n", failure=("tool_issue", "HTTP 503 | down"), decision=("ToolError", "fail"))
    a.end("FAILED", "Node 'n' failed.", "tool_issue")
    b.run("n")
    b.end("COMPLETED", "all 1 nodes completed")
    c = compare(a.view(), b.view())
    text = to_markdown(c)
    assert text == to_markdown(compare(a.view(), b.view()))  # deterministic
    for heading in ("# Compare ta (A) with tb (B)", "## First divergence", "## Path", "## Cost",
                    "## Failure type", "## Key decisions"):  # fmt: skip
        assert f"\n{heading}\n" in f"\n{text}"
    assert (
        "The runs first diverged at node 'n' (seq 5 in A, seq 5 in B): in A the node failed with"
        " tool_issue: HTTP 503 | down; in B the node completed." in text
    )
    assert "- A seq 5 (failure): the node failed with tool_issue" in text
    assert "| n | status | failed | completed | 6 | 6 |" in text
    assert "| n | ToolError fail (seq 6) | none | yes |" in text
    assert "- A: tool_issue (seq 7: Node 'n' failed)" in text


def test_bad_input_is_reported_not_fatal() -> None:
    t = Trace("tx")
    t.run("n")
    t.add("something.new", "n", "build", whatever=1)  # unknown types are ignored
    t.events[4]["payload"]["usage"] = {"tokens_in": "many"}
    t.events[5]["payload"]["rule_version"] = "one"
    t.add("node.started", "m", "build", attempt=1)  # no variant
    t.events.append({**t.events[-1]})  # the same seq twice
    t.events.append({"task_id": "tx", "seq": "x", "type": "node.started"})
    shuffled = [t.events[1], t.events[0], *t.events[2:]]
    view = RunView.from_trace(t.summary(), shuffled)
    assert view.nodes["n"].status == "completed" and view.nodes["m"].status == "running"
    fields = [(p.seq, p.field) for p in view.problems]
    assert fields == [
        (None, "seq"),  # out of order: sorted, then read again
        (None, "seq"),
        (5, "payload.usage"),
        (6, "payload.rule_version"),
        (8, "payload.variant"),
        (8, "seq"),
    ]
    c = compare(view, chain("ty").view())
    assert c.problems == view.problems
    assert "## Problems in the input" in to_markdown(c)
    json.dumps(to_json(c))


def test_input_of_no_task_or_another_task_is_refused() -> None:
    t = Trace("tx")
    with pytest.raises(InvalidArgument, match="no task_id"):
        RunView.from_trace({}, t.events)
    t.events[2]["task_id"] = "other"
    with pytest.raises(InvalidArgument, match="event seq 3 belongs to task 'other', not tx"):
        t.view()


def test_the_json_export_carries_every_claims_seqs() -> None:
    a, b = chain("ta"), Trace("tb")
    b.run("a", "spec", decision=("LowSuccessProxy", "fail"))
    b.end("FAILED", "low success proxy", "execution_issue")
    body = to_json(compare(a.view(), b.view()))
    assert body["schema"] == "agentledger.compare.v1"
    assert body["divergence"]["seq_a"] == 6 and body["divergence"]["seq_b"] == 6
    assert {e["seq"] for e in body["divergence"]["evidence"]} == {6}
    assert body["decisions"][0]["b"][0]["seq"] == 6
    assert body["failure"]["seq_b"] == 7
    assert all("seq_a" in x and "seq_b" in x for x in body["path"]["changes"])
    assert body["costs"][0]["seqs_a"] == [5, 8, 11]


# ---------------------------------------------------------------- end to end, a real engine


@pytest.fixture
async def engine(
    database: Database, tmp_path: Path, store: Store
) -> AsyncIterator[EngineUnderTest]:
    e = await start_engine(database, tmp_path, store)
    try:
        yield e
    finally:
        await e.close()


async def recorded(engine: EngineUnderTest, task_id: str) -> RunView:
    """The task as the gateway hands it out (summary and event JSON), digested."""
    summary = to_dict(await engine.store.client.get_summary(task_id))
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await engine.store.client.list_events(task_id, cursor=cursor, limit=1000)
        events += [orjson.loads(event_json(e)) for e in page.events]
        if not page.has_more:
            return RunView.from_trace(summary, events)
        cursor = page.next_cursor


async def test_two_real_runs_of_one_plan_diverge_at_the_budget_degrade(
    engine: EngineUnderTest,
) -> None:
    tight = await engine.submit("budgeted", budget=pb.Budget(tokens=1000))
    loose = await engine.submit("budgeted", budget=pb.Budget(tokens=100_000))
    for task in (tight, loose):
        await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    a, b = await recorded(engine, tight.task_id), await recorded(engine, loose.task_id)
    assert (a.state, b.state) == ("FAILED", "COMPLETED")

    c: Comparison = compare(a, b)
    d = c.divergence
    assert d is not None and (d.node_id, d.what) == ("more", "decision")
    [decision] = [e for e in d.evidence if e.source == "decision"]
    assert decision.run == "a" and decision.seq == d.seq_a
    assert decision.detail["rule"] == "BudgetPressure"
    assert decision.detail["conditions_evidence"]["pressed"] == ["tokens"]
    assert [(x.node_id, x.field, x.a, x.b) for x in c.path.changes] == [
        ("last", "status", "failed", "completed"),
        ("more", "variant", "cheap", "primary"),
        ("more", "output", '{"spent":100}', '{"spent":600}'),  # the cheap variant did less
    ]
    assert (c.failure.a, c.failure.b) == ("cost_issue", "")
    assert c.a.cost_source == "summary"
    total = c.costs[0]
    assert (total.a.tokens_in, total.b.tokens_in, total.delta.tokens_in) == (1550, 2050, 500)
    assert [s.field for s in c.setup] == ["budget"]
    assert [(x.node_id, x.differs) for x in c.decisions] == [("more", True), ("last", True)]
    text = to_markdown(c)
    assert d.sentence in text and f"seq {d.seq_a} in A" in d.sentence
    json.dumps(to_json(c))

    itself = compare(b, b)
    assert itself.same_task and itself.identical and itself.divergence is None
    assert "compared with itself, it has no differences" in to_markdown(itself)
