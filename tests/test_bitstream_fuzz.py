"""Invalid .c3 files: always a BitstreamError naming the problem, never a crash or a hang."""

import struct
import zlib

import numpy as np
import pytest

from c3codec.coding.bitstream import MAGIC, BitstreamError, read
from c3codec.decoder import decode


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_wrong_magic_and_version(small_encoding):
    data = small_encoding.data
    with pytest.raises(BitstreamError, match="magic"):
        decode(b"PNG!" + data[4:])
    with pytest.raises(BitstreamError, match="magic"):
        decode(b"")
    with pytest.raises(BitstreamError, match="version"):
        decode(_with_crc(MAGIC + bytes([9]) + data[5:-4]))


def test_absurd_dimensions_are_rejected_before_allocation(small_encoding):
    body = bytearray(small_encoding.data[:-4])
    # height and width are the varints after magic + version; claim 65536 x 65536
    huge = bytes([0x80, 0x80, 0x04])
    forged = bytes(body[:5]) + huge + huge + bytes(body[7:])
    with pytest.raises(BitstreamError, match="absurd|limit|exceeds"):
        read(_with_crc(forged))
    with pytest.raises(BitstreamError):
        read(_with_crc(bytes(body[:5]) + bytes([0]) + bytes(body[6:])))


def test_truncations(small_encoding):
    data = small_encoding.data
    for n in range(0, len(data), max(1, len(data) // 150)):
        with pytest.raises(BitstreamError):
            decode(data[:n])
    with pytest.raises(BitstreamError):
        decode(data + b"\x00")


def test_random_mutations_are_detected(small_encoding):
    rng = np.random.default_rng(0)
    data = small_encoding.data
    for _ in range(300):
        mutated = bytearray(data)
        for pos in rng.integers(0, len(data), rng.integers(1, 4)):
            mutated[pos] ^= int(rng.integers(1, 256))
        with pytest.raises(BitstreamError):
            decode(bytes(mutated))


def test_random_bytes(small_encoding):
    rng = np.random.default_rng(1)
    for size in (1, 3, 4, 5, 17, 100, 1000):
        for _ in range(20):
            blob = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            with pytest.raises(BitstreamError):
                decode(blob)
            with pytest.raises(BitstreamError):
                decode(MAGIC + bytes([1]) + blob)


def test_mutated_payload_with_valid_crc_never_crashes(small_encoding):
    """A forged file whose CRC matches: decoding gives an image or a BitstreamError."""
    f = read(small_encoding.data)
    rng = np.random.default_rng(2)
    body = small_encoding.data[:-4]
    for _ in range(60):
        mutated = bytearray(body)
        pos = int(rng.integers(f.header_bytes - 4, len(body)))
        mutated[pos] ^= int(rng.integers(1, 256))
        try:
            picture = decode(_with_crc(bytes(mutated)))
        except BitstreamError:
            continue
        assert picture.pixels.shape == small_encoding.reconstruction.pixels.shape


def test_mutated_header_with_valid_crc_never_crashes(small_encoding):
    rng = np.random.default_rng(3)
    body = small_encoding.data[:-4]
    f = read(small_encoding.data)
    for _ in range(150):
        mutated = bytearray(body)
        pos = int(rng.integers(9, f.header_bytes - 4))  # keep the image size: decode stays fast
        mutated[pos] = int(rng.integers(0, 256))
        try:
            decode(_with_crc(bytes(mutated)))
        except BitstreamError:
            pass
