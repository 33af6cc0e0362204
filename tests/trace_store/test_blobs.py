"""Blobs: chunked upload verified by hash, deduplication, the size cap, per-task access."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentledger.core.errors import InvalidArgument, NotFound
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from tests.conftest import Database, Store, start_store, stop_store, store_settings
from tests.helpers import new_task


async def test_upload_download_and_deduplicate(store: Store) -> None:
    await new_task(store.client, "t1")
    await new_task(store.client, "t2")
    data = os.urandom(700_000)  # three chunks
    first = await store.client.put_blob("t1", data, "application/x-test")
    assert first.created and first.size == len(data)
    assert first.blob_id == hashlib.sha256(data).hexdigest()
    again = await store.client.put_blob("t2", data)
    assert not again.created and again.blob_id == first.blob_id
    header, got = await store.client.get_blob("t1", first.blob_id)
    assert got == data and header.content_type == "application/x-test"
    assert (await store.client.get_blob("t2", first.blob_id))[1] == data


async def test_empty_blob(store: Store) -> None:
    await new_task(store.client, "t1")
    put = await store.client.put_blob("t1", b"")
    assert (await store.client.get_blob("t1", put.blob_id))[1] == b""


async def test_a_blob_is_served_only_through_a_task_that_holds_it(store: Store) -> None:
    await new_task(store.client, "t1")
    await new_task(store.client, "t2")
    put = await store.client.put_blob("t1", b"secret report")
    with pytest.raises(NotFound, match="not a blob of task 't2'"):
        await store.client.get_blob("t2", put.blob_id)
    with pytest.raises(NotFound):
        await store.client.get_blob("t1", "0" * 64)


def _messages(header: pb.BlobHeader, chunks: list[bytes]) -> Iterator[pb.PutBlobRequest]:
    yield pb.PutBlobRequest(header=header)
    for c in chunks:
        yield pb.PutBlobRequest(chunk=c)


async def _raw_put(store: Store, header: pb.BlobHeader, chunks: list[bytes]) -> pb.PutBlobResponse:
    from grpc.aio import AioRpcError

    from agentledger.core.client import to_domain_error

    try:
        return await store.client._stub.PutBlob(_messages(header, chunks))
    except AioRpcError as err:
        raise to_domain_error(err) from None


async def test_bytes_that_do_not_match_their_hash_store_nothing(store: Store) -> None:
    await new_task(store.client, "t1")
    claimed = hashlib.sha256(b"the real thing").hexdigest()
    header = pb.BlobHeader(sha256=claimed, size=14, task_id="t1")
    with pytest.raises(InvalidArgument, match="nothing was stored"):
        await _raw_put(store, header, [b"a forged thing"])
    with pytest.raises(NotFound):
        await store.client.get_blob("t1", claimed)
    with pytest.raises(InvalidArgument, match="declared size"):
        await _raw_put(
            store, pb.BlobHeader(sha256=claimed, size=3, task_id="t1"), [b"the real thing"]
        )


async def test_blob_header_problems_are_named(store: Store) -> None:
    await new_task(store.client, "t1")
    with pytest.raises(InvalidArgument, match="not a lower-case hex sha256"):
        await _raw_put(store, pb.BlobHeader(sha256="XYZ", size=1, task_id="t1"), [b"x"])
    with pytest.raises(NotFound, match="'ghost'"):
        await store.client.put_blob("ghost", b"x")
    with pytest.raises(InvalidArgument, match="content_type"):
        await store.client.put_blob("t1", b"x", content_type="x" * 300)


async def test_size_cap_is_enforced_and_named(database: Database, tmp_path: Path) -> None:
    settings = store_settings(database, tmp_path, AGENTLEDGER_TRACE_STORE_MAX_BLOB_BYTES="1000")
    s, built = await start_store(settings)
    try:
        await new_task(s.client, "t1")
        with pytest.raises(InvalidArgument, match="limit is 1000 bytes"):
            await s.client.put_blob("t1", b"x" * 1001)
        # A client that lies about the size is stopped by the running total.
        data = b"y" * 1500
        header = pb.BlobHeader(sha256=hashlib.sha256(data).hexdigest(), size=10, task_id="t1")
        with pytest.raises(InvalidArgument):
            await _raw_put(s, header, [data[:700], data[700:]])
    finally:
        await stop_store(s, built)


@pytest.mark.parametrize("backend", ["folder"])
async def test_folder_backend(database: Database, tmp_path: Path, backend: str) -> None:
    settings = store_settings(
        database,
        tmp_path,
        AGENTLEDGER_TRACE_STORE_BLOB_BACKEND=backend,
        AGENTLEDGER_TRACE_STORE_BLOB_DIR=str(tmp_path / "blobs"),
    )
    s, built = await start_store(settings)
    try:
        await new_task(s.client, "t1")
        data = os.urandom(300_000)
        put = await s.client.put_blob("t1", data)
        assert (tmp_path / "blobs" / put.blob_id[:2] / put.blob_id).read_bytes() == data
        assert (await s.client.get_blob("t1", put.blob_id))[1] == data
        assert not list((tmp_path / "blobs" / put.blob_id[:2]).glob(".incoming-*"))
    finally:
        await stop_store(s, built)
