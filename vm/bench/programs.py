"""Machine code of the benchmark programs, assembled by NASM from the ``*.s`` sources
next to this file (tests/test_x86_cpu_bench.py checks that they still match)."""

CODE = {
    "alu": (
        "b9801a060031c0bb78563412ba01000000be0700000001d831c38d54420129d06bf60d81e3ffffff"
        "7f83ca03d1eb01ce39d07601404975de31f00fb6d8b801000000cd80"
    ),
    "sieve": (
        "bd1e000000bf00001000b900080000b801010101f3ab31dbbe0200000080be00001000007417438d"
        "143681fa00200000730bc682000010000001f2ebed4681fe0020000072d74d75bcb801000000cd80"
    ),
    "bytesum": (
        "bf00001000b90000010031c088070425474975f8bd0800000031d2be00001000b9000001000fb606"
        "01c2464975f74d75ea0fb6dab801000000cd80"
    ),
    "memcpy": (
        "bd28000000be00001000bf00002000ba00040000b940000000f3a40057ff4a75f34d75e10fb61d3f"
        "002000b801000000cd80"
    ),
    "calls": (
        "b818000000e80a0000000fb6d8b801000000cd8083f8027301c35389c38d43ffe8efffffff508d43"
        "fee8e6ffffff5a01d05bc3"
    ),
    "loop16": (
        "b800108ed88ec031ffb90020b80301f3abba180031db31f6b900408a0430e401c383d30046e2f44a"
        "75ecf4"
    ),
}
