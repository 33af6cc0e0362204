"""The build-verify example's staging step: copies the bundled rpn project into the task's
working folder and applies the change to verify (a patch), if the task names one."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from examples.paths import input_path
from services.engine.domain.agents.base import AgentContext, DataIssue, ToolIssue

PROJECT = Path(__file__).resolve().parent / "rpn"
SRC = "src"  # in the task's working folder; the command nodes build and test it there


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def stage(ctx: AgentContext) -> dict[str, Any]:
    """Copies the project fresh (a re-run after a bad patch must not see its leftovers), then
    applies `inputs.patch`; a patch that does not apply is the user's to fix: a DataIssue."""
    src = ctx.work_dir / SRC
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    patch = input_path(ctx.inputs.get("patch"))
    out: dict[str, Any] = {"project": PROJECT.name, "patch": None, "patch_output": ""}
    if patch is not None:
        if not patch.is_file():
            raise DataIssue(
                f"patch {str(patch)!r} does not exist; resume with patch=<a patch file>, or "
                'patch="" to build the bundled sources',
                signals={"patch": str(patch)},
            )
        argv = ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch",
                "--reject-file=-", "-d", str(src), "-i", str(patch)]  # fmt: skip
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except FileNotFoundError as exc:
            raise ToolIssue("the 'patch' program is not installed", signals={"argv": argv}) from exc
        if done.returncode != 0:
            raise DataIssue(
                f"patch {patch.name} does not apply to {PROJECT.name} (exit {done.returncode}: "
                f"{done.stdout.strip()[-300:]}); resume with patch=<a corrected patch>, or "
                'patch="" to build the bundled sources',
                signals={"patch": str(patch), "exit_code": done.returncode},
            )
        out |= {"patch": patch.name, "patch_output": done.stdout.strip()}
    files = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    return out | {"files": files, "tree_sha256": _digest(src)}
