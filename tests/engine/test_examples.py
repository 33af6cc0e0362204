"""The example plans in examples/, end to end on a real engine (SQLite and PostgreSQL): the data
question and its answers, a real C build verified by command agents, and the llm agent against
the fake OpenAI-compatible server and without any endpoint."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database, Store
from tests.engine.fake_llm import FakeServer
from tests.engine.harness import TERMINAL, EngineUnderTest, start_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STUCK_S = 10  # every example ends within a second or two
Start = Callable[..., Awaitable[EngineUnderTest]]


def command_path(*first: Path) -> str:
    """The PATH commands get, as under `agentledger up` from an activated venv: `first`, the
    venv (python3 from a version-manager shim costs ~0.4 s a call), then the system's."""
    dirs = [*first, Path(sys.executable).parent]
    return os.pathsep.join([*map(str, dirs), os.environ["PATH"]])


@pytest.fixture
async def start(database: Database, tmp_path: Path, store: Store) -> AsyncIterator[Start]:
    """Starts an engine over the example plans, with the caller's settings on top."""
    started: list[EngineUnderTest] = []

    async def _start(**overrides: str) -> EngineUnderTest:
        env = {"AGENTLEDGER_ENGINE_PLAN_DIRS": str(EXAMPLES), "PATH": command_path()}
        e = await start_engine(database, tmp_path, store, **(env | overrides))
        started.append(e)
        return e

    yield _start
    for e in started:
        await e.close()


async def run_to(e: EngineUnderTest, plan: str, state: str, **inputs: Any) -> Any:
    task = await e.submit(plan, inputs, seconds=60)
    # A safety net, not a timing: a worker that dies mid-task would leave the wait hanging.
    async with asyncio.timeout(STUCK_S):
        done = await e.wait_state(task.task_id, {state, *TERMINAL})
    assert done.state == state, (done.state, done.failure_type, done.failure_message)
    return done


async def resume_to_end(e: EngineUnderTest, task_id: str, **values: Any) -> Any:
    """Answers a waiting task; its end state (the stream replays the earlier pause, so only an
    end state is a safe thing to wait for)."""
    await e.client.resume(task_id, input=values)
    async with asyncio.timeout(STUCK_S):
        return await e.wait_state(task_id, TERMINAL)


def counts(events: list[tuple[str, str, dict[str, Any]]], type: str) -> Counter[str]:
    return Counter(node for t, node, _ in events if t == type)


def completed(events: list[tuple[str, str, dict[str, Any]]], node: str) -> dict[str, Any]:
    [payload] = [p for t, n, p in events if t == "node.completed" and n == node]
    return payload


def strings(value: Any) -> list[str]:
    """Every string inside a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for v in value for s in strings(v)] if isinstance(value, list | tuple) else []


def artifact(e: EngineUnderTest, task_id: str, node: str, name: str) -> str:
    return (e.settings.tasks_dir / task_id / "artifacts" / node / name).read_text()


# --- data-cleanup -----------------------------------------------------------------------------

ALL_NODES = ["validate", "clean", "aggregate", "report", "verify"]


@pytest.mark.parametrize(
    ("answer", "kept", "total", "per_customer", "per_month"),
    [
        (
            {"drop_invalid": True},
            33,
            "3627.90",
            {"Acme Corp": "794.95", "Globex": "1024.05", "Initech": "1161.40",
             "Stark Industries": "250.55", "Umbrella Health": "396.95"},
            {"2024-01": "717.05", "2024-02": "589.10", "2024-03": "2321.75"},
        ),
        (
            {"csv_path": "examples/data_cleanup/data/orders_corrected.csv"},
            36,
            "3701.40",
            {"Acme Corp": "845.95", "Globex": "1024.05", "Initech": "1183.90",
             "Stark Industries": "250.55", "Umbrella Health": "396.95"},
            {"2024-01": "729.05", "2024-02": "650.60", "2024-03": "2321.75"},
        ),
    ],
    ids=["drop_invalid", "corrected_file"],
)  # fmt: skip
async def test_data_cleanup_asks_about_bad_rows_then_finishes(
    start: Start,
    answer: dict[str, Any],
    kept: int,
    total: str,
    per_customer: dict[str, str],
    per_month: dict[str, str],
) -> None:
    e = await start()
    task = await run_to(e, "data-cleanup", "WAITING_INPUT")
    pending = json.loads(task.pending_json)
    assert pending["node_id"] == "validate" and pending["rule"] == "DataIssue"
    for line, problem in [(9, "amount '12.O0' is not a number"), (18, "order_id '' is empty"),
                          (23, "order_date '2024-02-30' is not a valid")]:  # fmt: skip
        assert f"line {line}: {problem}" in pending["question"]
    assert "drop_invalid=true" in pending["question"]
    errors = pending["evidence"]["signals"]["validation_errors"]
    assert [(x["line"], x["column"]) for x in errors] == [
        (9, "amount"), (18, "order_id"), (23, "order_date")
    ]  # fmt: skip

    done = await resume_to_end(e, task.task_id, **answer)
    assert done.state == "COMPLETED", done.failure_message
    tid = task.task_id
    rows = list(csv.DictReader(artifact(e, tid, "clean", "orders.clean.csv").splitlines()))
    assert len(rows) == kept
    assert {r["customer"] for r in rows} == set(per_customer)  # " Acme Corp " was trimmed
    assert all(r["amount"].count(".") == 1 and len(r["amount"].split(".")[1]) == 2 for r in rows)
    assert json.loads(artifact(e, tid, "aggregate", "aggregates.json")) == {
        "orders": kept, "total_amount": total, "per_customer": per_customer, "per_month": per_month
    }  # fmt: skip
    report = artifact(e, tid, "report", "report.md")
    assert f"**Total: {total}** over {kept} orders." in report
    assert ("| 23 | order_date | `2024-02-30` |" in report) == (kept == 33)
    assert json.loads(done.result_json) == {"verify": {"problems": [], "rows_checked": kept}}

    events = await e.events(tid)
    verify = completed(events, "verify")
    assert verify["verified"] is True
    assert verify["claims"] == {"orders": kept, "total_amount": total}
    # Only the node that failed on its data ran again; nothing that completed ran twice.
    assert counts(events, "node.started") == {"validate": 2} | {n: 1 for n in ALL_NODES[1:]}
    assert counts(events, "node.completed") == dict.fromkeys(ALL_NODES, 1)


# --- build-verify -----------------------------------------------------------------------------


BUILD_NODES = ["stage", "compile", "unit-tests", "acceptance"]


async def test_build_verify_compiles_tests_and_verifies(start: Start) -> None:
    e = await start()
    task = await run_to(e, "build-verify", "COMPLETED")
    events = await e.events(task.task_id)
    acceptance = completed(events, "acceptance")
    assert acceptance["verified"] is True
    assert acceptance["claims"] == {"acceptance_cases": 13, "acceptance_passed": 13}
    assert acceptance["output"]["result"]["mismatches"] == []
    assert "Ran 7 tests" in artifact(e, task.task_id, "unit-tests", "stderr.txt")
    assert "13/13 acceptance cases pass" in artifact(e, task.task_id, "acceptance", "stdout.txt")
    assert (e.settings.tasks_dir / task.task_id / "work" / "build" / "rpn").is_file()
    assert counts(events, "node.started") == dict.fromkeys(BUILD_NODES, 1)


async def test_build_verify_a_breaking_patch_fails_its_unit_tests(start: Start) -> None:
    e = await start()
    patch = "examples/build_verify/patches/swap-subtraction.patch"
    task = await run_to(e, "build-verify", "FAILED", patch=patch)
    assert task.failure_type == "execution_issue"
    assert "'unit-tests'" in task.failure_message and "exited with 1" in task.failure_message
    events = await e.events(task.task_id)
    assert "FAIL: test_operand_order" in artifact(e, task.task_id, "unit-tests", "stderr.txt")
    assert counts(events, "node.started") == {"stage": 1, "compile": 1, "unit-tests": 1}


async def test_build_verify_a_stale_patch_is_a_question_then_builds(start: Start) -> None:
    e = await start()
    patch = "examples/build_verify/patches/stale.patch"
    task = await run_to(e, "build-verify", "WAITING_INPUT", patch=patch)
    pending = json.loads(task.pending_json)
    assert pending["node_id"] == "stage"
    assert "patch stale.patch does not apply to rpn" in pending["question"]
    done = await resume_to_end(e, task.task_id, patch="")
    assert done.state == "COMPLETED", done.failure_message
    events = await e.events(task.task_id)
    assert counts(events, "node.started")["stage"] == 2
    assert counts(events, "node.completed") == dict.fromkeys(BUILD_NODES, 1)
    assert completed(events, "acceptance")["verified"] is True


async def test_build_verify_a_broken_gcc_degrades_to_cc(start: Start, tmp_path: Path) -> None:
    bin_dir = tmp_path / "broken-gcc"
    bin_dir.mkdir()
    gcc = bin_dir / "gcc"
    gcc.write_text("#!/bin/sh\necho \"gcc: fatal error: cannot execute 'cc1'\" >&2\nexit 1\n")
    gcc.chmod(0o755)
    e = await start(PATH=command_path(bin_dir))
    task = await run_to(e, "build-verify", "COMPLETED")
    assert task.degrade_count == 1
    events = await e.events(task.task_id)
    decisions = [(p["action"], p.get("variant", "")) for t, n, p in events
                 if t == "governance.decision" and n == "compile"]  # fmt: skip
    assert [a for a, _ in decisions] == ["retry", "degrade", "continue"]
    assert decisions[1][1] == "cc"
    assert [p["variant"] for t, n, p in events if t == "node.started" and n == "compile"] == [
        "primary", "primary", "cc"
    ]  # fmt: skip
    assert completed(events, "acceptance")["verified"] is True


# --- llm-brief --------------------------------------------------------------------------------

BRIEF = (
    "- Checkout latency incident on 14 March, 09:12-10:47 UTC: 4,100 customers saw errors.\n"
    "- Root cause: an unindexed query on price_rules.region_id.\n"
    "- Actions: add the index (pricing), production-size load tests (platform)."
)


async def test_llm_brief_with_an_endpoint(start: Start) -> None:
    with FakeServer() as server:
        server.reply = BRIEF
        e = await start(
            AGENTLEDGER_LLM_PROVIDERS=f"fake={server.base_url}/v1;model=brief-model",
            AGENTLEDGER_LLM_PRICES='{"brief-model": {"in": 0.5, "out": 1.5}}',
        )
        task = await run_to(e, "llm-brief", "COMPLETED")
    [request] = server.requests
    prompt = request.json()["messages"][-1]["content"]
    assert "Title: Postmortem: checkout latency incident, 14 March" in prompt
    assert "price_rules.region_id" in prompt
    tokens_in = len(request.json()["messages"][0]["content"].split()) + len(prompt.split())
    tokens_out = len(BRIEF.split())
    assert (task.cost.tokens_in, task.cost.tokens_out) == (tokens_in, tokens_out)
    assert task.cost.usd == pytest.approx((tokens_in * 0.5 + tokens_out * 1.5) / 1000)
    events = await e.events(task.task_id)
    [call] = [p for t, _, p in events if t == "llm.call"]
    assert call["tokens_in"] == tokens_in and call["prompt_chars"] == len(prompt)
    assert call["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    assert not any(prompt in text for text in strings(events))  # the prompt is never stored
    assert completed(events, "publish")["verified"] is True
    brief = artifact(e, task.task_id, "publish", "brief.md")
    assert brief.startswith("# Brief: Postmortem: checkout latency incident") and BRIEF in brief


async def test_llm_brief_without_an_endpoint_says_what_to_set(start: Start) -> None:
    e = await start()
    task = await run_to(e, "llm-brief", "FAILED")
    assert task.failure_type == "spec_issue"
    assert "the llm agent needs an endpoint: set AGENTLEDGER_LLM_PROVIDERS" in task.failure_message
    events = await e.events(task.task_id)
    assert counts(events, "node.started") == {"read": 1, "brief": 1}  # a spec issue never retries
