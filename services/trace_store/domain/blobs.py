"""Content-addressed blobs: verified by sha256 while they stream in, stored once, served by task.

Metadata (size, type, which tasks hold the blob) lives in the database; the bytes live in a
backend: the database itself (shared by every replica; the default) or a local folder. A blob
whose bytes do not match its declared hash or size is refused and nothing is stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from agentledger.core.clock import Clock
from agentledger.core.db import is_sqlite
from agentledger.core.errors import InvalidArgument, NotFound
from services.trace_store.domain import schema
from services.trace_store.domain.ingest import check_task_id
from services.trace_store.domain.model import BlobInfo

CHUNK_BYTES = 256 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobBackend(Protocol):
    """Where blob bytes live. ``store`` receives a verified, rewound file."""

    def exists(self, sha256: str) -> bool: ...
    def store(self, sha256: str, content: IO[bytes]) -> None: ...
    def chunks(self, sha256: str) -> Iterator[bytes]: ...


class DatabaseBlobBackend:
    """Blob bytes in chunk rows of the trace store's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = sqlite.insert if is_sqlite(engine) else postgresql.insert

    def exists(self, sha256: str) -> bool:
        c = schema.blob_chunks.c
        with self._engine.connect() as conn:
            return (
                conn.execute(select(c.idx).where(c.sha256 == sha256, c.idx == 0)).first()
                is not None
            )

    def store(self, sha256: str, content: IO[bytes]) -> None:
        with self._engine.begin() as conn:
            idx = 0
            while chunk := content.read(CHUNK_BYTES):
                conn.execute(
                    self._insert(schema.blob_chunks)
                    .values(sha256=sha256, idx=idx, data=chunk)
                    .on_conflict_do_nothing()
                )
                idx += 1
            if idx == 0:
                conn.execute(
                    self._insert(schema.blob_chunks)
                    .values(sha256=sha256, idx=0, data=b"")
                    .on_conflict_do_nothing()
                )

    def chunks(self, sha256: str) -> Iterator[bytes]:
        c = schema.blob_chunks.c
        idx = 0
        while True:
            # One chunk per query keeps memory flat however large the blob.
            with self._engine.connect() as conn:
                data = conn.execute(select(c.data).where(c.sha256 == sha256, c.idx == idx)).scalar()
            if data is None:
                return
            yield bytes(data)
            idx += 1


class FolderBlobBackend:
    """Blob bytes as files named by their hash under a local folder (one node, or a shared volume)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        return self._root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def store(self, sha256: str, content: IO[bytes]) -> None:
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := content.read(CHUNK_BYTES):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)  # atomic: readers see the whole blob or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self._path(sha256).open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk


class BlobStore:
    def __init__(self, engine: Engine, backend: BlobBackend, clock: Clock, max_bytes: int) -> None:
        self._engine = engine
        self._backend = backend
        self._clock = clock
        self.max_bytes = max_bytes
        self._insert = sqlite.insert if is_sqlite(engine) else postgresql.insert

    def check_header(self, task_id: str, sha256: str, size: int, content_type: str) -> None:
        check_task_id(task_id)
        if len(content_type) > 256:
            raise InvalidArgument("blob content_type is longer than 256 characters")
        if not _SHA256.fullmatch(sha256):
            raise InvalidArgument(f"blob id {sha256[:80]!r} is not a lower-case hex sha256")
        if size < 0:
            raise InvalidArgument(f"blob size {size} is negative")
        if size > self.max_bytes:
            raise InvalidArgument(f"blob is {size} bytes; the limit is {self.max_bytes} bytes")

    async def receive(self, sha256: str, size: int, chunks: AsyncIterator[bytes]) -> IO[bytes]:
        """Spools the incoming bytes, checking size and hash; returns the rewound spool."""
        # Handed to the caller open, who closes it after storing: no ``with`` here.
        spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        digest, total = hashlib.sha256(), 0
        try:
            async for chunk in chunks:
                total += len(chunk)
                if total > self.max_bytes:
                    raise InvalidArgument(
                        f"blob exceeds the limit of {self.max_bytes} bytes; nothing was stored"
                    )
                if total > size:
                    raise InvalidArgument(
                        f"blob sent more than its declared size {size}; nothing was stored"
                    )
                digest.update(chunk)
                spool.write(chunk)
            if total != size:
                raise InvalidArgument(
                    f"blob sent {total} bytes, not its declared size {size}; nothing was stored"
                )
            if digest.hexdigest() != sha256:
                raise InvalidArgument(
                    f"blob bytes hash to {digest.hexdigest()}, not the declared {sha256}; nothing was stored"
                )
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def commit(
        self, task_id: str, sha256: str, size: int, content_type: str, content: IO[bytes]
    ) -> BlobInfo:
        """Stores verified bytes (once) and links the blob to the task."""
        with self._engine.connect() as conn:
            exists = conn.execute(
                select(schema.blobs.c.sha256).where(schema.blobs.c.sha256 == sha256)
            ).first()
            task = conn.execute(
                select(schema.tasks.c.task_id).where(schema.tasks.c.task_id == task_id)
            ).first()
        if task is None:
            raise NotFound(
                f"task {task_id!r} does not exist in the trace store (PutSummary creates it)"
            )
        created = exists is None or not self._backend.exists(sha256)
        if created:
            self._backend.store(sha256, content)
        with self._engine.begin() as conn:
            conn.execute(
                self._insert(schema.blobs)
                .values(
                    sha256=sha256,
                    size=size,
                    content_type=content_type,
                    created_ns=self._clock.now_ns(),
                )
                .on_conflict_do_nothing()
            )
            conn.execute(
                self._insert(schema.task_blobs)
                .values(task_id=task_id, sha256=sha256)
                .on_conflict_do_nothing()
            )
        return BlobInfo(sha256, size, content_type, created)

    def info(self, task_id: str, sha256: str) -> BlobInfo:
        b, tb = schema.blobs, schema.task_blobs
        with self._engine.connect() as conn:
            row = conn.execute(
                select(b.c.size, b.c.content_type)
                .join(tb, tb.c.sha256 == b.c.sha256)
                .where(tb.c.task_id == task_id, b.c.sha256 == sha256)
            ).first()
        if row is None:
            raise NotFound(f"blob {sha256[:80]!r} is not a blob of task {task_id!r}")
        return BlobInfo(sha256, int(row[0]), str(row[1]))

    def chunks(self, sha256: str) -> Iterator[bytes]:
        return self._backend.chunks(sha256)
