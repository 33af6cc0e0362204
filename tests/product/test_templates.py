"""SPEC 3.3 templates and re-runs: what a template keeps (never an input value), which tasks
can make one, and the checks a run's inputs pass before the engine sees them."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from agentledger.core.errors import FailedPrecondition, InvalidArgument
from services.engine.domain.plan import Plan
from services.engine.domain.plan_loader import load_plan
from services.product.domain.records import TemplateField
from services.product.domain.templates import from_task, inputs_for_run, rerun_inputs

SECRET = "sk-live-4f9a1c2e7b3d"
PLAN_YAML = textwrap.dedent(
    """\
    id: cleanup
    version: 3
    description: Cleans rows.
    default_mode: thorough
    inputs:
      rows: {type: integer, required: true, description: How many rows to keep.}
      threshold: {type: number}
      api_token: {type: string, required: true, sensitive: true}
      label: {type: string, default: weekly}
      tags: {type: array, required: false}
      options: {type: object, required: false}
      source: {type: file, required: false}
      dry_run: {type: boolean, required: false}
    nodes:
      - id: fetch
        phase: spec
        agent: python
        config: {callable: "x:fetch"}
        variants:
          - {name: cheap, kind: degraded, success_proxy: 0.6}
      - id: clean
        phase: build
        agent: python
        config: {callable: "x:clean"}
        depends_on: [fetch]
    """
)
PLAN: Plan = load_plan(PLAN_YAML, source="<test>", known_agents=None)
FIELDS = (
    TemplateField("rows", "integer", description="How many rows to keep."),
    TemplateField("threshold", "number"),
    TemplateField("api_token", "string", sensitive=True),
    TemplateField("label", "string", required=False),
    TemplateField("tags", "array", required=False),
    TemplateField("options", "object", required=False),
    TemplateField("source", "file", required=False),
    TemplateField("dry_run", "boolean", required=False),
)
WHAT = "template tpl-1"


def task(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "task_id": "t-1",
        "goal": "clean the orders with [redacted:api_key:1a2b3c4d]",
        "mode": "fast",
        "budget": {"tokens": 5000, "usd": 0.5},
        "priority": 3,
        "state": "COMPLETED",
        "plan_id": "cleanup",
        "plan_version": 3,
        # What a careless caller might pass along: the template must not pick any of it up.
        "inputs": {"api_token": SECRET, "rows": 10, "threshold": 0.5},
    }
    return base | kw


def make(name: str = "", **kw: Any) -> Any:
    args: dict[str, Any] = {
        "template_id": "tpl-1",
        "name": name,
        "owner": "alice",
        "tenant": "acme",
        "task": task(),
        "plan": PLAN,
        "plan_yaml": "",
        "nodes": [{"node_id": "fetch", "variant": "cheap"}, {"node_id": "clean", "variant": ""}],
        "now_ns": 1_700_000_000_000_000_000,
    }
    return from_task(**(args | kw))


# ---------------------------------------------------------------- from_task


def test_a_template_keeps_the_plan_policy_and_the_fields() -> None:
    t = make()
    assert (t.template_id, t.owner, t.tenant, t.source_task_id) == ("tpl-1", "alice", "acme", "t-1")
    assert t.name == "cleanup from t-1"
    assert t.goal == "clean the orders with [redacted:api_key:1a2b3c4d]"
    assert (t.plan_id, t.plan_version, t.plan_yaml) == ("cleanup", 3, "")
    assert (t.default_mode, t.priority) == ("fast", 3)
    assert (t.budget_tokens, t.budget_usd, t.budget_seconds) == (5000, 0.5, None)
    assert t.input_fields == FIELDS
    assert t.degrade == {"fetch": "cheap"}
    assert t.created_ns == 1_700_000_000_000_000_000


def test_a_template_never_holds_an_input_value() -> None:
    t = make(task=task(inputs={"api_token": SECRET, "label": SECRET}), plan_yaml=PLAN_YAML)
    assert SECRET not in repr(t)
    assert "weekly" not in repr(t.input_fields)  # not even the plan's defaults


def test_mode_falls_back_to_the_plan_and_budget_to_unlimited() -> None:
    t = make(task=task(mode="", budget=None, priority=None))
    assert t.default_mode == "thorough"
    assert (t.budget_tokens, t.budget_usd, t.budget_seconds) == (None, None, None)
    assert t.priority == 0
    t = make(task=task(budget={"seconds": 90, "tokens": None}), plan_yaml=PLAN_YAML)
    assert (t.budget_tokens, t.budget_seconds, t.plan_yaml) == (None, 90.0, PLAN_YAML)


@pytest.mark.parametrize("state", ["COMPLETED", "FAILED", "CANCELLED"])
def test_an_ended_task_makes_a_template(state: str) -> None:
    assert make(task=task(state=state)).source_task_id == "t-1"


@pytest.mark.parametrize("state", ["RUNNING", "PENDING", "WAITING_INPUT", "PAUSED"])
def test_a_task_that_has_not_ended_is_refused(state: str) -> None:
    with pytest.raises(FailedPrecondition) as e:
        make(task=task(state=state))
    assert str(e.value).startswith(
        f"task t-1 is {state}: a template is made from a task that has ended"
    )


def test_names_are_checked() -> None:
    assert make("  weekly cleanup ").name == "weekly cleanup"
    assert make("x" * 200).name == "x" * 200
    with pytest.raises(InvalidArgument, match="201 characters long; use at most 200"):
        make("x" * 201)
    for bad in ("two\nlines", "bell\x07", "line\u2028separator"):
        with pytest.raises(InvalidArgument, match="control characters"):
            make(bad)


def test_degrade_keeps_only_variants_the_plan_declares() -> None:
    assert make(nodes=[{"node_id": "clean", "variant": "primary"}]).degrade == {}
    with pytest.raises(InvalidArgument, match="variant 'gone', which plan cleanup@3 does not"):
        make(nodes=[{"node_id": "fetch", "variant": "gone"}])
    with pytest.raises(InvalidArgument, match="ran plan cleanup@2, not cleanup@3"):
        make(task=task(plan_version=2))


# ---------------------------------------------------------------- inputs_for_run

GOOD = {"rows": 10, "threshold": 0.5, "api_token": "tok"}


def test_good_inputs_pass_as_given() -> None:
    full = GOOD | {
        "threshold": 1,  # an int is a number
        "label": "x",
        "tags": ["a"],
        "options": {"k": 1},
        "source": "a.csv",
        "dry_run": False,
    }
    assert inputs_for_run(FIELDS, full, what=WHAT) == full
    assert inputs_for_run(FIELDS, GOOD | {"label": None}, what=WHAT) == GOOD | {"label": None}


def test_every_missing_required_input_is_named() -> None:
    with pytest.raises(InvalidArgument) as e:
        inputs_for_run(FIELDS, {"api_token": "tok", "threshold": None}, what=WHAT)
    assert str(e.value) == "template tpl-1: missing required input(s) 'rows', 'threshold'"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("rows", "10", "input 'rows' must be an integer, got str"),
        ("rows", True, "input 'rows' must be an integer, got bool"),
        ("rows", 1.5, "input 'rows' must be an integer, got float"),
        ("threshold", False, "input 'threshold' must be a number, got bool"),
        ("api_token", 42, "input 'api_token' must be a string, got int"),
        ("tags", "a,b", "input 'tags' must be an array, got str"),
        ("options", [1], "input 'options' must be an object, got list"),
        ("source", 7, "input 'source' must be a file, got int"),
        ("dry_run", "yes", "input 'dry_run' must be a boolean, got str"),
    ],
)
def test_a_wrong_type_is_named(name: str, value: Any, needle: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        inputs_for_run(FIELDS, GOOD | {name: value}, what=WHAT)
    assert str(e.value) == f"{WHAT}: {needle}"


def test_unknown_inputs_are_named_with_the_declared_ones() -> None:
    with pytest.raises(InvalidArgument) as e:
        inputs_for_run(FIELDS, GOOD | {"rowz": 1, "extra": 2}, what=WHAT)
    assert str(e.value) == (
        "template tpl-1: input(s) 'extra', 'rowz' are not declared by its plan; it takes 'rows',"
        " 'threshold', 'api_token', 'label', 'tags', 'options', 'source', 'dry_run'"
    )


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as e:
        inputs_for_run(FIELDS, {"rows": "x", "nope": 1, "threshold": 1}, what=WHAT)
    message = str(e.value)
    for needle in ("missing required input(s) 'api_token'", "'rows' must be", "'nope'"):
        assert needle in message


def test_a_plan_without_inputs_takes_any_as_the_engine_does() -> None:
    assert inputs_for_run((), {"anything": 1}, what=WHAT) == {"anything": 1}


# ---------------------------------------------------------------- rerun_inputs


def test_a_rerun_carries_public_inputs_and_overlays_the_given() -> None:
    earlier = {"rows": 10, "threshold": 0.5, "api_token": "[redacted:sensitive:0a1b2c3d]"}
    got = rerun_inputs(FIELDS, earlier, {"api_token": "fresh", "rows": 20}, what="task t-1")
    assert got == {"rows": 20, "threshold": 0.5, "api_token": "fresh"}


def test_a_sensitive_input_must_be_given_again() -> None:
    earlier = {"rows": 10, "threshold": 0.5, "api_token": SECRET}
    with pytest.raises(InvalidArgument) as e:
        rerun_inputs(FIELDS, earlier, {}, what="task t-1")
    assert str(e.value) == (
        "task t-1: missing required input(s)"
        " 'api_token' (sensitive inputs are not kept: give it again)"
    )
    assert SECRET not in str(e.value)


def test_a_value_the_redaction_policy_masked_is_not_carried() -> None:
    earlier = {
        "rows": 10,
        "threshold": 0.5,
        "tags": ["ok", "[redacted:github_token:0a1b2c3d]"],
        "label": "weekly",
    }
    got = rerun_inputs(FIELDS, earlier, {"api_token": "t"}, what="task t-1")
    assert got == {"rows": 10, "threshold": 0.5, "label": "weekly", "api_token": "t"}
    note = (TemplateField("note"),)
    with pytest.raises(InvalidArgument, match="'note' \\(its earlier value was redacted"):
        rerun_inputs(note, {"note": "key [redacted:api_key:0a1b2c3d]"}, {}, what="task t-1")
