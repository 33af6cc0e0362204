"""The reference implementation of rpn.c, in Python: the build is checked against it."""

from __future__ import annotations

import operator
import sys

STACK_MAX = 64
_NUMBER_CHARS = set("0123456789.eE+-")
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _number(token: str) -> float | None:
    # The same grammar as rpn.c: decimal digits, '.', exponents and signs only.
    if not set(token) <= _NUMBER_CHARS or not any(c.isdigit() for c in token):
        return None
    try:
        return float(token)
    except ValueError:
        return None


def evaluate(line: str) -> str | None:
    """The output line for one input line, or None for a blank line or a comment."""
    if not line.strip() or line.lstrip(" \t").startswith("#"):
        return None
    stack: list[float] = []
    for token in line.split():
        value = _number(token)
        if value is not None:
            if len(stack) == STACK_MAX:
                return "error: stack overflow"
            stack.append(value)
            continue
        if token not in OPERATORS and token != "neg":
            return f"error: unknown token '{token}'"
        if len(stack) < (1 if token == "neg" else 2):
            return f"error: stack underflow at '{token}'"
        if token == "neg":
            stack[-1] = -stack[-1]
            continue
        b, a = stack.pop(), stack.pop()
        if token == "/" and b == 0:
            return "error: division by zero"
        stack.append(OPERATORS[token](a, b))
    if len(stack) > 1:
        return f"error: {len(stack)} values left on the stack"
    return f"{stack[0]:.10g}" if stack else None


def main() -> int:
    for line in sys.stdin:
        out = evaluate(line)
        if out is not None:
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
