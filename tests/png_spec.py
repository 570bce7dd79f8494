"""A minimal PNG reader and writer written from the PNG specification, for tests only.

They share no code with the libraries the codec reads and writes PNGs with (Pillow,
imagecodecs), so a test that goes through them checks what is in the files, not what a library
makes of them. Non-interlaced grey, grey + alpha, RGB and RGBA at 8 or 16 bits.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel
MODES = {0: "grey", 2: "rgb", 4: "grey+alpha", 6: "rgba"}


@dataclass
class PNG:
    mode: str  # grey, rgb, grey+alpha or rgba
    bit_depth: int
    pixels: np.ndarray  # (H, W, channels) uint8 or uint16


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> bytearray:
    out = bytearray(height * stride)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1: pos + 1 + stride])
        pos += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown PNG filter type {kind}")
        out[y * stride: (y + 1) * stride] = line
        prev = line
    return out


def read_png(data: bytes) -> PNG:
    """Decode PNG bytes; raises ValueError on anything this reader does not handle."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG file")
    pos, header, idat = 8, None, bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos: pos + 4])
        kind, body = data[pos + 4: pos + 8], data[pos + 8: pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length: pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if colour not in CHANNELS or depth not in (8, 16) or interlace:
        raise ValueError(f"unsupported PNG: colour type {colour}, depth {depth}, interlace {interlace}")
    channels, sample = CHANNELS[colour], depth // 8
    stride = width * channels * sample
    pixels = _unfilter(zlib.decompress(bytes(idat)), height, stride, channels * sample)
    array = np.frombuffer(bytes(pixels), dtype=">u2" if depth == 16 else np.uint8)
    array = array.astype(np.uint16 if depth == 16 else np.uint8).reshape(height, width, channels)
    return PNG(MODES[colour], depth, array)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png(pixels: np.ndarray, bit_depth: int) -> bytes:
    """PNG bytes of (H, W, C) integers (C = 1, 2, 3 or 4), every row unfiltered."""
    height, width, channels = pixels.shape
    colour = {v: k for k, v in CHANNELS.items()}[channels]
    samples = pixels.astype(">u2" if bit_depth == 16 else np.uint8).reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in samples)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
