"""Engine flows over gRPC: pause and resume, retry from the failure, budgets and degrading,
conflicts, inline plans, selection rules, listing, plans, and the system trace document."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from agentledger.core.errors import Conflict, FailedPrecondition, InvalidArgument
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine.client import json_of
from services.engine.domain.ids import new_event_id
from services.engine.domain.model import OutboxEvent
from services.engine.domain.system_trace import SCHEMA_PATH
from tests.conftest import Database, Store
from tests.engine.harness import EngineUnderTest, start_engine

INLINE = """
id: inline-demo
version: 1
description: submitted with the task
nodes:
  - {id: only, phase: build, agent: python, config: {callable: "tests.engine.callables:record"}}
"""


async def _started(engine: EngineUnderTest, task_id: str, node: str) -> None:
    async for msg in engine.store.client.stream_events(task_id):
        if msg.HasField("batch") and any(
            e.type == "node.started" and e.node_id == node for e in msg.batch.events
        ):
            return


async def test_pause_a_running_task_then_resume_it(engine: EngineUnderTest) -> None:
    task = await engine.submit("crashy")
    await _started(engine, task.task_id, "n1")
    paused = await engine.client.pause(task.task_id, actor="bob", reason="lunch")
    # The worker pauses once the node in flight checkpoints (it may have already).
    assert paused.control == "pause" or paused.state == "PAUSED"
    done = await engine.wait_state(task.task_id, {"PAUSED", "COMPLETED", "FAILED"})
    assert done.state == "PAUSED"
    got = await engine.client.get(task.task_id)
    assert [(n.node_id, n.status) for n in got.nodes] == [("n1", "completed")]
    await engine.client.resume(task.task_id, actor="bob")
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED"
    log = (engine.settings.tasks_dir / task.task_id / "work" / "runs.log").read_text().split()
    assert log == ["n1", "n2", "n3", "n4"]
    events = await engine.events(task.task_id)
    assert [p["to"] for t, _, p in events if t == "task.state_changed"] == [
        "QUEUED", "RUNNING", "PAUSED", "QUEUED", "RUNNING", "COMPLETED"
    ]  # fmt: skip
    queued = await engine.submit("chain3")
    with pytest.raises(FailedPrecondition, match="only PAUSED or WAITING_INPUT"):
        await engine.client.resume(queued.task_id)


async def test_cancel_overrides_a_pause_in_progress(engine: EngineUnderTest) -> None:
    task = await engine.submit("blocker")
    await _started(engine, task.task_id, "wait")
    assert (await engine.client.pause(task.task_id, actor="bob")).control == "pause"
    cancelled = await engine.client.cancel(task.task_id, actor="bob")
    # The worker may have carried the request out already by the time the answer is read.
    assert cancelled.control == "cancel" or cancelled.state == "CANCELLED"
    done = await engine.wait_state(task.task_id, {"CANCELLED", "PAUSED", "FAILED"})
    assert done.state == "CANCELLED"


async def test_pausing_a_queued_task_holds_it_until_resumed(engine: EngineUnderTest) -> None:
    engine.built.pool.slots = 0  # nothing gets claimed while we look
    task = await engine.submit("chain3")
    paused = await engine.client.pause(task.task_id, actor="bob")
    assert paused.state == "PAUSED" and paused.pause_count == 1
    engine.built.pool.slots = 4
    engine.built.pool.wake()
    resumed = await engine.client.resume(task.task_id, actor="bob")
    assert resumed.state in ("QUEUED", "RUNNING", "COMPLETED")
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED"
    events = await engine.events(task.task_id)
    assert [p["to"] for t, _, p in events if t == "task.state_changed"] == [
        "QUEUED", "PAUSED", "QUEUED", "RUNNING", "COMPLETED"
    ]  # fmt: skip


async def test_retry_reruns_from_the_failure_only(engine: EngineUnderTest) -> None:
    plan = INLINE.replace("inline-demo", "retry-demo").replace(
        '  - {id: only, phase: build, agent: python, config: {callable: "tests.engine.callables:record"}}',
        '  - {id: first, phase: spec, agent: python, config: {callable: "tests.engine.callables:record"}}\n'
        "  - {id: flaky, phase: build, agent: python, depends_on: [first],\n"
        '     config: {callable: "tests.engine.callables:flaky", fail_times: 1}}',
    )
    task = await engine.client.submit(
        owner="alice", goal="retry", budget=pb.Budget(seconds=60), plan_yaml=plan
    )
    failed = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert failed.state == "FAILED" and failed.failure_type == "tool_issue"
    with pytest.raises(FailedPrecondition, match="only FAILED"):
        await engine.client.retry((await engine.submit("chain3")).task_id)
    await engine.client.retry(task.task_id, actor="alice", reason="try again")
    done = await engine.wait_state(task.task_id, {"COMPLETED"})
    assert done.state == "COMPLETED" and done.failure_type == ""
    log = (engine.settings.tasks_dir / task.task_id / "work" / "runs.log").read_text().split()
    assert log == ["first", "flaky", "flaky"]  # the completed node did not run again


async def test_budget_pressure_degrades_then_exhaustion_fails(engine: EngineUnderTest) -> None:
    task = await engine.submit("budgeted", budget=pb.Budget(tokens=1000))
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "FAILED" and done.failure_type == "cost_issue"
    events = await engine.events(task.task_id)
    decisions = [(n, p["action"], p["rule"]) for t, n, p in events if t == "governance.decision"]
    assert ("more", "degrade", "BudgetPressure") in decisions
    exceeded = [p for t, _, p in events if t == "governance.decision" and p["action"] == "fail"]
    assert exceeded[0]["rule"] == "BudgetExceeded"
    assert exceeded[0]["conditions_evidence"]["tokens_used"] == 1550
    assert done.degrade_count == 1
    got = await engine.client.get(task.task_id)
    assert {n.node_id: n.variant for n in got.nodes} == {
        "think": "primary", "more": "cheap", "last": "primary"
    }  # fmt: skip


async def test_a_conflict_between_agents_pauses_with_both_sides(engine: EngineUnderTest) -> None:
    task = await engine.submit("disagree")
    waiting = await engine.wait_state(task.task_id, {"WAITING_INPUT", "COMPLETED", "FAILED"})
    assert waiting.state == "WAITING_INPUT"
    events = await engine.events(task.task_id)
    conflict = next(p for t, _, p in events if t == "governance.conflict")
    assert conflict == {
        "claim": "status",
        "left": {"node_id": "build", "value": "done"},
        "right": {"node_id": "check", "value": "broken"},
    }


async def test_inline_plans_are_versioned_by_content(engine: EngineUnderTest) -> None:
    task = await engine.client.submit(
        owner="alice", goal="inline", budget=pb.Budget(seconds=60), plan_yaml=INLINE
    )
    assert (task.plan_id, task.plan_version, task.plan_rule) == ("inline-demo", 1, "explicit")
    # The same id and version with the same content is the same plan; other content is refused.
    await engine.client.submit(
        owner="alice", goal="again", budget=pb.Budget(seconds=60), plan_yaml=INLINE + "\n# same\n"
    )
    changed = INLINE.replace("record", "flaky")
    with pytest.raises(Conflict, match="raise its version"):
        await engine.client.submit(
            owner="alice", goal="x", budget=pb.Budget(seconds=60), plan_yaml=changed
        )
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED"
    assert "submitted with the task" in (await engine.client.get_plan("inline-demo")).text


async def test_a_refused_inline_submission_leaves_no_plan_behind(engine: EngineUnderTest) -> None:
    needs_input = INLINE.replace("inline-demo", "needs-input").replace(
        "nodes:", "inputs:\n  city: {type: string}\nnodes:"
    )
    with pytest.raises(InvalidArgument, match="city"):
        await engine.client.submit(
            owner="alice", goal="x", budget=pb.Budget(seconds=9), plan_yaml=needs_input
        )
    assert "needs-input" not in {p.plan_id for p in await engine.client.list_plans()}


async def test_selection_rules_choose_and_are_recorded(engine: EngineUnderTest) -> None:
    task = await engine.client.submit(owner="alice", goal="anything", budget=pb.Budget(seconds=9))
    assert (task.plan_id, task.plan_rule) == ("noop", "default")
    events = await engine.events(task.task_id)
    created = next(p for t, _, p in events if t == "task.created")
    assert created["plan_rule"] == "default"


async def test_listing_tasks_pages_newest_first(engine: EngineUnderTest) -> None:
    ids = [(await engine.submit("chain3", owner="carol")).task_id for _ in range(5)]
    first = await engine.client.list_tasks(owner="carol", limit=3)
    second = await engine.client.list_tasks(owner="carol", limit=3, cursor=first.next_cursor)
    assert [t.task_id for t in first.tasks] + [t.task_id for t in second.tasks] == ids[::-1]
    assert second.next_cursor == ""
    with pytest.raises(InvalidArgument, match="RUNING"):
        await engine.client.list_tasks(states=["RUNING"])


async def test_plans_are_listed_and_shown(engine: EngineUnderTest) -> None:
    plans = {p.plan_id: p for p in await engine.client.list_plans()}
    assert {"noop", "echo", "chain3"} <= set(plans)
    assert [n.id for n in plans["chain3"].nodes] == ["a", "b", "c"]
    got = await engine.client.get_plan("chain3")
    assert "id: chain3" in got.text
    info = await engine.client.validate_plan(INLINE, "inline.yaml")
    assert info.plan_id == "inline-demo"


async def test_the_system_trace_follows_its_schema(engine: EngineUnderTest) -> None:
    task = await engine.submit("flaky")
    await engine.wait_state(task.task_id, {"COMPLETED"})
    path = engine.settings.tasks_dir / task.task_id / "system_trace.json"
    doc = json.loads(path.read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(doc)
    assert doc["state"]["final"] == "COMPLETED"
    assert [t["to"] for t in doc["transitions"]] == ["QUEUED", "RUNNING", "COMPLETED"]
    call = next(n for n in doc["nodes"] if n["id"] == "call")
    assert (call["status"], call["attempt"]) == ("completed", 3)
    events = await engine.events(task.task_id)
    written = next(p for t, _, p in events if t == "task.system_trace_written")
    _, data = await engine.store.client.get_blob(task.task_id, written["blob_id"])
    assert json.loads(data) == doc
    assert json_of((await engine.client.get(task.task_id)).task.result_json)["after"]["n"] == 1


def test_documents_of_every_schema_version_stay_valid() -> None:
    """SPEC invariant 7: later versions of system_trace.json only add fields, so a document
    written under version 1 (kept in tests/engine/data) validates against the current schema."""
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((Path(__file__).parent / "data").glob("system_trace.v*.json")):
        validator.validate(json.loads(path.read_text()))
    old = json.loads((Path(__file__).parent / "data" / "system_trace.v1.json").read_text())
    assert set(schema["required"]) <= set(old)  # nothing required that version 1 lacked


async def test_a_registered_agent_class_runs_in_a_plan(
    database: Database, tmp_path: Path, store: Store
) -> None:
    engine = await start_engine(
        database, tmp_path, store, AGENTLEDGER_AGENTS="shout=tests.engine.callables:Shout"
    )
    try:
        plan = INLINE.replace("inline-demo", "shouting").replace(
            'agent: python, config: {callable: "tests.engine.callables:record"}',
            "agent: shout, config: {word: hello}",
        )
        task = await engine.client.submit(
            owner="alice", goal="shout", budget=pb.Budget(seconds=30), plan_yaml=plan
        )
        done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
        assert done.state == "COMPLETED", done.failure_message
        assert json_of(done.result_json) == {"only": {"said": "HELLO"}}
    finally:
        await engine.close()


async def test_the_sweeper_relays_events_no_worker_will(engine: EngineUnderTest) -> None:
    """E.g. the final step of a run that ended while trace_store was away."""
    task = await engine.submit("chain3")
    await engine.wait_state(task.task_id, {"COMPLETED"})
    store = engine.built.store
    orphan = OutboxEvent(new_event_id(), "test.late", {"n": 1}, time_ns=1)

    def write() -> None:
        with store.write() as tx:
            store.record(tx, task.task_id, None, [orphan], 1)

    write()
    while engine.built.pool.running:  # the run finishes its last transaction
        await asyncio.sleep(0)
    assert await engine.built.pool.sweep(quiet_ns=0) == 1
    events = await engine.events(task.task_id)
    assert events[-1][0] == "test.late", [e[0] for e in events[-6:]]
    assert store.pending_events(task.task_id, 10) == []
    assert await engine.built.pool.sweep(quiet_ns=0) == 0
