"""The task export (SPEC 3.5): a streamed zip whose manifest hashes match, in which no seeded
secret survives, whose entry names are safe to extract, and which refuses to pass its cap."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from agentledger.core.clock import ManualClock
from agentledger.core.errors import ErrorCode, ResourceExhausted
from agentledger.engine.v1 import engine_pb2 as engine_pb
from agentledger.security.redaction import RedactionPolicy
from gateway.convert import event_json, to_dict
from services.product.domain.export import (
    ArtifactRef,
    EventPage,
    ExportSources,
    ExportTooLarge,
    export_zip,
)
from services.product.domain.zipstream import ZipWriter, safe_entry_name
from services.trace_store.client import payload as payload_of
from tests.conftest import Database, Store
from tests.engine.harness import start_engine
from tests.security.secrets_corpus import find_any, seeded_secrets

SEEDS = seeded_secrets()
TASK = "t-7f3a9c"
CAP = 64 << 20


def event(seq: int, type_: str = "node.completed", payload: Any = None) -> dict[str, Any]:
    """An event as gateway/convert.py `event_json` shapes it."""
    return {
        "task_id": TASK,
        "seq": seq,
        "cursor": f"e1.3fa2b1c0d9e8{seq:016x}",
        "event_id": f"ev-{seq:08d}",
        "type": type_,
        "phase": "build",
        "node_id": f"n{seq % 3}",
        "severity": "INFO",
        "actor": "agent:python",
        "time_unix_nano": 1_767_225_600_000_000_000 + seq * 1_000_000,
        "blob_ids": [],
        "payload": {"attempt": 1, "usage": {"tokens_in": 10, "tokens_out": 2}}
        if payload is None
        else payload,
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources(
    pages: Sequence[EventPage] = (),
    blobs: Mapping[str, bytes] | None = None,
    artifacts: Sequence[ArtifactRef] | None = None,
    *,
    summary: Mapping[str, Any] | None = None,
    system_trace: Mapping[str, Any] | None = None,
    chunk: int = 65536,
    **readmes: str,
) -> ExportSources:
    blobs = dict(blobs or {})

    async def events() -> AsyncIterator[EventPage]:
        for page in pages:
            yield page

    async def read_blob(blob_id: str) -> AsyncIterator[bytes]:
        data = blobs[blob_id]
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    if artifacts is None:
        artifacts = [
            ArtifactRef("n1", f"file{i}", b, len(d)) for i, (b, d) in enumerate(blobs.items())
        ]
    return ExportSources(
        task_id=TASK,
        summary=summary if summary is not None else {"task_id": TASK, "state": "COMPLETED"},
        system_trace=system_trace,
        events=events,
        artifacts=artifacts,
        read_blob=read_blob,
        **readmes,
    )


async def collect(src: ExportSources, max_bytes: int = CAP, **kw: Any) -> bytes:
    clock = ManualClock()
    return b"".join(
        [chunk async for chunk in export_zip(src, max_bytes=max_bytes, clock=clock, **kw)]
    )


def unpacked(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {i.filename: zf.read(i) for i in zf.infolist()}


def check_manifest(files: dict[str, bytes]) -> dict[str, Any]:
    names = list(files)
    assert names[-1] == f"{TASK}/MANIFEST.json"
    manifest = orjson.loads(files[names[-1]])
    listed = {f"{manifest['root']}{f['path']}": f for f in manifest["files"]}
    assert set(listed) == set(names[:-1])
    for name, f in listed.items():
        assert f["size"] == len(files[name]), name
        assert f["sha256"] == sha(files[name]), name
    return dict(manifest)


def walk_local_headers(data: bytes) -> int:
    """Reads the archive front to back as a streaming reader would: each local header says
    "sizes follow", and the data descriptor after the data matches the central directory."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    for info in infos:
        at = info.header_offset
        sig, _, flags, method, _, _, _, _, _, n, m = struct.unpack_from("<IHHHHHIIIHH", data, at)
        assert sig == 0x04034B50 and flags & 0x08 and method == info.compress_type
        extra = data[at + 30 + n : at + 30 + n + m]
        end = at + 30 + n + m + info.compress_size
        if extra[:2] == b"\x01\x00":  # ZIP64 in the local header: 8-byte sizes follow the data
            got = struct.unpack_from("<IIQQ", data, end)
        else:
            got = struct.unpack_from("<IIII", data, end)
        assert got == (0x08074B50, info.CRC, info.compress_size, info.file_size), info.filename
    return len(infos)


# ---------------------------------------------------------------------------- the zip


async def test_export_unzips_and_every_manifest_hash_matches() -> None:
    text, binary = b"# report\n\nall good\n", bytes(range(256)) * 40
    pages = [[event(s) for s in range(1, 501)], [event(s) for s in range(501, 1001)]]
    src = sources(
        pages,
        {sha(text): text, sha(binary): binary},
        [
            ArtifactRef("n1", "report.md", sha(text), len(text), "text/markdown"),
            ArtifactRef("n2", "img/chart.png", sha(binary), len(binary), "image/png"),
        ],
        summary={"task_id": TASK, "state": "COMPLETED", "goal": "build it", "last_seq": 1000},
        system_trace={"task": {"id": TASK}, "plan": {"id": "p", "rule": "explicit"}},
    )
    data = await collect(src)
    files = unpacked(data)
    manifest = check_manifest(files)
    root = f"{TASK}/"
    assert {n.removeprefix(root) for n in files} == {
        "README.md",
        "ENGINEERING.md",
        "summary.json",
        "system_trace.json",
        "events.jsonl",
        "artifacts/n1/report.md",
        "artifacts/n2/img/chart.png",
        "redaction_report.json",
        "MANIFEST.json",
    }
    lines = files[root + "events.jsonl"].splitlines()
    assert [orjson.loads(line)["seq"] for line in lines] == list(range(1, 1001))
    assert files[root + "artifacts/n2/img/chart.png"] == binary
    assert files[root + "artifacts/n1/report.md"] == text
    assert manifest["task_id"] == TASK and manifest["exported_unix_nano"] == ManualClock().now_ns()
    assert manifest["exported_at"] == "2026-01-01T00:00:00Z"
    report = orjson.loads(files[root + "redaction_report.json"])
    assert report["total"] == 0
    assert report["files"]["artifacts/n2/img/chart.png"]["scanned"] is False
    assert walk_local_headers(data) == len(files)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert infos[root + "artifacts/n2/img/chart.png"].compress_type == zipfile.ZIP_STORED
    assert infos[root + "events.jsonl"].compress_type == zipfile.ZIP_DEFLATED
    assert infos[root + "README.md"].date_time == (2026, 1, 1, 0, 0, 0)
    assert await collect(src) == data  # same sources, same clock: the same bytes


async def test_a_task_without_events_artifacts_or_system_trace_exports() -> None:
    files = unpacked(await collect(sources()))
    manifest = check_manifest(files)
    assert files[f"{TASK}/events.jsonl"] == b""
    assert f"{TASK}/system_trace.json" not in files
    assert {f["path"] for f in manifest["files"]} >= {"README.md", "ENGINEERING.md"}


async def test_default_readmes_tell_result_next_steps_path_and_forecast() -> None:
    summary = {
        "task_id": TASK,
        "goal": "ship the report",
        "state": "COMPLETED",
        "goal_status": "PARTIAL",
        "result_summary": "2 of 3 sections written",
        "cost": {"tokens_in": 1200, "tokens_out": 300, "usd": 0.42},
        "top_decisions": [
            {
                "seq": 17,
                "node_id": "write",
                "rule": "budget",
                "decision": "degrade",
                "reason": "over",
            }
        ],
        "forecast": {"tokens_low": 1000, "tokens_high": 2000, "actual_latency_s": 12.5},
        "extra": {"next_actions": [{"what": "supply the Q3 figures"}]},
    }
    trace = {
        "plan": {"id": "report", "version": 2, "rule": "explicit"},
        "state": {"final": "COMPLETED", "reason": "every node completed"},
        "nodes": [
            {"id": "write", "phase": "build", "agent": "llm", "status": "completed", "attempt": 2,
             "variant": "degraded", "tried_variants": ["primary", "degraded"], "started_ns": 2},
            {"id": "spec", "phase": "spec", "agent": "llm", "status": "completed", "attempt": 1,
             "variant": "primary", "started_ns": 1},
        ],
    }  # fmt: skip
    files = unpacked(await collect(sources(summary=summary, system_trace=trace)))
    readme = files[f"{TASK}/README.md"].decode()
    for expected in ("ship the report", "PARTIAL", "2 of 3 sections", "supply the Q3 figures"):
        assert expected in readme
    engineering = files[f"{TASK}/ENGINEERING.md"].decode()
    assert engineering.index("| spec |") < engineering.index("| write |")  # in the order run
    for expected in ("## Recovery", "degrade", "1000-2000", "1500", "12.5"):
        assert expected in engineering
    given = unpacked(await collect(sources(user_readme="# mine\n", engineering_readme="# eng\n")))
    assert given[f"{TASK}/README.md"] == b"# mine\n"
    assert given[f"{TASK}/ENGINEERING.md"] == b"# eng\n"


# ---------------------------------------------------------------------------- redaction


async def test_no_seeded_secret_is_anywhere_in_the_export() -> None:
    texts = [s.text for s in SEEDS]
    secret_text = ("\n".join(texts) + "\n").encode()
    binary = b"\x00\xff\xfe" + random.Random(1).randbytes(5000)
    pages: list[EventPage] = [
        [event(1), event(2, payload={"note": texts[0], "nested": {"cursor": SEEDS[6].secret}})],
        [event(3 + i, payload={"log": t}) for i, t in enumerate(texts)],
        # As the gateway encodes them: bytes, spliced in unparsed.
        [orjson.dumps(event(100 + i, payload={"stderr": t})) for i, t in enumerate(texts)],
        [event(200, payload={"password": "hunter2-but-longer", "prompt": "write my essay"})],
    ]
    src = sources(
        pages,
        {sha(secret_text): secret_text, sha(binary): binary},
        [
            ArtifactRef("n1", "notes.txt", sha(secret_text), len(secret_text), "text/plain"),
            ArtifactRef("n1", f"{SEEDS[6].secret}.txt", sha(secret_text), len(secret_text)),
            ArtifactRef("n2", "blob.bin", sha(binary), len(binary)),
        ],
        summary=MappingProxyType(
            {"task_id": TASK, "result_summary": texts[1], "extra": {"k": texts[2]}}
        ),
        system_trace={"task": {"id": TASK, "inputs": {"db": texts[17], "api_key": "abc123def456"}}},
        engineering_readme="\n".join(texts),
    )
    files = unpacked(await collect(src))
    check_manifest(files)
    for name, data in files.items():
        assert find_any(data, SEEDS) == [], name
    for leaked in (b"hunter2-but-longer", b"write my essay", b"abc123def456"):
        assert not any(leaked in data for data in files.values())
    root = f"{TASK}/"
    report = orjson.loads(files[root + "redaction_report.json"])
    assert report["total"] > 0
    for path in ("events.jsonl", "summary.json", "system_trace.json", "ENGINEERING.md"):
        assert report["files"][path]["redacted"], path
    assert report["files"]["artifacts/n1/notes.txt"]["redacted"]["private_key"] == 3
    assert report["files"]["artifacts/n2/blob.bin"]["scanned"] is False
    # The artifact whose name held a secret is under its hash; the same content twice is
    # still two entries, since the names differ.
    assert root + f"artifacts/n1/{sha(secret_text)[:16]}" in files
    assert files[root + "artifacts/n2/blob.bin"] == binary
    clean = [orjson.loads(line) for line in files[root + "events.jsonl"].splitlines()]
    assert [e["seq"] for e in clean][:2] == [1, 2] and clean[0] == event(1)


class CountingPolicy(RedactionPolicy):
    """The default policy, counting the values it walks one by one (the slow path)."""

    def __init__(self) -> None:
        super().__init__()
        self.walks = 0

    def redact_value(self, value: Any, **kw: Any) -> Any:
        self.walks += 1
        return super().redact_value(value, **kw)


async def test_clean_pages_skip_the_walk_and_what_they_skip_hides_no_secret() -> None:
    """Ids, clocks, hashes and long integers look like card numbers to the policy's prefilter;
    the page check leaves them out, so clean pages are written as encoded. Secrets next to
    them, or under secret keys whatever their value, are still found."""
    hashed = "8722616204217eddb39e7df969e0698aed8e599ba62ed2de1ce49b03ade0fede"  # 13 digits
    clean = [
        event(s, payload={"sha256": hashed, "at_ns": 1_767_225_600_000_000_123})
        for s in range(1, 301)
    ]
    for e in clean:
        e["blob_ids"] = [hashed]
    policy = CountingPolicy()
    files = unpacked(
        await collect(sources([clean, [orjson.dumps(e) for e in clean]]), policy=policy)
    )
    assert policy.walks == 1  # the summary
    expected = b"".join(orjson.dumps(e) + b"\n" for e in clean)
    assert files[f"{TASK}/events.jsonl"] == expected * 2
    card = "4111111111111111"  # Luhn-valid, no letter: not a hash
    dirty = [  # (event, what must not be in the export)
        (event(1, payload={"api_key": hashed}), hashed),
        (event(2, payload={"token": 1_767_225_600_000_000_000}), "1767225600000000000"),
        (event(3, payload={"note": f"paid with {card}", "n": card}), card),
        (event(4, payload={hashed: SEEDS[6].text, "prompt": "0123456789abcdef" * 4}), "0123"),
    ]
    for e, secret in dirty:
        policy = CountingPolicy()
        out = unpacked(await collect(sources([[e]]), policy=policy))[f"{TASK}/events.jsonl"]
        assert policy.walks == 2, e  # the summary, then the event
        assert secret.encode() not in out and find_any(out, SEEDS) == [], out


async def test_large_text_artifacts_are_redacted_block_by_block() -> None:
    """Past 1 MiB a text blob is redacted in blocks of whole lines, never splitting a private
    key, and a line longer than 4 MiB is cut between characters; binaries stream unchanged."""
    rng = random.Random(3)
    filler = [f"line {i} of the build log, nothing to see {rng.random()}\n" for i in range(400)]
    parts: list[str] = []
    for i in range(60):
        parts += filler
        parts.append(SEEDS[i % len(SEEDS)].text + "\n")
    parts.append("é" * (2_500_000) + "\n")  # 5 MB without a line break
    parts.append(SEEDS[14].text + "\n")
    big = "".join(parts).encode()
    binary = b"\xff" + random.Random(4).randbytes(3 << 20)
    src = sources((), {sha(big): big, sha(binary): binary}, chunk=100_003)
    files = unpacked(await collect(src))
    check_manifest(files)
    text = files[f"{TASK}/artifacts/n1/file0"]
    assert len(text) > 6 << 20 and find_any(text, SEEDS) == []
    assert text.decode().count("é") == 2_500_000
    assert files[f"{TASK}/artifacts/n1/file1"] == binary


async def test_a_private_key_across_a_block_boundary_is_redacted_whole() -> None:
    pem = SEEDS[14].text  # RSA PRIVATE KEY, 8 lines
    body = [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
    filler = "x" * 99 + "\n"
    head = filler * ((1 << 20) // 100 - 2)  # the key starts ~200 bytes before the first 1 MiB
    text = (head + pem + "\n" + filler * 100).encode()
    files = unpacked(await collect(sources((), {sha(text): text}, chunk=1 << 20)))
    out = files[f"{TASK}/artifacts/n1/file0"].decode()
    assert out.startswith(head) and [line for line in body if line in out] == []


# ---------------------------------------------------------------------------- names


HOSTILE = [
    "../../etc/passwd",
    "/abs",
    "a\\b",
    "x" * 300,
    "ok/../../x",
    "a//b",
    "./a",
    "C:evil.txt",
    "con.txt",
    "trailing.",
    "bidi\u202etxt.exe",
    "tab\there",
    "nul\x00byte",
    "",
]


async def test_entry_names_come_from_our_ids_whatever_artifacts_are_called(
    tmp_path: Path,
) -> None:
    kept = ["résumé/数据.txt", "reports/q3 final.md", "with space"]
    refs, blobs = [], {}
    for i, name in enumerate([*HOSTILE, *kept]):
        data = f"artifact {i}\n".encode()
        blobs[sha(data)] = data
        refs.append(ArtifactRef("n1", name, sha(data), len(data), "text/plain"))
    body = b"hostile node\n"
    blobs[sha(body)] = body
    refs.append(ArtifactRef("../../n", "fine.txt", sha(body), len(body)))
    refs.append(ArtifactRef("n1", "résumé/数据.txt", sha(body), len(body)))  # taken: renamed
    data = await collect(sources((), blobs, refs))
    files = unpacked(data)
    check_manifest(files)
    names = [n.removeprefix(f"{TASK}/") for n in files]
    for name in names:
        assert safe_entry_name(name, 300), name
    expected = {f"artifacts/n1/{ref.sha256[:16]}" for ref in refs[: len(HOSTILE)]}
    expected |= {f"artifacts/n1/{name}" for name in kept}
    assert expected <= set(names)
    node = [n for n in names if n.endswith("/fine.txt")]
    assert len(node) == 1 and node[0].startswith("artifacts/node-")
    assert f"artifacts/n1/résumé/{sha(body)[:16]}-数据.txt" in names
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(tmp_path.resolve())
    assert (tmp_path / TASK / "artifacts/n1/résumé/数据.txt").read_text() == "artifact 14\n"


def test_safe_entry_name_rejects_what_could_escape_or_confuse() -> None:
    for name in HOSTILE:
        assert not safe_entry_name(name), repr(name)
    assert safe_entry_name("résumé/数据.txt")
    assert not safe_entry_name("é" * 101)  # 202 bytes


# ---------------------------------------------------------------------------- the cap


async def test_an_export_known_to_exceed_the_cap_is_refused_before_any_byte() -> None:
    data = b"\x00" * 10_000
    src = sources((), {sha(data): data})
    with pytest.raises(ExportTooLarge) as refused:
        export_zip(src, max_bytes=5_000)  # raises on the call: nothing to iterate
    assert "5000" in str(refused.value) and "cap" in str(refused.value)
    assert refused.value.cap == 5_000 and refused.value.size > 10_000
    assert isinstance(refused.value, ResourceExhausted)
    assert refused.value.code is ErrorCode.RESOURCE_EXHAUSTED
    many = sources(summary={"task_id": TASK, "last_seq": 100_000})
    with pytest.raises(ExportTooLarge, match=r"100000 events.*cap of 1000000 bytes"):
        export_zip(many, max_bytes=1_000_000)


async def test_crossing_the_cap_mid_stream_stops_the_download_with_the_error() -> None:
    pages = [[event(s) for s in range(p * 100 + 1, p * 100 + 101)] for p in range(20)]
    sent: list[bytes] = []
    with pytest.raises(ExportTooLarge, match=r"cap of 20000 bytes while writing events\.jsonl"):
        async for chunk in export_zip(sources(pages), max_bytes=20_000, clock=ManualClock()):
            sent.append(chunk)
    assert sent  # headers and the READMEs went out; the archive has no end
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(b"".join(sent)))


# ---------------------------------------------------------------------------- ZIP64


def write_zip(entries: list[tuple[str, int, bytes]], **limits: int) -> bytes:
    w = ZipWriter(mtime_ns=ManualClock().now_ns(), **limits)
    out = []
    for name, level, data in entries:
        out += [w.start(name, level=level, max_size=len(data)), w.write(data), w.end()]
    out.append(w.finish())
    return b"".join(out)


def test_more_than_65535_entries_get_zip64_end_records() -> None:
    data = write_zip([(f"a/{i}", 0, b"%d" % i) for i in range(70_000)])
    assert b"PK\x06\x06" in data[-200:] and b"PK\x06\x07" in data[-200:]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        assert len(infos) == 70_000
        assert zf.read("a/69999") == b"69999"


def test_zip64_fields_are_right_where_sizes_and_offsets_overflow(tmp_path: Path) -> None:
    """With the limits lowered, every size and offset past them takes the ZIP64 path."""
    entries = [
        ("small", 0, b"x"),
        ("big.txt", 6, b"hello zip64 " * 500),
        ("big.bin", 0, random.Random(5).randbytes(3000)),
        ("late", 0, b"at an offset past the limit"),
        ("empty", 6, b""),
    ]
    data = write_zip(entries, zip64_limit=1000, zip64_entries=3)
    # The classic end record says "see ZIP64" in every count, size and offset.
    assert data[-22:-14] == b"PK\x05\x06" + b"\x00" * 4 and data[-14:] == b"\xff" * 12 + b"\x00" * 2
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert [(i.filename, zf.read(i)) for i in zf.infolist()] == [(n, d) for n, _, d in entries]
        assert zf.getinfo("late").header_offset > 1000
    assert walk_local_headers(data) == 5
    unzip = shutil.which("unzip")
    if unzip:
        (tmp_path / "t.zip").write_bytes(data)
        subprocess.run([unzip, "-tq", str(tmp_path / "t.zip")], check=True, capture_output=True)


def test_an_entry_of_unknown_size_is_written_with_zip64_sizes() -> None:
    w = ZipWriter(mtime_ns=0)
    data = w.start("stream", level=6, max_size=None) + w.write(b"abc" * 1000) + w.end()
    data += w.finish()
    assert walk_local_headers(data) == 1
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("stream") == b"abc" * 1000
        assert zf.getinfo("stream").date_time == (1980, 1, 1, 0, 0, 0)


def test_the_writer_refuses_misuse() -> None:
    w = ZipWriter(mtime_ns=0)
    w.start("a", level=0, max_size=1)
    with pytest.raises(RuntimeError):
        w.start("b", level=0)
    w.end()
    for bad in ("a", "", "/abs"):
        with pytest.raises(ValueError):
            w.start(bad, level=0)
    w.finish()
    with pytest.raises(RuntimeError):
        w.start("c", level=0)


def test_names_outside_ascii_are_flagged_utf8() -> None:
    data = write_zip([("数据.txt", 6, "内容".encode())])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
        assert info.filename == "数据.txt" and info.flag_bits & 0x800
        assert PurePosixPath(info.filename).suffix == ".txt"


# ---------------------------------------------------------------------------- end to end

SHOUT = """
id: export-demo
version: 1
description: one command whose output holds a token
nodes:
  - id: shout
    phase: build
    agent: command
    config:
      argv: [{python}, "-c", "print('export GITHUB_TOKEN=' + 'gh' + 'p_' + 'a1B2' * 9)"]
"""


async def test_a_real_run_exports_from_the_trace_store(
    database: Database, tmp_path: Path, store: Store
) -> None:
    """An engine runs a task; its export is assembled from what trace_store hands out, as the
    Product service will: the summary, the events as `event_json` bytes, the blobs."""
    engine = await start_engine(database, tmp_path, store)
    try:
        task = await engine.client.submit(
            owner="alice",
            goal="shout a token",
            budget=engine_pb.Budget(seconds=60),
            plan_yaml=SHOUT.format(python=json.dumps(sys.executable)),
        )
        done = await engine.wait_state(task.task_id, {"COMPLETED", "FAILED"})
        assert done.state == "COMPLETED"
    finally:
        await engine.close()
    client, task_id = store.client, task.task_id
    events = []
    cursor = ""
    while True:
        page = await client.list_events(task_id, cursor=cursor, limit=7)
        events += page.events
        if not page.has_more:
            break
        cursor = page.next_cursor

    async def pages() -> AsyncIterator[EventPage]:
        cursor = ""
        while True:
            page = await client.list_events(task_id, cursor=cursor, limit=7)
            yield [event_json(e) for e in page.events]
            if not page.has_more:
                return
            cursor = page.next_cursor

    async def read_blob(blob_id: str) -> AsyncIterator[bytes]:
        async for msg in client.stream_blob(task_id, blob_id):
            if not msg.HasField("header"):
                yield msg.chunk

    written = [
        payload_of(e) | {"node": e.node_id} for e in events if e.type == "node.artifact_written"
    ]
    trace_blob = next(
        payload_of(e)["blob_id"] for e in events if e.type == "task.system_trace_written"
    )
    src = ExportSources(
        task_id=task_id,
        summary=to_dict(await client.get_summary(task_id)),
        system_trace=orjson.loads((await client.get_blob(task_id, trace_blob))[1]),
        events=pages,
        artifacts=[
            ArtifactRef(a["node"], a["name"], a["sha256"], a["size"], a["content_type"])
            for a in written
        ],
        read_blob=read_blob,
    )
    files = unpacked(b"".join([c async for c in export_zip(src, max_bytes=CAP)]))
    root = f"{task_id}/"
    manifest = orjson.loads(files[root + "MANIFEST.json"])
    for f in manifest["files"]:
        assert sha(files[root + f["path"]]) == f["sha256"]
    assert len(files[root + "events.jsonl"].splitlines()) == len(events)
    stdout = files[root + "artifacts/shout/stdout.txt"]
    assert stdout.startswith(b"export GITHUB_TOKEN=[redacted:github_token:")
    assert b"a1B2a1B2" not in b"".join(files.values())
    assert orjson.loads(files[root + "system_trace.json"])["task"]["id"] == task_id
    readme = files[root + "README.md"].decode()
    assert "shout a token" in readme and "COMPLETED" in readme
    assert "| shout | build | command | completed |" in files[root + "ENGINEERING.md"].decode()
