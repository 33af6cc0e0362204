"""Opaque cursors: event positions bound to their task, and keyset positions of task queries.

An event cursor is ``e1.`` + hex(6-byte task tag) + hex(8-byte sequence number): cheap to make
for every event of a page. The tag makes a cursor of another task detectable; the format is
private and may change with its prefix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from agentledger.core.errors import InvalidArgument

_EVENT_PREFIX = "e1."
_TASK_PREFIX = "q1."
_HEX = frozenset("0123456789abcdef")


def task_tag(task_id: str) -> bytes:
    return hashlib.blake2b(task_id.encode(), digest_size=6).digest()


def encode_event_cursor(tag: bytes, seq: int) -> str:
    return f"{_EVENT_PREFIX}{tag.hex()}{seq:016x}"


def event_cursor(task_id: str, seq: int) -> str:
    return encode_event_cursor(task_tag(task_id), seq)


def decode_event_cursor(task_id: str, cursor: str) -> int:
    """The sequence number after which the cursor resumes; an empty cursor means the start."""
    if not cursor:
        return 0
    hint = "pass a value from next_cursor or an event's cursor, or empty to start at the beginning"
    if not cursor.startswith(_EVENT_PREFIX):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is not an event cursor; {hint}")
    body = cursor[len(_EVENT_PREFIX) :]
    if len(body) != 28 or not all(c in _HEX for c in body):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}")
    if bytes.fromhex(body[:12]) != task_tag(task_id):
        raise InvalidArgument(
            f"cursor {cursor[:40]!r} belongs to another task, not {task_id!r}; {hint}"
        )
    seq = int(body[12:], 16)
    if seq >= 2**63:
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}")
    return seq


def encode_task_cursor(sort: str, ascending: bool, value: Any, task_id: str) -> str:
    doc = json.dumps([sort, ascending, value, task_id], separators=(",", ":"))
    return _TASK_PREFIX + base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")


def decode_task_cursor(cursor: str, sort: str, ascending: bool) -> tuple[Any, str] | None:
    """The (sort value, task id) after which a query page resumes; None for the first page."""
    if not cursor:
        return None
    hint = "pass next_cursor from the previous page of the same query"
    if not cursor.startswith(_TASK_PREFIX):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is not a task query cursor; {hint}")
    body = cursor[len(_TASK_PREFIX) :]
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        c_sort, c_asc, value, task_id = doc
    except (binascii.Error, ValueError, TypeError):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}") from None
    if c_sort != sort or c_asc != ascending:
        raise InvalidArgument(
            f"cursor {cursor[:40]!r} was made for sort {c_sort!r} "
            f"({'ascending' if c_asc else 'descending'}); {hint}"
        )
    if not isinstance(task_id, str) or not isinstance(value, int | float):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}")
    return value, task_id
