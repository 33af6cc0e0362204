"""SPEC invariant 1: StateManager is the only code that writes a task's state. Every SQL text in
the product is scanned: only state_manager.py may set en_tasks.state or touch en_transitions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "services/engine/domain/state_manager.py"
STATE_WRITE = re.compile(
    r"INSERT\s+INTO\s+en_tasks\b|(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+en_transitions\b"
    r"|DELETE\s+FROM\s+en_tasks\b",
    re.IGNORECASE,
)
UPDATE_SET = re.compile(r"UPDATE\s+en_tasks\s+SET\s+(.*?)(\bWHERE\b|$)", re.IGNORECASE | re.DOTALL)


def _strings(path: Path) -> list[str]:
    """Every string literal of a module, f-strings joined (their SQL text is what matters)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            out.append("".join(v.value for v in node.values if isinstance(v, ast.Constant)))
    return out


def writes_state(sql: str) -> bool:
    if STATE_WRITE.search(sql):
        return True
    m = UPDATE_SET.search(sql)
    return bool(m and re.search(r"(^|[\s,])state\s*=", m.group(1)))


def _offenders(paths: list[Path]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}: {s.strip()[:80]}"
        for p in paths
        if p != OWNER
        for s in _strings(p)
        if writes_state(s)
    ]


def test_only_the_state_manager_writes_task_state() -> None:
    product = [
        p
        for folder in ("services", "agentledger", "bench")
        for p in (ROOT / folder).rglob("*.py")
        if "_pb2" not in p.name
    ]
    assert OWNER in product
    assert _offenders(product) == []
    # ...and the state manager does write it (the scan sees its statements).
    assert any(writes_state(s) for s in _strings(OWNER))


def test_the_scan_catches_a_state_write(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text(
        'A = "UPDATE en_tasks SET lease_owner = ?, state = ? WHERE task_id = ?"\n'
        'B = f"INSERT INTO en_transitions (task_id) VALUES ({1})"\n'
        'C = "UPDATE en_tasks SET state_seq = 1, control = ? WHERE state = ?"\n'
    )
    found = [s for s in _strings(rogue) if writes_state(s)]
    assert any("lease_owner" in f for f in found)
    assert any("en_transitions" in f for f in found)
    assert not any("state_seq" in f for f in found)
