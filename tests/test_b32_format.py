"""The .b32 header (spec section 2): magic "B32", little-endian load and entry addresses."""

from __future__ import annotations

import pytest

from formats import detect
from formats.b32 import B32FormatError, B32Image, read_b32


def test_read_the_spec_header():
    image = read_b32(bytes.fromhex("42 33 32 00 10 06 10 01 21 04"))
    assert image.load == 0x1000
    assert image.entry == 0x1006               # absolute, not an offset (section 9 #11)
    assert image.code == bytes.fromhex("01 21 04")
    assert image.end == 0x1003


def test_write_little_endian():
    assert B32Image(0x1234, 0xABCD, b"\x04").to_bytes() == bytes.fromhex("42 33 32 34 12 CD AB 04")


def test_round_trip():
    data = bytes.fromhex("42 33 32 00 20 05 20") + bytes(range(1, 36))
    assert read_b32(data).to_bytes() == data


@pytest.mark.parametrize("data", [b"B33\x00\x10\x00\x10\x04", b"b32\x00\x10\x00\x10",
                                  b"X32\x00\x10\x00\x10", b"\x7fELF\x01\x01\x01"])
def test_bad_magic(data):
    # The tutorial accepted a file unless all three bytes were wrong; we need exactly B32.
    with pytest.raises(B32FormatError, match="bad magic"):
        read_b32(data)


@pytest.mark.parametrize("data", [b"", b"B", b"B32", b"B32\x00\x10\x00"])
def test_truncated_header(data):
    with pytest.raises(B32FormatError, match="truncated header"):
        read_b32(data)


def test_header_only_is_an_empty_image():
    assert read_b32(b"B32\x00\x10\x00\x10").code == b""


def test_image_past_ffff():
    with pytest.raises(B32FormatError, match=r"past \$FFFF"):
        read_b32(b"B32\xff\xff\xff\xff\x04\x04")
    assert read_b32(b"B32\xfe\xff\xfe\xff\x04\x04").end == 0x10000     # fits exactly


def test_detect_by_magic():
    assert detect("prog.bin", b"B32\x00\x10\x00\x10\x04") == "b32"
