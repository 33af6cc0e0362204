"""SPEC 3.2 the user narrative: sentences from hand-built traces, each resting on events that
exist and quoting figures that match them, and the checker refusing those that do not."""

from __future__ import annotations

from typing import Any

from services.product.domain.evidence import RunTrace
from services.product.domain.goals import evaluate
from services.product.domain.narrative import explain
from services.product.domain.sentences import Checked, Sentence, check, to_markdown
from tests.product.test_goals import ORDERS, Trace, plan_of


def told(t: Trace, plan: str = ORDERS) -> Checked:
    trace = t.trace()
    out = explain(trace, evaluate(plan_of(plan), trace))
    assert out.refused == (), out.refused  # every template rests on its evidence
    return out


def section(c: Checked, name: str) -> list[Sentence]:
    return [s for s in c.sentences if s.section == name]


def find(c: Checked, start: str) -> Sentence:
    [s] = [s for s in c.sentences if s.text.startswith(start)]
    return s


def test_a_budget_degrade_is_explained_with_its_rule_and_conditions() -> None:
    t = Trace(budget={"tokens": 1000, "usd": None, "seconds": None})
    t.run("validate", "spec", tokens=850)
    evidence = {
        "node_id": "clean",
        "fractions": {"tokens": 0.935},
        "threshold": 0.8,
        "pressed": ["tokens"],
        "primary_estimates": {"usd": 0.06, "tokens": 600},
        "variant_estimates": {"usd": 0.01, "tokens": 100},
    }
    degrade = t.decide(
        "clean", "build", "BudgetPressure", "degrade", "budget", variant="cheap", evidence=evidence
    )
    t.run("clean", tokens=100, output={"rows_dropped": 0})
    c = told(t)

    s = find(c, f"At seq {degrade}, rule BudgetPressure v1")
    assert s.section == "why" and s.seqs == (degrade,)
    assert s.text == (
        f"At seq {degrade}, rule BudgetPressure v1 ran node 'clean' on its cheaper variant"
        " 'cheap': the task had used 94% of its tokens budget, at or past the plan's threshold"
        " of 80%."
    )
    assert s.numbers == {
        "conditions_evidence.fractions.tokens": 0.935,
        "conditions_evidence.threshold": 0.8,
    }
    budget = find(c, "The task's budget was")
    assert (budget.text, budget.seqs, budget.numbers) == (
        "The task's budget was 1,000 tokens.",
        (1,),
        {"budget.tokens": 1000},
    )


def test_costs_in_total_per_phase_and_for_runs_that_did_not_stand() -> None:
    t = Trace()
    a, _ = t.run("validate", "spec", tokens=100, usd=0.1)
    failure = {"kind": "tool_issue", "message": "timeout", "signals": {}}
    b1, _ = t.run(
        "clean",
        tokens=300,
        usd=0.2,
        kind="node.failed",
        failure=failure,
        decision=("ToolError", "retry"),
    )
    b2, _ = t.run("clean", tokens=300, usd=0.2, attempt=2, output={"rows_dropped": 0})
    c_, _ = t.run("verify", "verify", tokens=1000, usd=0.05, verified=True, claims={"total": 12.5})
    t.state_to("COMPLETED", "all 3 nodes completed")
    c = told(t)

    total, spec, build, verify, _budget, lost = section(c, "cost")
    assert total.text == "The run spent $0.55, 1,700 tokens in and 170 out, over 4 node runs."
    assert total.seqs == (a, b1, b2, c_)
    assert total.numbers == {
        "sum.usd": 0.55,
        "sum.tokens_in": 1700,
        "sum.tokens_out": 170,
        "count.runs": 4,
    }
    assert spec.text == "Phase spec: $0.1, 100 tokens in, 500 ms of tool time, over 1 run."
    assert build.text == "Phase build: $0.4, 600 tokens in, 1,000 ms of tool time, over 2 runs."
    assert build.seqs == (b1, b2) and verify.seqs == (c_,)
    assert lost.text == (
        "Of these, 1 run did not stand (retried, degraded or asked again) and spent $0.2 and"
        " 300 tokens in."
    )
    assert lost.seqs == (b1,)
    retry = find(c, f"At seq {b1 + 1}, rule ToolError v1 decided retry on node 'clean'")
    assert retry.seqs == (b1, b1 + 1)
    assert find(c, "All 3 nodes completed").numbers == {"count.nodes": 3, "nodes": 3}
    assert find(c, "Nothing is left to do").section == "next"


def test_a_completed_but_partial_task_says_why_and_what_to_change() -> None:
    t = Trace()
    t.run("validate", "spec")
    dropped, _ = t.run("clean", output={"rows_dropped": 3}, artifact="clean.csv")
    t.run("verify", "verify", verified=True, claims={"total": 12.5})
    t.state_to("COMPLETED", "all 3 nodes completed")
    c = told(t)

    gap = find(c, "Sub-goal complete is PARTIAL")
    assert gap.text == (
        "Sub-goal complete is PARTIAL: it needs node 'clean' output 'rows_dropped' equals 0,"
        " but output.rows_dropped is 3."
    )
    assert gap.numbers == {"output.rows_dropped": 3.0} and dropped in gap.seqs
    assert gap.blob_ids == ("clean-clean.csv".ljust(64, "0"),)
    assert find(c, "So the goal is").text == (
        "So the goal is PARTIAL although the task COMPLETED: done: valid, checked;"
        " partly done: complete."
    )
    [next_step] = section(c, "next")
    assert next_step.text == (
        "Run the task again with another 'csv_path': sub-goal complete needs node 'clean'"
        " output 'rows_dropped' equals 0, but it is 3."
    )
    artifacts = find(c, "The nodes wrote 1 artifact:")
    assert artifacts.text == "The nodes wrote 1 artifact: clean/clean.csv."
    assert artifacts.blob_ids == gap.blob_ids
    # Evidence before conclusion: the sub-goal's gap, then the goal's status.
    why = [s.text for s in section(c, "why")]
    assert why.index(gap.text) < len(why) - 1


def test_a_failure_names_the_rule_its_figures_and_the_way_out() -> None:
    t = Trace(budget={"tokens": 1000, "usd": 0.5, "seconds": None})
    t.run("validate", "spec", tokens=900)
    evidence = {
        "exceeded": ["tokens"],
        "tokens_used": 1090,
        "tokens_limit": 1000,
        "usd_used": 0.01,
        "usd_limit": 0.5,
    }
    fail = t.decide(
        "clean",
        "build",
        "BudgetExceeded",
        "fail",
        "budget",
        evidence=evidence,
        reason="The task's budget is exceeded (tokens 1090 of 1000).",
    )
    end = t.state_to("FAILED", "The task's budget is exceeded (tokens 1090 of 1000).", "cost_issue")
    c = told(t)

    s = find(c, f"At seq {fail}, rule BudgetExceeded v1 failed the task")
    assert s.text.endswith(": tokens 1,090 used of a 1,000 limit.")
    assert s.numbers == {
        "conditions_evidence.tokens_used": 1090,
        "conditions_evidence.tokens_limit": 1000,
    }
    assert find(c, "The task ended FAILED").seqs == (end,)
    assert find(c, "The task's budget was").text == "The task's budget was 1,000 tokens and $0.5."
    assert find(c, "So the goal is").text == (
        "So the goal is PARTIAL although the task FAILED: done: valid; not done: complete, checked."
    )
    [way_out] = section(c, "next")
    assert way_out.text == (
        "Run the task again with a larger 'budget.tokens': The task's budget is exceeded (tokens"
        " 1090 of 1000)."
    )
    assert {fail, end} <= set(way_out.seqs)


def test_a_conflict_is_told_with_both_sides() -> None:
    t = Trace()
    t.run("validate", "spec", claims={"total": 12.5})
    t.run("clean", claims={"total": 13}, decision=None)
    pause = t.decide(
        "clean",
        "build",
        "ConflictBetweenAgents",
        "pause",
        evidence={"claim": "total"},
        question="Which total is right?",
    )
    conflict = t.add(
        "governance.conflict",
        "clean",
        "build",
        claim="total",
        left={"node_id": "validate", "value": 12.5},
        right={"node_id": "clean", "value": 13},
    )
    t.state_to("WAITING_INPUT", "Agents disagree")
    c = told(t)

    s = find(c, f"At seq {conflict}")
    assert s.text == (
        f"At seq {conflict}, nodes 'validate' and 'clean' disagreed on claim 'total': 'validate'"
        " claims 12.5, 'clean' claims 13; rule ConflictBetweenAgents decided pause."
    )
    assert s.seqs == (pause, conflict)
    assert s.numbers == {"left.value": 12.5, "right.value": 13}
    assert not [x for x in c.sentences if x.text.startswith(f"At seq {pause},")]  # told once
    assert [x.text for x in section(c, "next")] == [
        "Decide which value of claim 'total' is right: Which total is right?"
    ]
    assert find(c, "Node 'clean' waits for the user.").seqs == (pause,)
    assert find(c, "The task is WAITING_INPUT since seq").text.endswith(": Agents disagree.")


def test_a_question_to_the_user_is_one_next_step_naming_every_field() -> None:
    t = Trace()
    question = "Rows are invalid; resume with drop_invalid=true or csv_path=<a corrected file>."
    failure = {
        "kind": "data_issue",
        "message": "2 rows are invalid",
        "signals": {"csv_path": "/data/orders.csv"},
    }
    t.run("validate", "spec", kind="node.failed", failure=failure, decision=None)
    t.decide("validate", "spec", "DataIssue", "pause", question=question)
    t.state_to("WAITING_INPUT", "Node 'validate' failed on its data")
    c = told(t)

    assert [s.text for s in section(c, "next")] == [
        "Supply corrected data as 'csv_path' or 'drop_invalid': Rows are invalid; resume with"
        " drop_invalid=true or csv_path=<a corrected file>."
    ]
    assert "So the goal is NOT_DONE: not done: valid, complete, checked." in [
        s.text for s in c.sentences
    ]


def test_many_decisions_are_told_by_salience_and_the_rest_counted() -> None:
    t = Trace()
    failure = {"kind": "tool_issue", "message": "503", "signals": {}}
    retries = [
        t.run(
            "validate",
            "spec",
            kind="node.failed",
            failure=failure,
            attempt=n,
            decision=("ToolError", "retry"),
        )[1]
        for n in range(1, 12)
    ]
    fail = t.run(
        "validate",
        "spec",
        kind="node.failed",
        failure=failure,
        attempt=12,
        decision=("ToolError", "fail"),
    )[1]
    t.state_to("FAILED", "Node 'validate' failed", "tool_issue")
    c = told(t)

    told_one_by_one = [s.seqs[-1] for s in section(c, "why") if s.text.startswith("At seq")]
    assert told_one_by_one == [*retries[:7], fail]  # the fail first, then the earliest retries
    rest = find(c, "4 more governance decisions changed the run's course.")
    assert rest.seqs == tuple(retries[7:]) and rest.numbers == {"count.decisions": 4}
    failed = find(c, "Node 'validate' failed after 12 runs (tool_issue: 503).")
    assert failed.numbers == {"count.runs": 12}
    assert [s.text for s in section(c, "next")] == [
        "Retry the task; the failure may be transient: ToolError says fail."
    ]


def test_the_checker_refuses_sentences_whose_evidence_is_missing_or_different() -> None:
    t = Trace()
    a, _ = t.run("validate", "spec", tokens=100, usd=0.03, artifact="out.json")
    trace: RunTrace = t.trace()
    blob = "validate-out.json".ljust(64, "0")
    artifact = a - 1

    def sentence(
        text: str,
        seqs: tuple[int, ...],
        blobs: tuple[str, ...] = (),
        section: str = "cost",
        **numbers: Any,
    ) -> Sentence:
        return Sentence(
            section, text, seqs, blobs, {k.replace("__", "."): v for k, v in numbers.items()}
        )

    good = [
        sentence("It spent $0.03 over 1 run.", (a,), sum__usd=0.03, count__runs=1),
        sentence("The budget was 60 s.", (1,), budget__seconds=60),
        sentence("It wrote out.json.", (artifact,), (blob,), "what_happened"),
        sentence("It spent 100 tokens.", (a,), usage__tokens_in=100),
    ]
    bad = {
        "it cites seq 999, which is not an event of task t1": sentence(
            "It spent $0.03.", (a, 999), sum__usd=0.03
        ),
        "sum.usd is 0.05 in the sentence but 0.03 in the evidence": sentence(
            "It spent $0.05.", (a,), sum__usd=0.05
        ),
        "count.runs is 2 in the sentence but 1 in the evidence": sentence(
            "It took 2 runs.", (a,), count__runs=2
        ),
        "the text does not quote sum.usd (0.03)": sentence(
            "It spent three cents.", (a,), sum__usd=0.03
        ),
        f"it cites blob {blob}, which none of its events carries": sentence(
            "It wrote out.json.", (a,), (blob,), "what_happened"
        ),
        "none of its events records budget.tokens": sentence(
            "The budget was 1,000 tokens.", (a,), budget__tokens=1000
        ),
        "it cites no event": sentence("Trust me.", ()),
        "section 'gossip' is not one of what_happened, why, cost, next": sentence(
            "It ran.", (a,), (), "gossip"
        ),
    }
    checked = check([*good, *bad.values()], trace)
    assert checked.sentences == tuple(good)
    assert [r.reason for r in checked.refused] == list(bad)


def test_markdown_has_a_section_per_part_and_cites_every_sentence() -> None:
    t = Trace()
    t.run("validate", "spec")
    t.run("clean", output={"rows_dropped": 0}, artifact="clean.csv")
    t.run("verify", "verify", verified=True, claims={"total": 12.5})
    t.state_to("COMPLETED", "all 3 nodes completed")
    text = to_markdown(told(t).sentences)
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## What happened",
        "## Why this result",
        "## What it cost",
        "## What to do next",
    ]
    assert "- The nodes wrote 1 artifact: clean/clean.csv. _(seq 8; blob clean-clean.)_" in text
    assert "- All 3 nodes completed: 'validate', 'clean', 'verify'. _(seqs 1, 6, 10, 13)_" in text
    assert all(line.endswith(")_") for line in text.splitlines() if line.startswith("- "))
    many = Sentence("cost", "x", tuple(range(1, 30, 2)), ("a" * 64, "b" * 64, "c" * 64, "d" * 64))
    assert to_markdown([many]).splitlines()[2] == (
        "- x _(seqs 1, 3, 5, 7, 9, 11, ... (15 events); blobs aaaaaaaaaaaa, bbbbbbbbbbbb,"
        " cccccccccccc and 1 more)_"
    )
