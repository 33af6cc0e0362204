"""SPEC 3.3 templates and re-runs: what a finished task leaves behind for the next run (its plan,
mode, budget, priority, the inputs a run must supply and the variants the run settled on), and
the checks a new run's inputs must pass before the engine sees them.

A template never holds an input value: only the fields' names, types and descriptions. A re-run
carries the earlier task's public inputs over, but never a sensitive one (its stored value is a
redaction marker), so such a field must be given again.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from agentledger.core.errors import FailedPrecondition, InvalidArgument
from services.engine.domain.inputs import CHECKS
from services.engine.domain.plan import Plan
from services.product.domain.records import ENDED, TemplateField, TemplateRecord

MAX_NAME = 200
_SENSITIVE_HINT = " (sensitive inputs are not kept: give it again)"
_REDACTED_HINT = " (its earlier value was redacted: give it again)"
_MARKER_START = "[redacted:"


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"template name is {len(name)} characters long; use at most {MAX_NAME}"
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise InvalidArgument(
            f"template name {name!r} holds control characters; use one line of text"
        )


def _budget(raw: Mapping[str, Any] | None) -> tuple[int | None, float | None, float | None]:
    """Missing or None is unlimited, as in the engine's Budget."""
    b = raw or {}
    tokens, usd, seconds = b.get("tokens"), b.get("usd"), b.get("seconds")
    return (
        None if tokens is None else int(tokens),
        None if usd is None else float(usd),
        None if seconds is None else float(seconds),
    )


def _degrade(plan: Plan, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The non-primary variants the run settled on; a variant the plan lacks is a caller bug,
    and a template that kept it would fail every run made from it."""
    out: dict[str, Any] = {}
    for n in nodes:
        node_id, variant = str(n["node_id"]), str(n.get("variant") or "")
        if variant in ("", "primary"):
            continue
        try:
            plan.node(node_id).variant(variant)
        except KeyError:
            raise InvalidArgument(
                f"node {node_id!r} settled on variant {variant!r}, which plan {plan.ref} does"
                " not declare"
            ) from None
        out[node_id] = variant
    return out


def input_fields(plan: Plan) -> tuple[TemplateField, ...]:
    """The inputs a run of the plan takes: a field with a default is not required."""
    return tuple(
        TemplateField(
            name=f.name,
            type=f.type,
            required=f.required and f.default is None,
            sensitive=f.sensitive,
            description=f.description,
        )
        for f in plan.inputs
    )


def from_task(
    *,
    template_id: str,
    name: str,
    owner: str,
    tenant: str,
    task: Mapping[str, Any],
    plan: Plan,
    plan_yaml: str,
    nodes: Sequence[Mapping[str, Any]],
    now_ns: int,
) -> TemplateRecord:
    """A template from an ended task. `task` carries task_id, goal (redacted), mode, budget,
    priority, state, plan_id, plan_version; `nodes` carry node_id and the variant each run
    settled on. `plan_yaml` is "" when the plan is in the engine's catalog."""
    task_id, state = str(task["task_id"]), str(task["state"])
    if state not in ENDED:
        raise FailedPrecondition(
            f"task {task_id} is {state}: a template is made from a task that has ended"
            f" ({', '.join(ENDED)})"
        )
    if not template_id:
        raise InvalidArgument("a template needs an id")
    plan_id = task.get("plan_id") or plan.id
    plan_version = task.get("plan_version") or plan.version
    if (str(plan_id), str(plan_version)) != (plan.id, str(plan.version)):
        raise InvalidArgument(
            f"task {task_id} ran plan {plan_id}@{plan_version}, not {plan.ref}; pass its own plan"
        )
    name = name.strip() or f"{plan.id} from {task_id}"
    _check_name(name)
    tokens, usd, seconds = _budget(task.get("budget"))
    return TemplateRecord(
        template_id=template_id,
        name=name,
        owner=owner,
        tenant=tenant,
        source_task_id=task_id,
        goal=str(task.get("goal", "")),
        plan_id=plan.id,
        plan_version=plan.version,
        plan_yaml=plan_yaml,
        default_mode=str(task.get("mode") or plan.default_mode),
        budget_tokens=tokens,
        budget_usd=usd,
        budget_seconds=seconds,
        priority=int(task.get("priority") or 0),
        input_fields=input_fields(plan),
        degrade=_degrade(plan, nodes),
        created_ns=now_ns,
    )


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _article(type_name: str) -> str:
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name


def _check(
    fields: Sequence[TemplateField],
    given: Mapping[str, Any],
    what: str,
    hints: Mapping[str, str],
) -> dict[str, Any]:
    # A plan that declares no inputs takes any, as the engine's check_inputs does.
    if not fields:
        return dict(given)
    declared = {f.name: f for f in fields}
    problems: list[str] = []
    missing = [
        f"{f.name!r}{hints.get(f.name, '')}"
        for f in fields
        if f.required and given.get(f.name) is None
    ]
    if missing:
        problems.append(f"missing required input(s) {', '.join(missing)}")
    for f in fields:
        value = given.get(f.name)
        check = CHECKS.get(f.type)
        if value is not None and check is not None and not check(value):
            problems.append(
                f"input {f.name!r} must be {_article(f.type)}, got {type(value).__name__}"
            )
    unknown = sorted(set(given) - set(declared))
    if unknown:
        problems.append(
            f"input(s) {_quoted(unknown)} are not declared by its plan;"
            f" it takes {_quoted(list(declared))}"
        )
    if problems:
        raise InvalidArgument(f"{what}: " + "; ".join(problems))
    return dict(given)


def inputs_for_run(
    fields: Sequence[TemplateField], given: Mapping[str, Any], *, what: str
) -> dict[str, Any]:
    """Checks a run's inputs against the template's fields: every missing required field,
    wrong type and undeclared name is reported at once, prefixed by `what` ("template tpl-1").
    Defaults are the engine's to fill."""
    return _check(fields, given, what, {})


def _redacted(value: Any) -> bool:
    if isinstance(value, str):
        return _MARKER_START in value
    if isinstance(value, dict):
        return any(_redacted(v) for v in value.values())
    if isinstance(value, list):
        return any(_redacted(v) for v in value)
    return False


def rerun_inputs(
    fields: Sequence[TemplateField],
    earlier_public_inputs: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    what: str,
) -> dict[str, Any]:
    """The earlier task's inputs overlaid with `given`, checked like a template run. Sensitive
    fields, and any value the redaction policy masked, are not carried over: their stored
    values are markers, and sending a marker as an input would run the task on it."""
    sensitive = {f.name for f in fields if f.sensitive}
    carried: dict[str, Any] = {}
    hints: dict[str, str] = {n: _SENSITIVE_HINT for n in sensitive}
    for key, value in earlier_public_inputs.items():
        if key in sensitive:
            continue
        if _redacted(value):
            hints[key] = _REDACTED_HINT
            continue
        carried[key] = value
    return _check(fields, {**carried, **given}, what, hints)
