"""Draw the Teams app icons with the standard library only: ``python teams/make_icons.py``.

``color.png`` (192x192): the accent colour with a white ring and a dot, the
CentralOps mark. ``outline.png`` (32x32): the same mark in white on a
transparent background, as Teams requires.
"""

import struct
import zlib
from pathlib import Path

ACCENT = (0x23, 0x5A, 0x9F)
WHITE = (0xFF, 0xFF, 0xFF)


def png(width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    """Encode RGBA rows as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"".join(struct.pack("4B", *p) for p in row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def mark(size: int, background: tuple[int, int, int, int]) -> list[list[tuple[int, int, int, int]]]:
    """A ring open on the right (a C) around a dot, white on ``background``."""
    c = (size - 1) / 2
    outer, inner, dot = size * 0.36, size * 0.25, size * 0.09
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            dx, dy = x - c, y - c
            r = (dx * dx + dy * dy) ** 0.5
            opening = dx > 0 and abs(dy) < size * 0.12
            ring = inner <= r <= outer and not opening
            row.append((*WHITE, 255) if ring or r <= dot else background)
        rows.append(row)
    return rows


def main() -> None:
    """Write ``color.png`` and ``outline.png`` next to this file."""
    here = Path(__file__).parent
    (here / "color.png").write_bytes(png(192, 192, mark(192, (*ACCENT, 255))))
    (here / "outline.png").write_bytes(png(32, 32, mark(32, (0, 0, 0, 0))))


if __name__ == "__main__":
    main()
