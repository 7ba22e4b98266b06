"""The initial process stack of the i386 System V ABI: argc, argv, envp, auxv and the
strings they point to, laid out below the top of the stack as the kernel does."""

from __future__ import annotations

import os
import struct

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_SYSINFO = 23, 25, 26, 31, 32
AT_SYSINFO_EHDR, AT_MINSIGSTKSZ = 33, 51


def build_stack(top: int, argv: list, envp: list, aux: list, execfn: bytes,
                platform: bytes = b"i686", random16: bytes | None = None) -> tuple:
    """Return (esp, image) where image is the bytes from esp up to ``top``.

    ``aux`` lists (type, value) pairs; AT_RANDOM, AT_PLATFORM, AT_EXECFN and AT_NULL are
    added here because they point into the string area, where the kernel's
    create_elf_tables puts them: AT_RANDOM after AT_SECURE, the other two last.
    """
    random16 = random16 if random16 is not None else os.urandom(16)
    # string area, filled downwards from the top like the kernel (execfn highest)
    strings = bytearray()
    offsets = {}

    def put(key, data: bytes) -> None:
        offsets[key] = len(strings)
        strings.extend(data)

    put("execfn", execfn + b"\0")
    for i, s in enumerate(envp):
        put(("env", i), s + b"\0")
    for i, s in enumerate(argv):
        put(("arg", i), s + b"\0")
    put("platform", platform + b"\0")
    put("random", random16)
    str_base = (top - len(strings)) & ~15

    def addr(key) -> int:
        return str_base + offsets[key]

    aux = list(aux)
    at = next((i + 1 for i, (t, _v) in enumerate(aux) if t == AT_SECURE), len(aux))
    aux.insert(at, (AT_RANDOM, addr("random")))
    aux += [(AT_EXECFN, addr("execfn")), (AT_PLATFORM, addr("platform")), (AT_NULL, 0)]
    words = [len(argv)]
    words += [addr(("arg", i)) for i in range(len(argv))] + [0]
    words += [addr(("env", i)) for i in range(len(envp))] + [0]
    for t, v in aux:
        words += [t, v & 0xFFFFFFFF]
    table = struct.pack(f"<{len(words)}I", *words)
    esp = (str_base - len(table)) & ~15
    image = bytearray(top - esp)
    image[0:len(table)] = table
    image[str_base - esp:str_base - esp + len(strings)] = strings
    return esp, bytes(image)
