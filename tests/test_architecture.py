"""Keeps the layering honest: domain packages import neither gRPC nor generated protobuf code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("grpc", "google.protobuf", "grpc_interceptor", "grpc_health", "grpc_reflection")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _offending(name: str) -> bool:
    return (
        any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
        or name.endswith("_pb2")
        or "_pb2." in name
    )


def test_domain_packages_exist() -> None:
    assert list(ROOT.glob("services/*/domain/__init__.py")), "no domain packages found"


def test_domain_code_is_free_of_grpc_and_protobuf() -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in ROOT.glob("services/*/domain/**/*.py")
        for name in _imports(path)
        if _offending(name)
    ]
    assert offences == []


def test_the_checker_catches_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import grpc\nfrom agentledger.trace_store.v1 import trace_store_pb2\nimport json\n"
    )
    found = [n for n in _imports(bad) if _offending(n)]
    assert found == ["grpc", "agentledger.trace_store.v1.trace_store_pb2"]


def test_configuration_is_read_only_by_entry_points() -> None:
    """Only settings modules touch os.environ; everything else gets settings passed in."""
    readers = []
    for path in list(ROOT.glob("services/**/*.py")) + list(ROOT.glob("agentledger/core/*.py")):
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            readers.append(str(path.relative_to(ROOT)))
    assert sorted(readers) == ["agentledger/core/settings.py"]
