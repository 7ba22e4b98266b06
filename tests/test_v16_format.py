"""The .v16 file (v16-spec.md section 4): "V16\\0", load, absolute entry, image; every
loader check is a one-line V16FormatError."""

from __future__ import annotations

import pytest

from formats.v16 import V16FormatError, V16Image, build_v16, looks_like_v16, read_v16


def test_read_the_spec_header():
    image = read_v16(bytes.fromhex("56 31 36 00 00 01 02 01 01 01 02"))
    assert (image.load, image.entry, image.code) == (0x0100, 0x0102, b"\x01\x01\x02")
    assert image.end == 0x0103


def test_write_little_endian():
    assert build_v16(0x1234, 0x1235, b"\x01\x02") == bytes.fromhex("56 31 36 00 34 12 35 12 01 02")


def test_looks_like_v16():
    assert looks_like_v16(b"V16\x00")
    assert not looks_like_v16(b"V16") and not looks_like_v16(b"V16\x01") and \
        not looks_like_v16(b"B32\x00")


@pytest.mark.parametrize("data,message", [
    (b"", "truncated header"),
    (b"V16\x00\x00\x00\x00", "truncated header"),
    (b"V16\x00\x00\x00\x00\x00", "image is empty"),          # 8 bytes: no image
    (b"V17\x00\x00\x00\x00\x00\x02", "bad magic 'V17\\\\x00'"),
    (b"v16\x00\x00\x00\x00\x00\x02", "bad magic"),
    (b"V16 \x00\x00\x00\x00\x02", "bad magic"),
    (b"\x7fELF\x01\x01\x01\x00\x00", "not a V16 program"),
    (b"B32\x00\x10\x00\x10\x04", "bad magic"),
])
def test_bad_files(data, message):
    with pytest.raises(V16FormatError, match=message):
        read_v16(data)


def test_image_must_lie_in_the_code_area():
    assert read_v16(b"V16\x00\xff\x7f\xff\x7f\x02").end == 0x8000      # fits exactly
    with pytest.raises(V16FormatError, match="does not fit in the code area"):
        read_v16(b"V16\x00\xff\x7f\xff\x7f\x02\x02")
    with pytest.raises(V16FormatError, match="does not fit"):
        read_v16(b"V16\x00\x00\x80\x00\x80\x02")


@pytest.mark.parametrize("entry", [0x00FF, 0x0103, 0xFFFF])
def test_entry_must_lie_in_the_image(entry):
    with pytest.raises(V16FormatError, match="outside the image"):
        read_v16(b"V16\x00\x00\x01" + entry.to_bytes(2, "little") + b"\x01\x01\x02")


def test_messages_are_one_line():
    for data in (b"", b"xx", b"V16\x00\x00\x80\x00\x80\x02", b"V16\x00\x00\x00\x05\x00\x02"):
        with pytest.raises(V16FormatError) as e:
            read_v16(data)
        assert "\n" not in str(e.value)


def test_image_round_trip():
    data = bytes.fromhex("56 31 36 00 00 20 05 20") + bytes(range(1, 36))
    assert read_v16(data).to_bytes() == data
    assert V16Image(0, 0, b"\x02").to_bytes() == bytes.fromhex("56 31 36 00 00 00 00 00 02")
