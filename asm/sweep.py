"""Linear-sweep decoding for the small table-driven ISAs (B32, V16)."""

from __future__ import annotations

from typing import Callable, Iterable, Optional, TypeVar

D = TypeVar("D")


def linear_sweep(code: bytes, load: int,
                 decode: Callable[[bytes, int, int], Optional[D]],
                 sync: Iterable[int] = ()) -> list:
    """Decode ``code`` (loaded at ``load``) from its start to its end.

    ``decode(code, offset, address)`` returns an instruction with a ``length`` or None;
    where it returns None the byte becomes an ``(address, byte)`` item and the sweep moves
    on by one. An instruction that would cover an address of ``sync`` (the entry point,
    say) after its first byte is not taken either, so that such an address always starts
    an item.
    """
    sync_offsets = {a - load for a in sync}
    items: list = []
    offset = 0
    while offset < len(code):
        address = load + offset
        found = decode(code, offset, address)
        if found is not None and any(offset < s < offset + found.length
                                     for s in sync_offsets):
            found = None
        if found is None:
            items.append((address, code[offset]))
            offset += 1
        else:
            items.append(found)
            offset += found.length
    return items
