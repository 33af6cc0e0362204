"""Checks a task's inputs against the fields its plan declares: missing required fields and
wrong types are named; defaults fill what was left out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.engine.domain.plan import Plan

CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "file": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def check_inputs(plan: Plan, inputs: Mapping[str, Any]) -> dict[str, Any]:
    if not plan.inputs:
        return dict(inputs)
    declared = {f.name: f for f in plan.inputs}
    problems: list[str] = []
    out = dict(inputs)
    for name in sorted(set(inputs) - set(declared)):
        problems.append(
            f"input {name!r} is not declared by plan {plan.ref} (it takes: {', '.join(declared)})"
        )
    for f in plan.inputs:
        if f.name not in inputs or inputs[f.name] is None:
            if f.default is not None:
                out[f.name] = f.default
            elif f.required:
                problems.append(
                    f"input {f.name!r} ({f.type}) is required by plan {plan.ref}"
                    + (f": {f.description}" if f.description else "")
                )
            continue
        check = CHECKS.get(f.type)
        if check is not None and not check(inputs[f.name]):
            problems.append(
                f"input {f.name!r} must be a {f.type}, got {type(inputs[f.name]).__name__}"
            )
    if problems:
        raise InvalidArgument("; ".join(problems))
    return out


def sensitive_fields(plan: Plan) -> frozenset[str]:
    """The inputs the plan marks sensitive: sealed when stored, masked wherever shown."""
    return frozenset(f.name for f in plan.inputs if f.sensitive)
