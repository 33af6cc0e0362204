"""Plans: the YAML loader and its messages, the catalog of versions, and rule-based selection."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agentledger.core.errors import Conflict, InvalidArgument, NotFound
from services.engine.domain import builtin_callables
from services.engine.domain.plan import Estimates, Plan, RetryPolicy
from services.engine.domain.plan_catalog import BUILTIN_PLANS_DIR, PlanCatalog
from services.engine.domain.plan_loader import SCHEMA_PATH, load_plan, load_plan_file
from services.engine.domain.plan_selection import (
    BUILTIN_RULES_PATH,
    SelectionRules,
    TaskAttributes,
    explicit,
    parse_plan_ref,
)

AGENTS = {"python", "command", "http", "llm", "human"}

FULL = """\
id: data-cleanup
version: 2
description: Cleans a CSV file.
default_mode: thorough
inputs:
  csv_path: {type: file, description: the file to clean}
  limit: {type: integer, default: 10}
  token: {type: string, sensitive: true, required: false}
subgoals:
  - {id: clean, description: rows are valid, nodes: [validate]}
  - {id: report, description: a summary exists}
governance: {min_success_proxy: 0.6, degrade_at_budget_fraction: 0.7, on_conflict: fail}
nodes:
  - id: summarize
    phase: verify
    agent: llm
    depends_on: [fix]
    subgoal: report
  - id: validate
    phase: spec
    agent: python
    config: {callable: "examples.csv:validate"}
    estimates: {latency_s: 0.5, tokens: 10, usd: 0.01}
    retry: {max_attempts: 3, backoff_s: 0.5, max_backoff_s: 30}
    timeout_s: 60
    risk: 0.1
    success_proxy: 0.9
    variants:
      - {name: cheap, kind: degraded, estimates: {latency_s: 0.1}, success_proxy: 0.6}
      - {name: remote, kind: alternative, agent: http, config: {url: "http://x"}, risk: 0.3}
  - id: fix
    phase: build
    agent: command
    depends_on: [validate]
    subgoal: clean
"""


def load(text: str, source: str = "data/x.yaml") -> Plan:
    return load_plan(textwrap.dedent(text), source=source, known_agents=AGENTS)


def error_of(text: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        load(text)
    return caught.value.message


def chain(*nodes: tuple[str, list[str]]) -> str:
    """A minimal plan text with the given (id, depends_on) nodes."""
    lines = ["id: p", "version: 1", "nodes:"]
    for node_id, deps in nodes:
        lines.append(f"  - {{id: {node_id}, phase: build, agent: python, depends_on: {deps}}}")
    return "\n".join(lines) + "\n"


# --- loading a valid plan ---------------------------------------------------------------------


def test_a_full_plan_loads_with_every_field() -> None:
    plan = load(FULL)
    assert (plan.id, plan.version, plan.ref) == ("data-cleanup", 2, "data-cleanup@2")
    assert plan.description == "Cleans a CSV file."
    assert plan.default_mode == "thorough"
    assert plan.source == "data/x.yaml"
    assert [n.id for n in plan.nodes] == ["validate", "fix", "summarize"]
    validate = plan.node("validate")
    assert validate.phase == "spec"
    assert validate.config == {"callable": "examples.csv:validate"}
    assert validate.estimates == Estimates(latency_s=0.5, tokens=10, usd=0.01)
    assert validate.retry == RetryPolicy(max_attempts=3, backoff_s=0.5, max_backoff_s=30.0)
    assert (validate.timeout_s, validate.risk, validate.success_proxy) == (60.0, 0.1, 0.9)
    assert plan.node("fix").depends_on == ("validate",)
    assert plan.node("fix").timeout_s == 300.0
    assert plan.governance.min_success_proxy == 0.6
    assert plan.governance.on_conflict == "fail"


def test_variants_inherit_what_they_do_not_override() -> None:
    validate = load(FULL).node("validate")
    cheap, remote = validate.variants
    assert (cheap.kind, cheap.agent, cheap.config) == ("degraded", "python", validate.config)
    assert cheap.estimates == Estimates(latency_s=0.1, tokens=10, usd=0.01)
    assert (cheap.risk, cheap.success_proxy) == (0.1, 0.6)
    assert (remote.agent, remote.config, remote.risk) == ("http", {"url": "http://x"}, 0.3)
    assert remote.estimates == validate.estimates
    assert validate.variant("primary") == validate.primary()
    assert validate.variant("remote") is remote


def test_inputs_and_subgoals_are_read_from_both_sides() -> None:
    plan = load(FULL)
    inputs = {f.name: f for f in plan.inputs}
    assert inputs["csv_path"].type == "file" and inputs["csv_path"].required
    assert inputs["limit"].default == 10 and not inputs["limit"].required  # a default: optional
    assert inputs["token"].sensitive and not inputs["token"].required
    goals = {g.id: g for g in plan.subgoals}
    assert goals["clean"].nodes == ("validate", "fix")  # listed by the subgoal, and named by fix
    assert goals["report"].nodes == ("summarize",)
    assert plan.node("validate").subgoal == "clean"


def test_minimal_plan_takes_the_documented_defaults() -> None:
    plan = load("id: p\nversion: 1\nnodes: [{id: a, phase: build, agent: python}]\n")
    node = plan.nodes[0]
    assert node.config == {} and node.depends_on == () and node.variants == ()
    assert node.estimates == Estimates() and node.retry == RetryPolicy()
    assert plan.default_mode == "balanced" and plan.inputs == () and plan.subgoals == ()


def test_topological_order_breaks_ties_by_declaration_order() -> None:
    text = chain(("d", ["b", "c"]), ("c", ["a"]), ("b", []), ("a", []), ("e", []))
    assert [n.id for n in load(text).nodes] == ["b", "a", "c", "d", "e"]


def test_digest_ignores_comments_layout_and_key_order() -> None:
    plain = load(FULL)
    noisy = load("# a comment\n\n" + FULL.replace("version: 2", "version:    2   # bumped"))
    reordered = load(
        FULL.replace("id: data-cleanup\nversion: 2\n", "version: 2\nid: data-cleanup\n")
    )
    assert plain.digest == noisy.digest == reordered.digest
    assert len(plain.digest) == 64
    assert load(FULL.replace("risk: 0.1", "risk: 0.2")).digest != plain.digest


def test_load_plan_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FULL)
    assert load_plan_file(path, AGENTS).source == str(path)
    with pytest.raises(NotFound, match=r"missing\.yaml does not exist"):
        load_plan_file(tmp_path / "missing.yaml", AGENTS)


# --- schema errors ----------------------------------------------------------------------------


def test_a_bad_enum_names_file_line_field_and_choices() -> None:
    text = chain(("a", []), ("b", []), ("c", [])).replace(
        "{id: c, phase: build", "{id: c, phase: biuld"
    )
    assert error_of(text) == (
        "data/x.yaml:6: nodes[2].phase: 'biuld' is not one of spec, build, verify, govern"
    )


def test_nested_fields_point_at_their_own_line() -> None:
    message = error_of(
        """\
        id: p
        version: 1
        nodes:
          - id: a
            phase: build
            agent: python
            retry:
              max_attempts: 0
        """
    )
    assert message == "data/x.yaml:8: nodes[0].retry.max_attempts: must be at least 1, got 0"


def test_all_schema_errors_are_listed_sorted_by_path() -> None:
    message = error_of(
        """\
        id: Bad Id
        version: "1"
        nodes:
          - id: a
            phase: build
            retyr: {}
        inputs:
          x: {type: integer, required: maybe}
        """
    )
    assert message.splitlines() == [
        "data/x.yaml: 5 problems:",
        "data/x.yaml:1: id: 'Bad Id' does not match ^[a-z0-9][a-z0-9_-]*$ (lowercase letters,"
        " digits, '_' and '-', starting with a letter or digit; at most 64 characters)",
        "data/x.yaml:8: inputs.x.required: expected true or false, got 'maybe'",
        "data/x.yaml:4: nodes[0]: missing required field 'agent'",
        "data/x.yaml:6: nodes[0].retyr: unknown field (did you mean 'retry'?); allowed: agent,"
        " config, depends_on, estimates, id, phase, retry, risk, subgoal, success_proxy,"
        " timeout_s, variants",
        "data/x.yaml:2: version: expected an integer, got '1'",
    ]


def test_empty_nodes_and_missing_top_level_fields() -> None:
    assert error_of("id: p\nversion: 1\nnodes: []\n") == "data/x.yaml:3: nodes: must not be empty"
    assert error_of("id: p\nversion: 1\n") == "data/x.yaml:1: missing required field 'nodes'"
    assert error_of("- a\n") == "data/x.yaml:1: expected a mapping, got a list"


def test_bad_input_names_point_at_the_name() -> None:
    text = chain(("a", [])) + "inputs:\n  ok: {}\n  bad-name: {}\n"
    assert error_of(text) == (
        "data/x.yaml:7: inputs.bad-name: 'bad-name' does not match ^[A-Za-z_][A-Za-z0-9_]*$"
    )


# --- YAML syntax ------------------------------------------------------------------------------


def test_yaml_syntax_errors_name_file_and_line() -> None:
    message = error_of("id: p\nversion: 1\nnodes:\n  - {id: a, phase: build\n")
    assert message.startswith("data/x.yaml:5: invalid YAML: while parsing a flow mapping")
    assert error_of("") == "data/x.yaml: the file is empty; expected a YAML mapping"
    assert error_of("id: p\nid: q\n") == (
        "data/x.yaml:2: invalid YAML: duplicate key 'id' (first at line 1)"
    )
    assert error_of("a: &x [*x]\n") == (
        "data/x.yaml:1: invalid YAML: an alias refers to a value that contains it"
    )


def test_yaml_values_stay_json_values() -> None:
    plan = load(chain(("a", [])).replace("version: 1", "version: 1\ndescription: 2024-01-01"))
    assert plan.description == "2024-01-01"  # not a date: timestamps are not resolved
    assert "x: must be a finite number" in error_of(chain(("a", [])) + "x: .inf\n")


def test_merge_keys_apply_and_own_keys_win() -> None:
    plan = load(
        """\
        id: p
        version: 1
        nodes:
          - &a {id: a, phase: build, agent: python, timeout_s: 5}
          - {<<: *a, id: b, timeout_s: 9}
        """
    )
    assert [(n.id, n.timeout_s) for n in plan.nodes] == [("a", 5.0), ("b", 9.0)]


# --- semantic errors --------------------------------------------------------------------------


def test_duplicate_node_ids() -> None:
    assert error_of(chain(("a", []), ("b", []), ("a", []))) == (
        "data/x.yaml:6: nodes[2].id: duplicate node id 'a'; first at nodes[0] (line 4)"
    )


def test_unknown_dependency_names_node_and_missing_id() -> None:
    assert error_of(chain(("validate", []), ("fix", ["valdate"]))) == (
        "data/x.yaml:5: nodes[1].depends_on[0]: node 'fix' depends on unknown node 'valdate'"
        " (did you mean 'validate'?)"
    )
    assert error_of(chain(("a", []), ("b", ["zzz"]))).endswith(
        "node 'b' depends on unknown node 'zzz'; known nodes: a, b"
    )
    assert error_of(chain(("a", ["a"]))).endswith("node 'a' depends on itself")


def test_unknown_agent_kinds_in_nodes_and_variants() -> None:
    text = (
        chain(("a", []))
        .replace("agent: python", "agent: pyhton")
        .replace(
            "depends_on: []}",
            "depends_on: [], variants: [{name: v, kind: degraded, agent: shell}]}",
        )
    )
    known = "command, http, human, llm, python"
    assert error_of(text).splitlines() == [
        "data/x.yaml: 2 problems:",
        f"data/x.yaml:4: nodes[0].agent: node 'a': unknown agent kind 'pyhton'; known kinds: {known}",
        "data/x.yaml:4: nodes[0].variants[0].agent: node 'a': unknown agent kind 'shell';"
        f" known kinds: {known}",
    ]


def test_variant_names_are_unique_and_not_primary() -> None:
    message = error_of(
        """\
        id: p
        version: 1
        nodes:
          - id: a
            phase: build
            agent: python
            variants:
              - {name: primary, kind: degraded}
              - {name: v, kind: degraded}
              - {name: v, kind: alternative}
        """
    )
    assert message.splitlines()[1:] == [
        "data/x.yaml:8: nodes[0].variants[0].name: 'primary' is the node itself;"
        " name the variant otherwise",
        "data/x.yaml:10: nodes[0].variants[2].name: node 'a' has two variants named 'v'",
    ]


def test_subgoal_references_are_checked_both_ways() -> None:
    message = error_of(
        """\
        id: p
        version: 1
        subgoals:
          - {id: one, nodes: [a, ghost]}
          - {id: two, nodes: [a]}
        nodes:
          - {id: a, phase: build, agent: python, subgoal: two}
          - {id: b, phase: build, agent: python, subgoal: three}
        """
    )
    assert message.splitlines()[1:] == [
        "data/x.yaml:7: nodes[0].subgoal: node 'a' is listed by subgoal 'one', not 'two'",
        "data/x.yaml:8: nodes[1].subgoal: node 'b': unknown subgoal 'three'; subgoals: one, two",
        "data/x.yaml:4: subgoals[0].nodes[1]: subgoal 'one' names unknown node 'ghost'",
        "data/x.yaml:5: subgoals[1].nodes[0]: node 'a' already serves subgoal 'one'",
    ]


def test_input_defaults_must_match_their_type() -> None:
    text = chain(("a", [])) + "inputs:\n  n: {type: integer, default: true}\n"
    assert error_of(text) == "data/x.yaml:6: inputs.n.default: True is not an integer"


def test_backoff_must_not_exceed_its_cap() -> None:
    text = chain(("a", [])).replace("depends_on: []", "retry: {backoff_s: 9, max_backoff_s: 1}")
    assert error_of(text) == (
        "data/x.yaml:4: nodes[0].retry.backoff_s: must not exceed max_backoff_s"
    )


def test_a_cycle_is_reported_in_order_from_its_first_declared_node() -> None:
    text = chain(("start", []), ("b", ["c"]), ("a", ["b", "start"]), ("c", ["a"]))
    assert (
        error_of(text) == "data/x.yaml:5: nodes[1].depends_on: depends_on cycle: b -> c -> a -> b"
    )


# --- catalog ----------------------------------------------------------------------------------


def plan_text(plan_id: str, version: int, note: str = "") -> str:
    node = "  - {id: a, phase: build, agent: python}"
    return f"id: {plan_id}\nversion: {version}\ndescription: '{note}'\nnodes:\n{node}\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_catalog_holds_every_version(tmp_path: Path) -> None:
    write(tmp_path, "a1.yaml", plan_text("alpha", 1))
    write(tmp_path, "deep/a2.yml", plan_text("alpha", 2))
    write(tmp_path, "b.yaml", plan_text("beta", 1))
    write(tmp_path, "rules.yaml", "rules: []\n")  # not a plan: skipped
    write(tmp_path, "notes.txt", "nodes: nonsense")  # not YAML by name: skipped
    catalog = PlanCatalog.from_folders([tmp_path], AGENTS)
    assert catalog.versions("alpha") == [1, 2]
    assert catalog.get("alpha").version == 2
    assert catalog.get("alpha", 1).version == 1
    assert [p.ref for p in catalog.list()] == ["alpha@2", "beta@1"]


def test_catalog_not_found_messages_list_what_exists(tmp_path: Path) -> None:
    catalog = PlanCatalog([load(plan_text("alpha", 1)), load(plan_text("alpha", 2))])
    with pytest.raises(NotFound) as caught:
        catalog.get("alpha", 3)
    assert caught.value.message == "version 3 of plan alpha does not exist; versions: 1, 2"
    with pytest.raises(NotFound) as caught:
        catalog.get("gamma")
    assert caught.value.message == "plan 'gamma' does not exist; known plans: alpha"
    with pytest.raises(NotFound):
        catalog.versions("gamma")


def test_same_version_in_two_files_must_be_the_same_content(tmp_path: Path) -> None:
    first = write(tmp_path / "one", "a.yaml", plan_text("alpha", 1))
    write(tmp_path / "two", "a.yaml", "# same content, other layout\n" + plan_text("alpha", 1))
    assert PlanCatalog.from_folders([tmp_path / "one", tmp_path / "two"], AGENTS).versions(
        "alpha"
    ) == [1]
    second = write(tmp_path / "two", "a.yaml", plan_text("alpha", 1, "changed"))
    with pytest.raises(InvalidArgument) as caught:
        PlanCatalog.from_folders([tmp_path / "one", tmp_path / "two"], AGENTS)
    assert caught.value.message == (
        f"{second}: plan alpha@1 is also defined, with different content, in {first};"
        " give one of them another version"
    )


def test_catalog_reports_every_broken_file_and_missing_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", plan_text("alpha", 1).replace("phase: build", "phase: nope"))
    write(tmp_path, "b.yaml", "nodes: [\n")
    with pytest.raises(InvalidArgument) as caught:
        PlanCatalog.from_folders([tmp_path, tmp_path / "absent"], AGENTS)
    lines = caught.value.message.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a.yaml'}:5: nodes[0].phase: 'nope' is not one of")
    assert lines[1].startswith(f"{tmp_path / 'b.yaml'}:2: invalid YAML")
    assert lines[2] == f"{tmp_path / 'absent'}: plan folder does not exist"


def test_adding_inline_plans() -> None:
    catalog = PlanCatalog()
    stored = catalog.add(load(plan_text("alpha", 1), source="inline"))
    assert catalog.add(load("# again\n" + plan_text("alpha", 1))) is stored
    with pytest.raises(Conflict) as caught:
        catalog.add(load(plan_text("alpha", 1, "changed")))
    assert caught.value.message == (
        "plan alpha version 1 already exists with different content (from inline);"
        " raise its version (latest is 1)"
    )
    catalog.add(load(plan_text("alpha", 2, "changed")))
    assert catalog.get("alpha").version == 2


# --- selection --------------------------------------------------------------------------------

RULES = """\
rules:
  - name: quick-csv
    when: {mode: fast, goal_matches: "(?i)csv", inputs_present: [csv_path]}
    plan: data-cleanup@2
  - name: alice
    when: {owner: [alice, ann], tenant: acme}
    plan: echo
  - name: default
    when: {}
    plan: noop
"""


def attrs(**overrides: Any) -> TaskAttributes:
    base: dict[str, Any] = {
        "goal": "Clean my CSV file",
        "mode": "fast",
        "inputs": {"csv_path": "/tmp/x.csv"},
        "owner": "alice",
        "tenant": "acme",
    }
    return TaskAttributes(**{**base, **overrides})


def test_the_first_matching_rule_wins_with_its_evidence() -> None:
    rules = SelectionRules.load(RULES, "selection.yaml")
    chosen = rules.select(attrs())
    assert (chosen.plan_id, chosen.version, chosen.rule_name) == ("data-cleanup", 2, "quick-csv")
    assert chosen.evidence == {
        "mode": "fast",
        "goal_matches": "CSV",
        "inputs_present": ["csv_path"],
    }
    chosen = rules.select(attrs(mode="thorough"))
    assert (chosen.ref, chosen.rule_name) == ("echo", "alice")
    assert chosen.evidence == {"owner": "alice", "tenant": "acme"}
    chosen = rules.select(attrs(inputs={"csv_path": None}, owner="bob"))
    assert (chosen.ref, chosen.rule_name, chosen.evidence) == ("noop", "default", {})


def test_selection_is_deterministic() -> None:
    rules = SelectionRules.load(RULES, "selection.yaml")
    assert len({rules.select(attrs()) == rules.select(attrs()) for _ in range(20)}) == 1
    assert SelectionRules.load(RULES, "s") == SelectionRules.load(RULES, "s")


def test_no_matching_rule_says_what_was_seen_and_what_to_do() -> None:
    rules = SelectionRules.load("rules:\n  - {name: r, when: {mode: fast}, plan: noop}\n", "s.yaml")
    with pytest.raises(InvalidArgument) as caught:
        rules.select(attrs(mode="balanced", inputs={"b": 1, "a": 2}))
    assert caught.value.message == (
        "no plan selection rule matched (mode=balanced, owner=alice, tenant=acme, inputs=[a, b],"
        " goal='Clean my CSV file'); pass a plan explicitly or add a rule to s.yaml"
    )


def test_bad_rules_are_all_named() -> None:
    text = """\
rules:
  - name: one
    when: {mode: quick, goal_matches: "(", colour: red}
    plan: ""
  - name: one
    when: {}
    plan: Noop
  - {name: late, plan: noop}
"""
    with pytest.raises(InvalidArgument) as caught:
        SelectionRules.load(text, "sel.yaml")
    assert caught.value.message.splitlines() == [
        "sel.yaml: 7 problems:",
        "sel.yaml:4: rules[0].plan: rule 'one': plan must name a plan",
        "sel.yaml:3: rules[0].when.colour: unknown key; allowed: mode, goal_matches,"
        " inputs_present, owner, tenant",
        "sel.yaml:3: rules[0].when.goal_matches: rule 'one': '(' is not a valid regular"
        " expression: missing ), unterminated subpattern at position 0",
        "sel.yaml:3: rules[0].when.mode: rule 'one': 'quick' is not one of fast, balanced,"
        " thorough",
        "sel.yaml:5: rules[1].name: duplicate rule 'one'",
        "sel.yaml:7: rules[1].plan: rule 'one': 'Noop' is not a plan reference;"
        " expected <id> or <id>@<version>",
        "sel.yaml:8: rules[2]: rule 'late' can never match: rule 'one' above it matches every task",
    ]


def test_explicit_selection_and_plan_refs() -> None:
    assert explicit("echo", 3).rule_name == "explicit"
    assert explicit("echo").ref == "echo"
    assert parse_plan_ref("data-cleanup@12") == ("data-cleanup", 12)
    with pytest.raises(InvalidArgument, match="expected <id> or <id>@<version>"):
        parse_plan_ref("x@0")


def test_rules_are_checked_against_the_catalog() -> None:
    rules = SelectionRules.load("rules:\n  - {name: r, when: {}, plan: gone@2}\n", "s.yaml")
    catalog = PlanCatalog([load(plan_text("noop", 1))])
    with pytest.raises(InvalidArgument) as caught:
        rules.check_plans(catalog)
    assert caught.value.message == (
        "s.yaml:2: rule 'r': plan 'gone' does not exist; known plans: noop"
    )


# --- the schema and the built-in plans ---------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "https://agentledger.dev/schemas/plan.v1.json"


def test_every_builtin_yaml_loads() -> None:
    files = sorted(BUILTIN_PLANS_DIR.rglob("*.y*ml"))
    assert {f.name for f in files} >= {"noop.yaml", "echo.yaml", "selection.yaml"}
    catalog = PlanCatalog.from_folders([BUILTIN_PLANS_DIR], AGENTS)
    assert [p.id for p in catalog.list()] == ["echo", "noop"]
    rules = SelectionRules.load_file(BUILTIN_RULES_PATH)
    rules.check_plans(catalog)
    assert rules.select(attrs(owner="anyone")).plan_id == "noop"


def test_builtin_callables() -> None:
    context: Any = SimpleNamespace(inputs={"message": "hi"})
    assert builtin_callables.noop(context) == {}
    assert builtin_callables.echo(context) == {"inputs": {"message": "hi"}}


# --- sub-goal checks ---------------------------------------------------------------------------

CHECKED = """\
id: p
version: 1
inputs:
  csv_path: {type: file, required: false}
subgoals:
  - id: built
    nodes: [a]
    checks:
      - {node: b, verified: true}
      - {node: a, claim: total, equals: 3}
      - {node: a, output: rows_dropped, equals: 0, fix_with: csv_path}
      - {node: a, output: report}
      - {node: a, claim: nothing, equals: null}
  - id: plain
nodes:
  - {id: a, phase: build, agent: python}
  - {id: b, phase: verify, agent: python, depends_on: [a], subgoal: plain}
"""


def test_subgoal_checks_load_in_order_with_what_they_test() -> None:
    built, plain = load(CHECKED).subgoals
    fields = [
        (c.node, c.test, c.name, c.has_expected, c.expected, c.fix_with) for c in built.checks
    ]
    assert fields == [
        ("b", "verified", "", False, None, ""),
        ("a", "claim", "total", True, 3, ""),
        ("a", "output", "rows_dropped", True, 0, "csv_path"),
        ("a", "output", "report", False, None, ""),
        ("a", "claim", "nothing", True, None, ""),
    ]  # fmt: skip
    assert [c.describe() for c in built.checks[:2]] == [
        "node 'b' is verified",
        "node 'a' claim 'total' equals 3",
    ]
    assert built.checks[3].describe() == "node 'a' output 'report' is present"
    assert plain.checks == () and plain.nodes == ("b",)
    assert load(CHECKED).digest != load(CHECKED.replace("equals: 3", "equals: 4")).digest


def test_bad_checks_name_file_line_and_what_would_be_right() -> None:
    text = chain(("a", [])) + "subgoals:\n  - id: g\n    checks: [{node: a, color: red}]\n"
    assert error_of(text) == (
        "data/x.yaml:7: subgoals[0].checks[0].color: unknown field; allowed: claim, equals,"
        " fix_with, node, output, verified"
    )  # the schema first: cross-field checks wait until it holds
    message = error_of(
        """\
        id: p
        version: 1
        inputs:
          csv_path: {type: file}
        subgoals:
          - id: g
            checks:
              - {node: ghost, verified: true}
              - {node: a, claim: x, output: y}
              - {node: a}
              - {node: a, verified: false}
              - {node: a, verified: true, equals: 1}
              - {node: a, output: y, fix_with: cvs_path}
        nodes:
          - {id: a, phase: build, agent: python}
        """
    )
    assert message.splitlines()[1:] == [
        "data/x.yaml:8: subgoals[0].checks[0].node: subgoal 'g': check names unknown node"
        " 'ghost'; known nodes: a",
        "data/x.yaml:9: subgoals[0].checks[1]: a check tests one of verified, claim, output;"
        " it has claim and output",
        "data/x.yaml:10: subgoals[0].checks[2]: a check tests one of verified, claim, output;"
        " it has none",
        "data/x.yaml:11: subgoals[0].checks[3].verified: only 'verified: true' is a check; drop"
        " it to accept an unverified outcome",
        "data/x.yaml:12: subgoals[0].checks[4].equals: 'equals' goes with claim or output, not"
        " verified",
        "data/x.yaml:13: subgoals[0].checks[5].fix_with: 'cvs_path' is not an input of the plan"
        " (did you mean 'csv_path'?); inputs: csv_path",
    ]


def test_a_plan_the_engine_accepted_loads_without_knowing_its_agents() -> None:
    text = "id: p\nversion: 1\nnodes: [{id: a, phase: build, agent: my-agent}]\n"
    assert load_plan(text, source="<plan>", known_agents=None).nodes[0].agent == "my-agent"
    with pytest.raises(InvalidArgument, match="unknown agent kind 'my-agent'"):
        load_plan(text, source="<plan>", known_agents=AGENTS)


def test_every_example_plan_loads_with_its_checks() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(examples.glob("*/plan.yaml"))
    plans = {p.id: p for p in (load_plan_file(f, AGENTS) for f in files)}
    assert set(plans) == {"build-verify", "data-cleanup", "llm-brief"}
    checks = {g.id: g.checks for g in plans["data-cleanup"].subgoals}
    assert [c.describe() for c in checks["all-orders"]] == [
        "node 'clean' output 'rows_dropped' equals 0"
    ]
    assert checks["all-orders"][0].fix_with == "csv_path"
