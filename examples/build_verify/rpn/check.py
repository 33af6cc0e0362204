"""Acceptance check of a built rpn: runs it on cases/input.txt and compares every output line
with cases/expected.txt and with the Python reference; writes the verdict as JSON.

Usage: python3 check.py BINARY CASES_DIR RESULT_JSON. Exit 0 whenever a verdict was written
(the verdict itself says whether the build passed), 2 when the check could not run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import rpn


def main(binary: str, cases_dir: str, result_json: str) -> int:
    cases = Path(cases_dir)
    text = (cases / "input.txt").read_text()
    expected = (cases / "expected.txt").read_text().splitlines()
    reference = [out for line in text.splitlines() if (out := rpn.evaluate(line)) is not None]
    try:
        done = subprocess.run(
            [str(Path(binary).resolve())], input=text, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"cannot run {binary}: {exc}", file=sys.stderr)
        return 2
    actual = done.stdout.splitlines()
    mismatches = [
        {"case": i + 1, "expected": e, "actual": a, "reference": r}
        for i, (e, a, r) in enumerate(zip(expected, actual, reference, strict=False))
        if not e == a == r
    ]
    if not len(expected) == len(actual) == len(reference):
        mismatches.append(
            {
                "lines": {
                    "expected": len(expected),
                    "actual": len(actual),
                    "reference": len(reference),
                }
            }
        )
    passed = len(expected) - sum(1 for m in mismatches if "case" in m)
    verified = done.returncode == 0 and not mismatches
    verdict = {
        "verified": verified,
        "claims": {"acceptance_cases": len(expected), "acceptance_passed": passed},
        "exit_code": done.returncode,
        "mismatches": mismatches,
    }
    Path(result_json).write_text(json.dumps(verdict, indent=2) + "\n")
    print(f"{passed}/{len(expected)} acceptance cases pass; verified={verified}")
    for m in mismatches:
        print(f"mismatch: {m}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
