"""YAML documents with the line of every field, and plain-language JSON Schema errors."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from agentledger.core.errors import InvalidArgument

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

# Aliases can expand a small text into a huge tree; plans submitted inline must not do that.
_MAX_YAML_NODES = 100_000
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class _JsonLoader(yaml.SafeLoader):
    """SafeLoader minus timestamps, so every value is a JSON value (a date-like description
    stays a string) and the digest can be taken over canonical JSON."""


_JsonLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def format_path(path: FieldPath) -> str:
    """`("nodes", 2, "retry")` → `nodes[2].retry`; odd keys are quoted: `config["a.b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A parsed YAML document with the line of every field, so messages can point at it."""

    source: str
    data: Any
    lines: Mapping[FieldPath, int]

    def line(self, path: FieldPath) -> int | None:
        # A missing field has no line of its own: point at the nearest enclosing one.
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def describe(self, path: FieldPath, message: str) -> str:
        line = self.line(path)
        where = f"{self.source}:{line}" if line else self.source
        field = format_path(path)
        return f"{where}: {field}: {message}" if field else f"{where}: {message}"

    def invalid(self, problems: list[Problem]) -> InvalidArgument:
        """All problems in one error, sorted by field path, each on its own line."""
        ordered = sorted(problems, key=lambda p: (_sort_key(p[0]), p[1]))
        lines = list(dict.fromkeys(self.describe(path, msg) for path, msg in ordered))
        if len(lines) == 1:
            return InvalidArgument(lines[0])
        return InvalidArgument(f"{self.source}: {len(lines)} problems:\n" + "\n".join(lines))


def _sort_key(path: FieldPath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)


def _line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1 if node.start_mark else 0


class _TreeBuilder:
    """Turns a composed YAML tree into JSON values, recording each field's line on the way."""

    def __init__(self, loader: _JsonLoader) -> None:
        self.loader = loader
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[Problem] = []
        self._count = 0
        self._active: set[int] = set()

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self._count += 1
        if self._count > _MAX_YAML_NODES:
            raise _at(node, f"document has more than {_MAX_YAML_NODES} values")
        self.lines.setdefault(path, _line_of(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            raise _at(node, "an alias refers to a value that contains it")
        self._active.add(id(node))
        try:
            if node.tag not in (_MAP_TAG, _SEQ_TAG):
                self.problems.append((path, f"unsupported YAML tag {node.tag!r}"))
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        value = self.loader.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append((path, "must be a finite number"))
        elif value is not None and not isinstance(value, str | int | float | bool):
            self.problems.append((path, f"unsupported YAML value of type {type(value).__name__}"))
        return value

    def _mapping(self, node: yaml.Node, path: FieldPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        # `<<: *defaults` entries first, so the mapping's own keys override them.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in merged:
                    value = self.build(source, path)
                    if isinstance(value, dict):
                        out.update({k: v for k, v in value.items() if k not in out})
                    else:
                        self.problems.append((path, "'<<' must merge a mapping"))
        own: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                raise _at(key_node, f"keys must be strings, got {key!r}")
            if key in own:
                # Plain YAML keeps the last value silently; an overwritten field is a mistake.
                raise _at(key_node, f"duplicate key {key!r} (first at line {own[key]})")
            own[key] = _line_of(key_node)
            self.lines[(*path, key)] = own[key]
            out[key] = self.build(value_node, (*path, key))
        return out


class _YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _at(node: yaml.Node, message: str) -> _YamlSyntaxError:
    return _YamlSyntaxError(_line_of(node), message)


def parse_yaml(text: str, *, source: str) -> SourceDocument:
    """Parses one YAML document into JSON values; a syntax error names the file and line."""
    try:
        loader = _JsonLoader(text)  # the reader refuses non-printable characters right here
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{source}: invalid YAML: {exc}") from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise InvalidArgument(f"{source}: the file is empty; expected a YAML mapping")
        builder = _TreeBuilder(loader)
        data = builder.build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        detail = ": ".join(p for p in (exc.context, exc.problem) if p)
        raise InvalidArgument(f"{source}{line}: invalid YAML: {detail}") from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{source}: invalid YAML: {exc}") from None
    except _YamlSyntaxError as exc:
        raise InvalidArgument(f"{source}:{exc.line}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    doc = SourceDocument(source, data, builder.lines)
    if builder.problems:
        raise doc.invalid(builder.problems)
    return doc


def canonical_digest(data: Any) -> str:
    """sha256 of the document as sorted, compact JSON: comments and layout do not count."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def show_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else repr(value)


def did_you_mean(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _schema_problem(error: ValidationError) -> list[Problem]:
    path: FieldPath = tuple(error.absolute_path)
    kind = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        path = (*path, str(value))  # the key itself is wrong: point at it, not at its parent
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))  # type: ignore[union-attr]
        return [
            (
                (*path, key),
                f"unknown field{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}",
            )
            for key in value
            if key not in allowed
        ]
    if kind == "required" and isinstance(value, dict):
        return [
            (path, f"missing required field {name!r}") for name in expected if name not in value
        ]
    if kind == "enum":
        return [(path, f"{show_value(value)} is not one of {', '.join(map(str, expected))}")]
    if kind == "type":
        words = [
            TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)
        ]
        return [(path, f"expected {' or '.join(words)}, got {show_value(value)}")]
    if kind == "pattern":
        hint = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        hint = f" ({hint[:1].lower()}{hint[1:].rstrip('.')})" if hint else ""
        return [(path, f"{value!r} does not match {expected}{hint}")]
    bounds = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if kind in bounds:
        return [(path, f"must be {bounds[kind]} {expected}, got {show_value(value)}")]
    if kind in ("minItems", "minLength") and expected == 1:
        return [(path, "must not be empty")]
    if kind == "maxLength":
        return [(path, f"must be at most {expected} characters, got {len(value)}")]
    if kind == "uniqueItems" and isinstance(value, list):
        dupes = sorted({repr(v) for v in value if value.count(v) > 1})
        return [(path, f"lists {', '.join(dupes)} more than once")]
    return [(path, error.message)]


def schema_problems(doc: SourceDocument, validator: Draft202012Validator) -> list[Problem]:
    """Every way the document breaks the schema, not just the first."""
    return [p for error in validator.iter_errors(doc.data) for p in _schema_problem(error)]
