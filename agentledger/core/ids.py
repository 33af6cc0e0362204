"""Time-sortable ids (UUIDv7 layout): every service's event ids, so indexes on them stay
compact."""

from __future__ import annotations

import os
import time
import uuid


def new_uuid7(now_ns: int | None = None) -> uuid.UUID:
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(raw))


def new_event_id() -> str:
    return str(new_uuid7())
