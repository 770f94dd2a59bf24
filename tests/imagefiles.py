"""Image and zip files built at test time (tiny PNGs, PNGs whose header claims a huge size, zips)."""
from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image


def png_bytes(size=(8, 6), mode="L", color=128) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid 1x1 PNG whose header is patched to claim ``width`` x ``height`` pixels."""
    data = bytearray(png_bytes((1, 1)))
    ihdr = 8  # after the signature: length (4) + b"IHDR" (4) + 13 bytes of data + CRC (4)
    assert data[ihdr + 4:ihdr + 8] == b"IHDR"
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4:ihdr + 21]))
    data[ihdr + 21:ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


def write_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path
