"""SPEC 3.5: a task's deliverable as one streamed zip -- READMEs for the user and the engineer,
the trace (summary, system trace, events), the artifacts, a redaction report and a manifest of
every file's SHA-256; redacted on the way out, named from our own ids only, capped in size.

Everything comes in as async iterables, so memory stays bounded: events are written a page at
a time, blobs a chunk (text: a block of lines) at a time. The stores redact at write time; this
is the second line of defence, and a report that counts nothing is the expected one.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import PurePosixPath
from typing import Any

import orjson

from agentledger.core.clock import Clock, SystemClock
from agentledger.core.errors import InvalidArgument, ResourceExhausted
from agentledger.security.redaction import DEFAULT_POLICY, RedactionPolicy, RedactionReport
from services.product.domain.export_readme import engineering_readme, user_readme
from services.product.domain.zipstream import ZipWriter, safe_entry_name

EXPORT_SCHEMA = "agentledger.export.v1"
# The fewest bytes an event takes in events.jsonl (its envelope alone): the estimate of an
# export's size before it starts may refuse only exports that cannot fit.
EVENT_BYTES_FLOOR = 160
_BLOCK = 1 << 20  # text blobs up to this are redacted whole, larger ones a block of lines at a time
_DOC_LEVEL, _BULK_LEVEL = 6, 1  # deflate: small documents; events and artifacts (5x faster)
_MAX_NAME = 200  # bytes of an artifact's name
_SLICE = 64  # events checked for secrets at a time
_HEX = re.compile(r"[0-9a-f]{16,}")
# The secret check of a page of events runs on a view of it without the envelope's parts that
# are ours (task id, sequence, cursor, event id, clock, blob hashes) and with long digit runs
# that cannot be card numbers replaced: hex strings with a letter (hashes) and integers of 13+
# digits (nanosecond times). To the policy's prefilter those look like card numbers and would
# send nearly every page down the slow path. The view is unchanged by the policy only if the
# events are: a secret key's value is redacted whatever it became, and keys stay as they are.
_OURS = ("task_id", "seq", "cursor", "event_id", "time_unix_nano", "blob_ids")
_THEIRS = ("type", "phase", "node_id", "severity", "actor", "payload")
_ENVELOPE = frozenset(_OURS + _THEIRS)
_their_values = itemgetter(*_THEIRS)
_OUR_HEAD = re.compile(  # ...in gateway `event_json` bytes, whose every line starts with them
    rb'\n\{"task_id":"[^"\\]*","seq":[0-9]+,"cursor":"[^"\\]*","event_id":"[^"\\]*"'
)
_RUN = b"0" * 13
_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_HEX_BYTES = frozenset(b"0123456789abcdef")

EventPage = Sequence[Mapping[str, Any] | bytes]


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact a node wrote (a ``node.artifact_written`` event or a system-trace entry)."""

    node_id: str
    name: str  # as the node named it: checked before it becomes part of an entry name
    sha256: str  # also its blob id
    size: int
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class ExportSources:
    """What an export reads, as callables and async iterables: nothing is held whole."""

    task_id: str
    summary: Mapping[str, Any]  # the trace summary as the REST API shows it (last_seq: events)
    system_trace: Mapping[str, Any] | None  # system_trace.v1.json, None if the run wrote none
    # Pages of events in seq order: dicts in gateway `event_json` shape, or that JSON as bytes
    # (one document per item, no newline), which is written without re-encoding.
    events: Callable[[], AsyncIterator[EventPage]]
    artifacts: Sequence[ArtifactRef]
    read_blob: Callable[[str], AsyncIterator[bytes]]  # one blob's chunks; may be called twice
    user_readme: str = ""  # Markdown built elsewhere; empty: a default from summary and trace
    engineering_readme: str = ""


class ExportTooLarge(ResourceExhausted):
    """The export exceeds its size cap: refused before the first byte when that is known in
    advance, else stopped when the cap is crossed (the download then aborts)."""

    def __init__(self, message: str, *, size: int, cap: int) -> None:
        super().__init__(message)
        self.size = size
        self.cap = cap


def export_zip(
    sources: ExportSources,
    *,
    max_bytes: int,
    policy: RedactionPolicy = DEFAULT_POLICY,
    clock: Clock | None = None,
) -> AsyncIterator[bytes]:
    """The zip's bytes, in chunks. `max_bytes` caps the files' total size (uncompressed, as
    MANIFEST.json lists them; the zip is no bigger but for headers). Raises `ExportTooLarge`
    here, before returning, when the artifacts' sizes and the event count already pass it."""
    if max_bytes <= 0:
        raise InvalidArgument(f"max_bytes must be a positive number of bytes, not {max_bytes}")
    return _Export(sources, policy, max_bytes, (clock or SystemClock()).now_ns()).stream()


def artifact_paths(
    artifacts: Sequence[ArtifactRef], policy: RedactionPolicy
) -> list[tuple[str, ArtifactRef]]:
    """Each artifact's path in the export, ``artifacts/<node_id>/<name>``: a name that is not
    a plain relative path (``..``, absolute, backslash, control characters, too long, or
    holding a secret) becomes its blob hash. Duplicates of the same content are dropped."""
    out: list[tuple[str, ArtifactRef]] = []
    seen: dict[str, str] = {}
    for ref in artifacts:
        folder = f"artifacts/{safe_component(ref.node_id, 'node-', policy)}"
        hashed = _hex16(ref.sha256)
        name = ref.name if _safe_path(ref.name, policy) else hashed
        path = f"{folder}/{name}"
        if path in seen:
            if seen[path] == ref.sha256:
                continue
            path = (
                f"{folder}/{PurePosixPath(name).with_name(f'{hashed}-{PurePosixPath(name).name}')}"
            )
            if path in seen:
                continue
        seen[path] = ref.sha256
        out.append((path, ref))
    return out


def safe_component(value: str, prefix: str, policy: RedactionPolicy) -> str:
    """`value` as one path component if it is a safe one, else `prefix` + a hash of it."""
    if "/" not in value and _safe_path(value, policy):
        return value
    return prefix + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _safe_path(name: str, policy: RedactionPolicy) -> bool:
    return safe_entry_name(name, _MAX_NAME) and policy.redact_text(name) is name


def _hex16(blob_id: str) -> str:
    if _HEX.fullmatch(blob_id):
        return blob_id[:16]
    return hashlib.sha256(blob_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """orjson's fallback: mappings as dicts, anything else unknown as its text."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def _check_view(page: EventPage, lines: list[bytes]) -> bytes:
    """What the policy checks of a page: see `_OURS`."""
    if all(isinstance(e, bytes) for e in page):
        view = b"[\n" + b",\n".join(lines) + b"]"
        view = _OUR_HEAD.sub(b'\n{"_":0', view)  # the clock and blob ids: as long digits
    else:
        view = orjson.dumps([_theirs(e) for e in page], default=_plain)
    return _hide_long_digits(view)


def _theirs(event: Mapping[str, Any] | bytes) -> Any:
    if isinstance(event, bytes):
        return orjson.Fragment(event)
    if len(event) == len(_ENVELOPE) and _ENVELOPE.issuperset(event):
        return _their_values(event)
    return {k: v for k, v in event.items() if k not in _OURS}


def _hide_long_digits(view: bytes) -> bytes:
    """`view` with each hex string value (with a letter) or integer value that holds a run of
    13+ digits replaced by 0. Anything else is left as it is: escaped quotes, keys, arrays,
    spaces around a colon."""
    digits = view.translate(_TO_ZERO)  # found by memchr-speed search, unlike a regex
    start = digits.find(_RUN)
    parts: list[bytes] = []
    pos = 0
    while start >= 0:
        left, right = start, start + len(_RUN)
        while view[left - 1] in _HEX_BYTES:
            left -= 1
        while view[right] in _HEX_BYTES:
            right += 1
        letters = view[left:right].translate(None, b"0123456789")  # then no card inside
        if letters:  # a hex string value: unescaped quotes around it, no colon after it
            hidden = view[left - 1] == view[right] == 0x22 and view[left - 2] != 0x5C
            hidden = hidden and view[right + 1] in b",}]"
            if hidden:
                parts += (view[pos : left - 1], b"0")
                pos = right + 1
        elif view[left - 2 : left] == b'":' and view[left - 3] != 0x5C and view[right] in b",}]":
            parts += (view[pos:left], b"0")  # an integer value
            pos = right
        start = digits.find(_RUN, right)
    return b"".join([*parts, view[pos:]]) if parts else view


class _Export:
    """One export: refuses it at construction when it cannot fit, then streams it once."""

    def __init__(self, src: ExportSources, policy: RedactionPolicy, cap: int, now_ns: int) -> None:
        self._src, self._policy, self._cap, self._now = src, policy, cap, now_ns
        self._root = safe_component(src.task_id, "task-", policy)
        self._zip = ZipWriter(mtime_ns=now_ns)
        self._reports: dict[str, RedactionReport] = {}
        self._binary: list[str] = []
        self._manifest: list[dict[str, Any]] = []
        self._written = 0
        self._path = ""
        self._sha = hashlib.sha256()
        self._size = 0
        # Redacted first: the default READMEs are built from them.
        self._summary_doc = self._redacted_doc("summary.json", src.summary)
        self._trace_doc = (
            None
            if src.system_trace is None
            else self._redacted_doc("system_trace.json", src.system_trace)
        )
        self._summary = orjson.dumps(self._summary_doc, option=orjson.OPT_INDENT_2)
        self._trace = (
            None
            if self._trace_doc is None
            else orjson.dumps(self._trace_doc, option=orjson.OPT_INDENT_2)
        )
        self._artifacts = artifact_paths(src.artifacts, policy)
        self._check_cap()

    def _check_cap(self) -> None:
        artifacts = sum(max(ref.size, 0) for _, ref in self._artifacts)
        events = int(self._summary_doc.get("last_seq") or 0)
        known = len(self._summary) + len(self._trace or b"") + artifacts
        known += len(self._src.user_readme.encode()) + len(self._src.engineering_readme.encode())
        estimate = known + events * EVENT_BYTES_FLOOR
        if estimate > self._cap:
            raise ExportTooLarge(
                f"export of task {self._src.task_id!r} needs at least {estimate} bytes "
                f"({artifacts} of {len(self._artifacts)} artifacts, {events} events at "
                f"{EVENT_BYTES_FLOOR}+ bytes each), over the export size cap of {self._cap} "
                "bytes; raise the cap or ask for a smaller export",
                size=estimate,
                cap=self._cap,
            )

    async def stream(self) -> AsyncIterator[bytes]:
        src, summary, trace = self._src, self._summary_doc, self._trace_doc
        for path, text in (
            ("README.md", src.user_readme or user_readme(summary)),
            ("ENGINEERING.md", src.engineering_readme or engineering_readme(summary, trace)),
        ):
            yield self._whole(path, self._redacted_text(path, text), _DOC_LEVEL)
        yield self._whole("summary.json", self._summary, _DOC_LEVEL)
        if self._trace is not None:
            yield self._whole("system_trace.json", self._trace, _DOC_LEVEL)
        async for chunk in self._events():
            yield chunk
        for path, ref in self._artifacts:
            async for chunk in self._artifact(path, ref):
                yield chunk
        yield self._whole("redaction_report.json", self._report(), _DOC_LEVEL)
        # Content types come from the agents: the manifest is checked like everything else.
        manifest = orjson.dumps(self._manifest_doc(), option=orjson.OPT_INDENT_2)
        manifest = self._policy.redact_json(manifest)
        # Last, and not listed in itself.
        yield self._start("MANIFEST.json", _DOC_LEVEL) + self._put(manifest) + self._zip.end()
        yield self._zip.finish()

    # ------------------------------------------------------------------ entries

    def _start(self, path: str, level: int) -> bytes:
        self._path, self._sha, self._size = path, hashlib.sha256(), 0
        return self._zip.start(f"{self._root}/{path}", level=level, max_size=self._cap)

    def _put(self, data: bytes) -> bytes:
        """Data of the open entry, counted against the cap before it is written."""
        self._written += len(data)
        if self._written > self._cap:
            raise ExportTooLarge(
                f"export of task {self._src.task_id!r} passed the export size cap of "
                f"{self._cap} bytes while writing {self._path}; the download is incomplete: "
                "raise the cap or ask for a smaller export",
                size=self._written,
                cap=self._cap,
            )
        self._sha.update(data)
        self._size += len(data)
        return self._zip.write(data)

    def _end(self, **extra: Any) -> bytes:
        self._manifest.append(
            {"path": self._path, "size": self._size, "sha256": self._sha.hexdigest(), **extra}
        )
        return self._zip.end()

    def _whole(self, path: str, data: bytes, level: int, **extra: Any) -> bytes:
        return self._start(path, level) + self._put(data) + self._end(**extra)

    # ------------------------------------------------------------------ redaction

    def _report_for(self, path: str) -> RedactionReport:
        return self._reports.setdefault(path, RedactionReport())

    def _redacted_doc(self, path: str, doc: Mapping[str, Any]) -> Any:
        plain = orjson.loads(orjson.dumps(doc, default=_plain))  # so the walk sees every mapping
        return self._policy.redact_value(plain, report=self._report_for(path))

    def _redacted_text(self, path: str, text: str) -> bytes:
        out, counts = self._policy.redact_text_counted(text)
        self._report_for(path).add(counts)
        return out.encode("utf-8", "replace")

    def _redacted_bytes(self, path: str, data: bytes) -> bytes:
        text = data.decode("utf-8")
        out, counts = self._policy.redact_text_counted(text)
        self._report_for(path).add(counts)
        return data if out is text else out.encode("utf-8")

    def _redacted_event(self, line: bytes, report: RedactionReport) -> bytes:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            text = line.decode("utf-8", "replace")
            out, counts = self._policy.redact_text_counted(text)
            report.add(counts)
            return out.encode("utf-8")
        redacted = self._policy.redact_value(event, report=report)
        return line if redacted is event else orjson.dumps(redacted, default=_plain)

    # ------------------------------------------------------------------ streamed entries

    async def _events(self) -> AsyncIterator[bytes]:
        yield self._start("events.jsonl", _BULK_LEVEL)
        report = self._report_for("events.jsonl")
        async for page in self._src.events():
            lines = [e if isinstance(e, bytes) else orjson.dumps(e, default=_plain) for e in page]
            if not lines:
                continue
            # Checked in slices, so that one event with a needle (a key named "key", a marker
            # of an earlier redaction) costs the policy's walk of its slice, not of the page.
            for i in range(0, len(lines), _SLICE):
                view = _check_view(page[i : i + _SLICE], lines[i : i + _SLICE])
                if self._policy.redact_json(view) is not view:  # something to redact: find it
                    lines[i : i + _SLICE] = [
                        self._redacted_event(line, report) for line in lines[i : i + _SLICE]
                    ]
            # Deflating and hashing on a thread, overlapped with the next page, measured
            # slower: the GIL hand-offs cost more than the ~2 us an event they would save.
            out = self._put(b"\n".join(lines) + b"\n")
            if out:
                yield out
        yield self._end()

    async def _artifact(self, path: str, ref: ArtifactRef) -> AsyncIterator[bytes]:
        is_text, data = await _probe(self._src.read_blob(ref.sha256))
        if not is_text:
            self._binary.append(path)
        level = _BULK_LEVEL if is_text else 0
        extra = {"blob_sha256": ref.sha256, "content_type": ref.content_type}
        if data is not None:  # small enough to be in hand
            body = self._redacted_bytes(path, data) if is_text else data
            yield self._whole(path, body, level, **extra)
            return
        yield self._start(path, level)
        chunks = self._src.read_blob(ref.sha256)
        async for chunk in _text_blocks(chunks) if is_text else chunks:
            out = self._put(self._redacted_bytes(path, chunk) if is_text else chunk)
            if out:
                yield out
        yield self._end(**extra)

    # ------------------------------------------------------------------ documents

    def _report(self) -> bytes:
        total = RedactionReport()
        files: dict[str, Any] = {}
        for path, report in self._reports.items():
            total.add(report.counts)
            files[path] = {"scanned": True, "redacted": report.as_dict()}
        for path in self._binary:
            files[path] = {"scanned": False, "why": "binary (not UTF-8): included as stored"}
        doc = {
            "task_id": self._src.task_id,
            "policy": "agentledger.security.redaction",
            "note": "counts of values redacted while exporting, per file and kind; the stores "
            "redact when they write, so this second pass usually finds nothing",
            "total": total.total,
            "by_kind": total.as_dict(),
            "files": files,
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    def _manifest_doc(self) -> dict[str, Any]:
        at = datetime.fromtimestamp(self._now / 1e9, tz=UTC)
        return {
            "schema": EXPORT_SCHEMA,
            "task_id": self._src.task_id,
            "root": f"{self._root}/",
            "exported_unix_nano": self._now,
            "exported_at": at.isoformat().replace("+00:00", "Z"),
            "note": "size and sha256 of each file as stored in this archive, uncompressed; "
            "paths are relative to root; this manifest is not listed",
            "files": self._manifest,
        }


async def _probe(chunks: AsyncIterator[bytes]) -> tuple[bool, bytes | None]:
    """Whether a blob is UTF-8 text, and its bytes when they fit in a block."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    kept: list[bytes] | None = []
    size, text = 0, True
    try:
        async for chunk in chunks:
            size += len(chunk)
            if text:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    text = False
            if kept is not None and size <= _BLOCK:
                kept.append(chunk)
            else:
                kept = None
            if kept is None and not text:
                break  # too big to keep, and known to be binary
        if text:
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        text = False
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return text, None if kept is None else b"".join(kept)


async def _text_blocks(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A UTF-8 blob as blocks of whole lines of about `_BLOCK` bytes, for redaction."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        while len(buf) >= _BLOCK and (cut := _cut(buf)):
            yield bytes(buf[:cut])
            del buf[:cut]
    if buf:
        yield bytes(buf)


def _cut(buf: bytearray) -> int:
    """Where a block ends: after its last whole line, before a private key it would split
    (secrets are redacted within a block); 0 to wait for more."""
    cut = buf.rfind(b"\n") + 1
    begin = buf.rfind(b"-----BEGIN", 0, cut)
    if begin > buf.rfind(b"-----END", 0, cut):
        cut = buf.rfind(b"\n", 0, begin) + 1
    if cut == 0 and len(buf) >= 4 * _BLOCK:  # megabytes without a line: cut between characters
        cut = len(buf) - 1
        while cut > 0 and buf[cut] & 0xC0 == 0x80:
            cut -= 1
    return cut
