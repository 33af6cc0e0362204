"""The engine end to end over gRPC: submit, run, checkpoints, events, control requests."""

from __future__ import annotations

import pytest

from agentledger.core.errors import FailedPrecondition, InvalidArgument, NotFound
from agentledger.engine.v1 import engine_pb2 as pb
from services.trace_store.client import payload
from tests.engine.harness import EngineUnderTest


async def test_a_chain_runs_to_completion_with_its_trace(engine: EngineUnderTest) -> None:
    task = await engine.submit("chain3")
    assert task.state in ("QUEUED", "RUNNING", "COMPLETED")
    assert task.plan_rule == "explicit"
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED", done.failure_message
    events = await engine.events(task.task_id)
    types = [t for t, _, _ in events]
    states = [p["to"] for t, _, p in events if t == "task.state_changed"]
    assert states == ["QUEUED", "RUNNING", "COMPLETED"]
    assert types[0] == "task.created"
    # Every node's completion is recorded before its dependent starts.
    order = [(t, n) for t, n, _ in events if t in ("node.started", "node.completed")]
    assert order == [
        ("node.started", "a"),
        ("node.completed", "a"),
        ("node.started", "b"),
        ("node.completed", "b"),
        ("node.started", "c"),
        ("node.completed", "c"),
    ]
    decisions = [p for t, _, p in events if t == "governance.decision"]
    assert [d["action"] for d in decisions] == ["continue"] * 3
    assert all(d["rule"] and d["rule_version"] for d in decisions)
    got = await engine.client.get(task.task_id)
    assert [n.status for n in got.nodes] == ["completed"] * 3
    assert b'"n":3' in got.task.result_json
    summary = await engine.store.client.get_summary(task.task_id)
    assert summary.state == "COMPLETED" and summary.plan_id == "chain3"
    trace = engine.settings.tasks_dir / task.task_id / "system_trace.json"
    assert trace.is_file() and (trace.parent / "artifacts").is_dir()


async def test_a_tool_error_is_retried_then_succeeds(engine: EngineUnderTest) -> None:
    task = await engine.submit("flaky")
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED", done.failure_message
    events = await engine.events(task.task_id)
    actions = [(n, p["action"]) for t, n, p in events if t == "governance.decision"]
    assert actions == [
        ("call", "retry"),
        ("call", "retry"),
        ("call", "continue"),
        ("after", "continue"),
    ]
    failed = [p for t, _, p in events if t == "node.failed"]
    assert failed[0]["failure"]["kind"] == "tool_issue"
    assert failed[0]["failure"]["signals"] == {"http_status": 503}


async def test_a_human_node_waits_for_input_then_resumes(engine: EngineUnderTest) -> None:
    task = await engine.submit("ask")
    waiting = await engine.wait_state(task.task_id, {"WAITING_INPUT", "FAILED"})
    assert waiting.state == "WAITING_INPUT"
    with pytest.raises(InvalidArgument, match="approved"):
        await engine.client.resume(task.task_id, input={"other": 1})
    await engine.client.resume(task.task_id, actor="bob", input={"approved": True})
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED", done.failure_message
    log = (engine.settings.tasks_dir / task.task_id / "work" / "runs.log").read_text().split()
    assert log == ["prepare", "ship"]  # the completed node did not run again


async def test_a_data_issue_becomes_a_question_then_recovers(engine: EngineUnderTest) -> None:
    task = await engine.submit("rows", {"rows": [1, "x", 3]})
    waiting = await engine.wait_state(task.task_id, {"WAITING_INPUT", "FAILED"})
    assert waiting.state == "WAITING_INPUT", waiting.failure_message
    assert b"rows" in waiting.pending_json
    await engine.client.resume(task.task_id, input={"rows": [1, 2, 3]})
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "COMPLETED"
    assert b'"sum":6' in done.result_json


async def test_a_timeout_is_a_tool_failure_naming_it(engine: EngineUnderTest) -> None:
    task = await engine.submit("too_slow")
    done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
    assert done.state == "FAILED"
    assert done.failure_type == "tool_issue"
    events = await engine.events(task.task_id)
    failure = next(p["failure"] for t, _, p in events if t == "node.failed")
    assert "timed out after 0.2s" in failure["message"]


async def test_cancel_stops_a_running_node(engine: EngineUnderTest) -> None:
    task = await engine.submit("blocker")
    await engine.wait_state(task.task_id, {"RUNNING"})
    async for msg in engine.store.client.stream_events(task.task_id):
        if msg.HasField("batch") and any(
            e.type == "node.started" and e.node_id == "wait" for e in msg.batch.events
        ):
            break
    await engine.client.cancel(task.task_id, actor="alice", reason="changed my mind")
    done = await engine.wait_state(task.task_id, {"CANCELLED", "FAILED", "COMPLETED"})
    assert done.state == "CANCELLED"
    events = await engine.events(task.task_id)
    assert ("node.cancelled", "wait") in [(t, n) for t, n, _ in events]
    last = [p for t, _, p in events if t == "task.state_changed"][-1]
    assert last["reason"] == "changed my mind"
    with pytest.raises(FailedPrecondition, match="already ended"):
        await engine.client.cancel(task.task_id)


async def test_bad_submissions_are_refused_by_name(engine: EngineUnderTest) -> None:
    with pytest.raises(NotFound, match="nope"):
        await engine.submit("nope")
    with pytest.raises(InvalidArgument, match="budget"):
        await engine.submit("chain3", budget=pb.Budget())
    with pytest.raises(InvalidArgument, match=r"budget\.seconds"):
        await engine.submit("chain3", budget=pb.Budget(seconds=-1))
    with pytest.raises(InvalidArgument, match="rows"):
        await engine.submit("rows", {})
    with pytest.raises(NotFound):
        await engine.client.get("tsk_missing")
    with pytest.raises(InvalidArgument, match="phase"):
        await engine.client.validate_plan(
            "id: x\nversion: 1\nnodes:\n  - {id: a, phase: biuld, agent: python, config: {}}\n"
        )


async def test_a_data_pause_may_resume_without_input(engine: EngineUnderTest) -> None:
    """The data may have been fixed where it lives: resuming runs the node again as it is."""
    task = await engine.submit("rows", {"rows": [1, "x"]})
    await engine.wait_state(task.task_id, {"WAITING_INPUT"})
    page = await engine.store.client.list_events(task.task_id, limit=1000)
    await engine.client.resume(task.task_id, actor="alice")
    async for msg in engine.store.client.stream_events(task.task_id, page.next_cursor):
        if msg.HasField("batch") and any(
            e.type == "task.state_changed" and payload(e)["to"] == "WAITING_INPUT"
            for e in msg.batch.events
        ):
            break
    log = (engine.settings.tasks_dir / task.task_id / "work" / "runs.log").read_text().split()
    assert log == ["sum", "sum"]  # asked again: the same rows fail the same way
