"""Runs the built rpn binary (RPN_BIN, default build/rpn) on known expressions and against the
Python reference on generated ones."""

from __future__ import annotations

import os
import random
import subprocess
import unittest
from pathlib import Path

import rpn

BIN = Path(os.environ.get("RPN_BIN", "build/rpn")).resolve()


def run(text: str) -> list[str]:
    done = subprocess.run([str(BIN)], input=text, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise AssertionError(f"{BIN} exited with {done.returncode}: {done.stderr}")
    return done.stdout.splitlines()


class Arithmetic(unittest.TestCase):
    def test_operators(self) -> None:
        self.assertEqual(
            run("3 4 +\n10 4 -\n6 7 *\n1 4 /\n5 neg\n"), ["7", "6", "42", "0.25", "-5"]
        )

    def test_operand_order(self) -> None:
        self.assertEqual(run("2 10 -\n2 10 /\n"), ["-8", "0.2"])

    def test_nested_expression(self) -> None:
        self.assertEqual(run("5 1 2 + 4 * + 3 -\n"), ["14"])

    def test_decimals_and_exponents(self) -> None:
        self.assertEqual(run("0.1 0.2 +\n1e3 8 /\n-2.5 4 *\n"), ["0.3", "125", "-10"])


class Errors(unittest.TestCase):
    def test_errors_are_reported_and_evaluation_goes_on(self) -> None:
        self.assertEqual(
            run("1 0 /\n+\nfoo\n1 2\n0x10\n7\n"),
            [
                "error: division by zero",
                "error: stack underflow at '+'",
                "error: unknown token 'foo'",
                "error: 2 values left on the stack",
                "error: unknown token '0x10'",
                "7",
            ],
        )

    def test_blank_lines_and_comments_print_nothing(self) -> None:
        self.assertEqual(run("\n   \n# a comment\n  # another\n1 1 +\n"), ["2"])


class AgainstReference(unittest.TestCase):
    def test_random_expressions_match_the_reference(self) -> None:
        rng = random.Random(20240601)  # fixed: a failure must be reproducible
        lines = []
        for _ in range(200):
            tokens = [str(rng.randint(-50, 50))]
            for _ in range(rng.randint(0, 6)):
                tokens += [f"{rng.uniform(-9, 9):.3f}", rng.choice("+-*/")]
            lines.append(" ".join(tokens))
        expected = [rpn.evaluate(line) for line in lines]
        self.assertEqual(run("\n".join(lines) + "\n"), [e for e in expected if e is not None])


if __name__ == "__main__":
    unittest.main()
