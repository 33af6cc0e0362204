"""A zip archive written front to back for streaming: no seeking, so each entry's CRC and sizes
follow its data in a data descriptor, and ZIP64 records appear when the archive outgrows the
classic format (entries or offsets past 4 GiB, more than 65,535 entries).

It only turns bytes into zip bytes: every call returns what to send next, and nothing but the
central directory's records (about 100 bytes an entry) is kept.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from dataclasses import dataclass

ZIP64_LIMIT = 0xFFFFFFFF  # sizes and offsets from here on need ZIP64 fields
ZIP64_ENTRIES = 0xFFFF  # more entries than this need the ZIP64 end record
_STORED, _DEFLATED = 0, 8
_DESCRIPTOR, _UTF8 = 0x08, 0x800  # general purpose flags: sizes follow the data; UTF-8 name
_V20, _V45 = 20, 45  # version needed: deflate; ZIP64
_UNIX = 3 << 8  # "version made by": Unix, so the external attributes are a mode
_FILE_MODE = 0o100644 << 16
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_DESCRIPTOR32, _DESCRIPTOR64 = struct.Struct("<IIII"), struct.Struct("<IIQQ")
_EXTRA64_LOCAL = struct.pack("<HHQQ", 1, 16, 0, 0)  # real sizes are in the data descriptor
_FORBIDDEN = frozenset('\\:*?"<>|')  # separators and wildcards somewhere (Windows, shells)
_RESERVED = re.compile(r"(?i)(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\..*)?")


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """A written entry, as the central directory records it."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    offset: int
    zip64_local: bool  # its local header has a ZIP64 field, its descriptor 8-byte sizes


def safe_entry_name(name: str, max_bytes: int = 200) -> bool:
    """Whether `name` extracts where it says on any system: a relative path of plain
    components (no ``..``, no absolute path, no backslash or drive colon, no control or bidi
    characters, no trailing dot or space, no Windows device name), at most `max_bytes` long."""
    return (
        name.isprintable()  # no control, format or unassigned characters, no surrogates
        and 0 < len(name.encode("utf-8")) <= max_bytes
        and all(
            p not in ("", ".", "..")
            and p[-1] not in " ."
            and not _FORBIDDEN.intersection(p)
            and not _RESERVED.fullmatch(p)
            for p in name.split("/")
        )
    )


def dos_datetime(unix_ns: int) -> tuple[int, int]:
    """(time, date) in MS-DOS format, UTC; clamped to 1980, the format's first year."""
    t = time.gmtime(max(unix_ns // 1_000_000_000, 315_532_800))
    return (
        (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday,
    )


class ZipWriter:
    """Writes entries one at a time: `start`, `write` as often as needed, `end`; then `finish`.

    `zip64_limit` and `zip64_entries` exist so tests can reach the ZIP64 records without
    writing 4 GiB: values at or above the limit (entry counts above `zip64_entries`) go into
    ZIP64 fields."""

    def __init__(
        self,
        *,
        mtime_ns: int,
        zip64_limit: int = ZIP64_LIMIT,
        zip64_entries: int = ZIP64_ENTRIES,
    ) -> None:
        self._time, self._date = dos_datetime(mtime_ns)
        self._limit = min(zip64_limit, ZIP64_LIMIT)
        self._max_entries = min(zip64_entries, ZIP64_ENTRIES)
        self._entries: list[ZipEntry] = []
        self._names: set[str] = set()
        self._position = 0
        self._open: _Open | None = None
        self._finished = False

    @property
    def position(self) -> int:
        """Bytes of archive produced so far."""
        return self._position

    @property
    def entries(self) -> list[ZipEntry]:
        return self._entries

    def start(self, name: str, *, level: int, max_size: int | None = None) -> bytes:
        """The local header of a new entry. `level`: 0 stores the data, 1-9 deflates it.
        `max_size`: an upper bound of its uncompressed size, None if unknown; unless it is
        known to stay under 4 GiB the entry gets ZIP64 sizes."""
        if self._open is not None or self._finished:
            raise RuntimeError(f"cannot start {name!r}: end the open entry first, or not finished")
        if not name or name.startswith("/") or name in self._names:
            raise ValueError(f"zip entry name {name!r} is empty, absolute or already used")
        self._names.add(name)
        encoded = name.encode("utf-8")
        flags = _DESCRIPTOR | (0 if name.isascii() else _UTF8)
        # Deflate can grow incompressible data by a few bytes per 16 KiB block.
        zip64 = max_size is None or max_size + max_size // 1000 + 64 >= self._limit
        method = _DEFLATED if level else _STORED
        header = _LOCAL.pack(
            0x04034B50,
            _V45 if zip64 else _V20,
            flags,
            method,
            self._time,
            self._date,
            0,
            ZIP64_LIMIT if zip64 else 0,
            ZIP64_LIMIT if zip64 else 0,
            len(encoded),
            len(_EXTRA64_LOCAL) if zip64 else 0,
        )
        out = header + encoded + (_EXTRA64_LOCAL if zip64 else b"")
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15) if level else None
        self._open = _Open(name, flags, method, self._position, zip64, compressor)
        self._position += len(out)
        return out

    def write(self, data: bytes) -> bytes:
        """The open entry's next bytes, compressed when it deflates (may be empty)."""
        entry = self._open
        if entry is None:
            raise RuntimeError("no open entry: call start() first")
        entry.crc = zlib.crc32(data, entry.crc)
        entry.size += len(data)
        out = data if entry.compressor is None else entry.compressor.compress(data)
        entry.compressed_size += len(out)
        self._position += len(out)
        return out

    def end(self) -> bytes:
        """The rest of the open entry's data and its data descriptor."""
        entry = self._open
        if entry is None:
            raise RuntimeError("no open entry: call start() first")
        tail = b"" if entry.compressor is None else entry.compressor.flush()
        entry.compressed_size += len(tail)
        big = max(entry.size, entry.compressed_size) >= ZIP64_LIMIT
        if big and not entry.zip64_local:
            raise ValueError(
                f"zip entry {entry.name!r} grew to {entry.size} bytes, past the 4 GiB its "
                "header allowed; pass a max_size (or None) that covers it to start()"
            )
        if entry.zip64_local:
            descriptor = _DESCRIPTOR64.pack(
                0x08074B50, entry.crc, entry.compressed_size, entry.size
            )
        else:
            descriptor = _DESCRIPTOR32.pack(
                0x08074B50, entry.crc, entry.compressed_size, entry.size
            )
        self._entries.append(
            ZipEntry(
                entry.name,
                entry.flags,
                entry.method,
                entry.crc,
                entry.compressed_size,
                entry.size,
                entry.offset,
                entry.zip64_local,
            )
        )
        self._open = None
        out = tail + descriptor
        self._position += len(out)
        return out

    def finish(self) -> bytes:
        """The central directory and the end records; the archive is complete after them."""
        if self._open is not None or self._finished:
            raise RuntimeError("cannot finish: an entry is open or the archive is finished")
        self._finished = True
        start = self._position
        records = [self._central(e) for e in self._entries]
        size = sum(len(r) for r in records)
        count = len(self._entries)
        if count > self._max_entries or start >= self._limit or size >= self._limit:
            end64 = _END64.pack(
                0x06064B50, _END64.size - 12, _UNIX | _V45, _V45, 0, 0, count, count, size, start
            )
            records += (end64, _LOCATOR64.pack(0x07064B50, 0, start + size, 1))
            end = _END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, ZIP64_LIMIT, ZIP64_LIMIT, 0)
        else:
            end = _END.pack(0x06054B50, 0, 0, count, count, size, start, 0)
        records.append(end)
        out = b"".join(records)
        self._position += len(out)
        return out

    def _central(self, e: ZipEntry) -> bytes:
        # Each of these that overflows is 0xFFFFFFFF in the record and its value in the
        # ZIP64 field, in this order.
        values = [e.size, e.compressed_size, e.offset]
        wide = [v >= self._limit for v in values]
        extra = b""
        if any(wide):
            big = [v for v, w in zip(values, wide, strict=True) if w]
            extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big)
        size, compressed, offset = (
            ZIP64_LIMIT if w else v for v, w in zip(values, wide, strict=True)
        )
        version = _V45 if extra or e.zip64_local else _V20
        name = e.name.encode("utf-8")
        header = _CENTRAL.pack(
            0x02014B50,
            _UNIX | version,
            version,
            e.flags,
            e.method,
            self._time,
            self._date,
            e.crc,
            compressed,
            size,
            len(name),
            len(extra),
            0,
            0,
            0,
            _FILE_MODE,
            offset,
        )
        return header + name + extra


class _Open:
    """The entry being written."""

    __slots__ = (
        "compressed_size",
        "compressor",
        "crc",
        "flags",
        "method",
        "name",
        "offset",
        "size",
        "zip64_local",
    )

    def __init__(
        self,
        name: str,
        flags: int,
        method: int,
        offset: int,
        zip64_local: bool,
        compressor: zlib._Compress | None,
    ) -> None:
        self.name, self.flags, self.method, self.offset = name, flags, method, offset
        self.zip64_local, self.compressor = zip64_local, compressor
        self.crc = self.size = self.compressed_size = 0
