"""The one gate every payload passes before it is persisted: validation, limits, redaction.

Events and summary documents come through here and nowhere else, so that the redaction policy
(SPEC invariant 9) applies to everything the store writes by being installed in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from agentledger.core.errors import InvalidArgument
from services.trace_store.domain.model import PHASES, SEVERITY_INFO, SEVERITY_MAX, PreparedEvent

MAX_ID_CHARS = 128
MAX_NAME_CHARS = 256
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Redactor(Protocol):
    """Turns a JSON document into one that is safe to persist. Must be deterministic."""

    def redact_json(self, payload: bytes) -> bytes: ...


class NoRedaction:
    """Keeps payloads as they are: the seam where the security layer installs its policy."""

    def redact_json(self, payload: bytes) -> bytes:
        return payload


class EventLike(Protocol):
    """What ingestion reads of a submitted event."""

    @property
    def event_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def time_unix_nano(self) -> int: ...
    @property
    def payload_json(self) -> bytes: ...
    @property
    def blob_ids(self) -> Iterable[str]: ...


class WireEncoder(Protocol):
    """Turns what passed the gate into the bytes the store keeps and serves as they are (the
    adapter's wire format), so reads need no re-encoding."""

    def encode(
        self, event: EventLike, time_ns: int | None, severity: int | None, payload: bytes | None
    ) -> bytes:
        """An event. ``time_ns``, ``severity`` and ``payload`` replace the event's own values
        when not None (a defaulted time or severity, a redacted payload)."""
        ...

    def encode_summary(self, document: dict[str, Any]) -> bytes:
        """A summary document, after redaction."""
        ...


@dataclass(frozen=True)
class IngestLimits:
    max_batch_events: int = 5000
    max_event_bytes: int = 256 * 1024
    max_summary_bytes: int = 1024 * 1024


class Ingestor:
    """Validates, bounds and redacts what is about to be written."""

    def __init__(
        self, limits: IngestLimits, encoder: WireEncoder, redactor: Redactor | None = None
    ) -> None:
        self.limits = limits
        self._encoder = encoder
        self._encode = encoder.encode
        self._redactor = redactor or NoRedaction()

    def events(self, task_id: str, batch: Sequence[EventLike], now_ns: int) -> list[PreparedEvent]:
        """Validated rows in batch order; raises InvalidArgument naming the first bad event.

        This is the hot path of every append: one combined check per event, and the detailed
        diagnosis only once something failed.
        """
        check_task_id(task_id)
        if not batch:
            raise InvalidArgument("the batch is empty; send at least one event")
        limits = self.limits
        if len(batch) > limits.max_batch_events:
            raise InvalidArgument(
                f"the batch has {len(batch)} events; the limit is {limits.max_batch_events} per call"
            )
        redact = None if isinstance(self._redactor, NoRedaction) else self._redactor.redact_json
        loads, max_bytes, phases, encode = (
            orjson.loads,
            limits.max_event_bytes,
            PHASES,
            self._encode,
        )
        out: list[PreparedEvent] = []
        append = out.append
        i = 0
        try:
            for i, e in enumerate(batch):
                event_id, etype, phase, payload = e.event_id, e.type, e.phase, e.payload_json
                severity, node_id, actor = e.severity or SEVERITY_INFO, e.node_id, e.actor
                if not (
                    0 < len(event_id) <= MAX_ID_CHARS
                    and 0 < len(etype) <= MAX_ID_CHARS
                    and phase in phases
                    and 0 < severity <= SEVERITY_MAX
                    and len(node_id) <= MAX_NAME_CHARS
                    and len(actor) <= MAX_NAME_CHARS
                    and len(payload) <= max_bytes
                ):
                    raise _diagnose(i, e, max_bytes)
                redacted = None
                if payload:
                    if loads(payload).__class__ is not dict:
                        raise InvalidArgument(
                            f"event {event_id!r}: payload_json must be a JSON object"
                        )
                    if redact is not None:
                        redacted = redact(payload)
                        if redacted == payload:
                            redacted = None
                blob_ids = e.blob_ids
                if blob_ids:
                    _check_blob_ids(event_id, blob_ids)
                wire = encode(
                    e,
                    None if e.time_unix_nano else now_ns,
                    None if e.severity else severity,
                    redacted,
                )
                append((event_id, etype, phase, node_id, severity, wire))
        except orjson.JSONDecodeError as exc:
            raise InvalidArgument(
                f"event {batch[i].event_id!r}: payload_json is not valid JSON ({exc})"
            ) from None
        if len({p[0] for p in out}) != len(out):
            seen: set[str] = set()
            for p in out:
                if p[0] in seen:
                    raise InvalidArgument(f"event_id {p[0]!r} appears twice in the batch")
                seen.add(p[0])
        return out

    def summary_document(self, document: dict[str, Any]) -> bytes:
        """The summary as it will be stored: within its size limit, redacted (as JSON), then
        in the adapter's wire form."""
        raw = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        if len(raw) > self.limits.max_summary_bytes:
            raise InvalidArgument(
                f"the summary is {len(raw)} bytes; the limit is {self.limits.max_summary_bytes} "
                "(keep details in events or blobs)"
            )
        redacted = self._redactor.redact_json(raw)
        return self._encoder.encode_summary(document if redacted is raw else orjson.loads(redacted))


def _diagnose(i: int, e: EventLike, max_bytes: int) -> InvalidArgument:
    """Names what is wrong with an event that failed the combined check."""
    event_id = e.event_id
    if not 0 < len(event_id) <= MAX_ID_CHARS:
        return InvalidArgument(
            f"event #{i}: event_id must be 1..{MAX_ID_CHARS} characters "
            "(a client-chosen id; it makes retries idempotent)"
        )
    where = f"event {event_id!r}"
    if not 0 < len(e.type) <= MAX_ID_CHARS:
        return InvalidArgument(f"{where}: type must be 1..{MAX_ID_CHARS} characters")
    if e.phase not in PHASES:
        return InvalidArgument(
            f"{where}: phase {e.phase!r} is not one of spec, build, verify, govern (or empty)"
        )
    if not 0 <= e.severity <= SEVERITY_MAX:
        return InvalidArgument(f"{where}: severity {e.severity} is out of range 1..{SEVERITY_MAX}")
    if len(e.node_id) > MAX_NAME_CHARS or len(e.actor) > MAX_NAME_CHARS:
        return InvalidArgument(
            f"{where}: node_id and actor are limited to {MAX_NAME_CHARS} characters"
        )
    return InvalidArgument(
        f"{where}: payload is {len(e.payload_json)} bytes; the limit is {max_bytes} bytes "
        "(store large content as a blob and refer to it by blob_ids)"
    )


def _check_blob_ids(event_id: str, blob_ids: Iterable[str]) -> None:
    for blob_id in blob_ids:
        if not _SHA256.fullmatch(blob_id):
            raise InvalidArgument(
                f"event {event_id!r}: blob id {blob_id[:80]!r} is not a lower-case hex sha256"
            )


def check_task_id(task_id: str) -> None:
    if not task_id or len(task_id) > MAX_ID_CHARS:
        raise InvalidArgument(f"task_id must be 1..{MAX_ID_CHARS} characters, got {task_id[:40]!r}")
    if not task_id.isprintable() or any(c.isspace() for c in task_id):
        raise InvalidArgument(f"task_id {task_id[:40]!r} contains spaces or control characters")
